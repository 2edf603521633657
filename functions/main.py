"""Cloud Functions (2nd gen) entry points: decode the Pub/Sub envelope, call one handler."""
import functions_framework

from zygarde import bootstrap
from zygarde.logs import configure_logging
from zygarde.service_layer import handlers
from zygarde.service_layer.edge import acknowledge_permanent_errors, decode_pubsub, passes_subscription_filter

configure_logging()


def submit_job_message(msg):
    return handlers.submit_job(msg, bootstrap.deps())


def trial_result_message(msg):
    return handlers.on_trial_result(msg, bootstrap.deps())


def cluster_idle_message(msg):
    return handlers.on_cluster_idle(bootstrap.deps())


@functions_framework.cloud_event
def submit_job(cloud_event):
    """zygarde-jobs: a job spec; zygarde-bucket-events (filtered to jobs/): a job file was written."""
    if passes_subscription_filter("submit_job", cloud_event.data):
        acknowledge_permanent_errors(submit_job_message)(decode_pubsub(cloud_event.data))


@functions_framework.cloud_event
def on_trial_result(cloud_event):
    """zygarde-bucket-events (filtered to results/): a result object was written."""
    if passes_subscription_filter("on_trial_result", cloud_event.data):
        acknowledge_permanent_errors(trial_result_message)(decode_pubsub(cloud_event.data))


@functions_framework.cloud_event
def on_cluster_idle(cloud_event):
    """zygarde-cluster-idle: the reconciler's tick."""
    acknowledge_permanent_errors(cluster_idle_message)(decode_pubsub(cloud_event.data))


@functions_framework.http
def predict(request):
    """HTTP: POST /v1/models/{name}/versions/{version|alias}:predict with {"instances": [...]}."""
    import json

    from zygarde.service_layer.online_edge import handle

    repo, cache = bootstrap.serving()
    # caller=None: a trusted call. Only identities in predict_invokers may invoke this function (IAM);
    # the caller's verified identity token, once read here, is what `caller` takes (model_access).
    status, body = handle(request.method, request.path, request.get_data(cache=False), repo, cache, caller=None)
    return json.dumps(body), status, {"Content-Type": "application/json"}

