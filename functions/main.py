"""Cloud Functions (2nd gen) entry points: decode the Pub/Sub envelope into one message and put it on the
bus (service_layer/edge.py); permanent errors are acknowledged, transient ones re-raised for redelivery."""
import functions_framework

from zygarde import bootstrap
from zygarde.logs import configure_logging
from zygarde.service_layer import edge

configure_logging()


@functions_framework.cloud_event
def submit_job(cloud_event):
    """zygarde-jobs: a job spec or a cancel; zygarde-bucket-events (filtered to jobs/): a job file was written."""
    if edge.passes_subscription_filter("submit_job", cloud_event.data):
        edge.acknowledge_permanent_errors(edge.submit_job)(edge.decode_pubsub(cloud_event.data), bootstrap.deps())


@functions_framework.cloud_event
def on_trial_result(cloud_event):
    """zygarde-bucket-events (filtered to results/): a result or an idle report was written."""
    if edge.passes_subscription_filter("on_trial_result", cloud_event.data):
        edge.acknowledge_permanent_errors(edge.on_trial_result)(edge.decode_pubsub(cloud_event.data), bootstrap.deps())


@functions_framework.cloud_event
def on_reconcile_tick(cloud_event):
    """zygarde-reconcile: the scheduler's tick, or a job that has ended."""
    edge.acknowledge_permanent_errors(edge.on_reconcile_tick)(edge.decode_pubsub(cloud_event.data), bootstrap.deps())


@functions_framework.http
def predict(request):
    """HTTP: POST /v1/models/{name}/versions/{version|alias}:predict with {"instances": [...]}."""
    import json

    from zygarde.service_layer.online_edge import handle

    repo, cache = bootstrap.serving()
    status, body = handle(request.method, request.path, request.get_data(cache=False), repo, cache)
    return json.dumps(body), status, {"Content-Type": "application/json"}
