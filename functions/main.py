"""Cloud Functions (2nd gen) entry points: decode the Pub/Sub envelope, call one handler."""
import functions_framework

from zygarde import bootstrap
from zygarde.logs import configure_logging
from zygarde.service_layer import handlers
from zygarde.service_layer.edge import acknowledge_permanent_errors, decode_pubsub

configure_logging()


@functions_framework.cloud_event
def submit_job(cloud_event):
    """zygarde-jobs: a job spec, or a job file's OBJECT_FINALIZE notification."""
    acknowledge_permanent_errors(lambda m: handlers.submit_job(m, bootstrap.deps()))(decode_pubsub(cloud_event.data))


@functions_framework.cloud_event
def on_trial_result(cloud_event):
    """zygarde-trial-results: a result object was written under results/."""
    acknowledge_permanent_errors(lambda m: handlers.on_trial_result(m, bootstrap.deps()))(decode_pubsub(cloud_event.data))


@functions_framework.cloud_event
def on_cluster_idle(cloud_event):
    """zygarde-cluster-idle: the reconciler's tick."""
    acknowledge_permanent_errors(lambda m: handlers.on_cluster_idle(bootstrap.deps()))(decode_pubsub(cloud_event.data))


@functions_framework.http
def predict(request):
    """HTTP: POST /v1/models/{name}/versions/{version|alias}:predict with {"instances": [...]}."""
    import json

    from zygarde.service_layer.online_edge import handle

    repo, cache = bootstrap.serving()
    status, body = handle(request.method, request.path, request.get_data(cache=False), repo, cache)
    return json.dumps(body), status, {"Content-Type": "application/json"}

