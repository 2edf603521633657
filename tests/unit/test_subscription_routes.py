"""Bucket events reach functions through subscriptions filtered on the object name."""
from zygarde.config import object_filter, resources, subscription_routes
from zygarde.service_layer.edge import passes_subscription_filter


def envelope(subscription: str, object_id: str | None) -> dict:
    attributes = {"objectId": object_id, "bucketId": "b"} if object_id else {}
    return {"subscription": f"projects/p/subscriptions/{subscription}",
            "message": {"data": "", "attributes": attributes, "messageId": "1"}}


def test_routes_cover_results_and_job_files_on_the_one_notification_topic():
    [note] = resources()["bucket_notifications"]
    routes = {(r["function"], r["object_prefix"]): r for r in subscription_routes()}
    assert routes[("on_trial_result", "results/")]["topic"] == note["topic"]
    assert routes[("submit_job", "jobs/")]["topic"] == note["topic"]
    assert routes[("submit_job", None)]["topic"] == "jobs" and routes[("submit_job", None)]["filter"] is None
    assert routes[("on_trial_result", "results/")]["filter"] == object_filter("results") == \
        'hasPrefix(attributes.objectId, "results/")'
    assert len({r["name"] for r in subscription_routes()}) == len(subscription_routes())


def test_functions_drop_what_the_filters_would_have_dropped():
    assert passes_subscription_filter("on_trial_result", envelope("s", "results/j/t/attempt-1.json"))
    assert not passes_subscription_filter("on_trial_result", envelope("s", "jobs/x.json"))
    assert not passes_subscription_filter("on_trial_result", envelope("s", "datasets/a/x.csv"))
    assert passes_subscription_filter("submit_job", envelope("s", "jobs/x.json"))
    assert not passes_subscription_filter("submit_job", envelope("s", "results/j/t/attempt-1.json"))
    assert passes_subscription_filter("submit_job", envelope("s", None))  # a published job: no object
    assert passes_subscription_filter("on_reconcile_tick", envelope("s", None))
    assert passes_subscription_filter("submit_job", None)
