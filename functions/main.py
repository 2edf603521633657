"""Cloud Functions (2nd gen) entry points: decode the Pub/Sub envelope into one message and put it on the
bus (service_layer/edge.py); permanent errors are acknowledged, transient ones re-raised for redelivery.

Every function loads this module, so it imports little: the control plane (edge) on a Pub/Sub
function's first event; the predict function's worker starts its clients, and the models named in
ZYGARDE_PREDICT_WARM, in the background as it starts (bootstrap.start_predict_warmup)."""
import os

import functions_framework

from zygarde import bootstrap
from zygarde.logs import configure_logging

configure_logging()
if os.environ.get("FUNCTION_TARGET") == "predict":  # set by Cloud Functions (and the local cloud)
    # functions-framework imports this module, binds the port, then forks the gunicorn worker that
    # serves: the warm-up runs in the worker (a thread, clients or locks of the parent are no use there).
    os.register_at_fork(after_in_child=bootstrap.start_predict_warmup)


def _edge():
    from zygarde.service_layer import edge

    return edge


@functions_framework.cloud_event
def submit_job(cloud_event):
    """zygarde-jobs: a job, a cancel or a grant, signed; zygarde-bucket-events (filtered to jobs/): a job file."""
    edge = _edge()
    if edge.passes_subscription_filter("submit_job", cloud_event.data):
        msg = edge.decode_pubsub(cloud_event.data, cloud_event["source"])  # the topic tells a job file from a job
        edge.acknowledge_permanent_errors(edge.submit_job)(msg, bootstrap.deps())


@functions_framework.cloud_event
def on_trial_result(cloud_event):
    """zygarde-bucket-events (filtered to results/): a result or an idle report was written."""
    edge = _edge()
    if edge.passes_subscription_filter("on_trial_result", cloud_event.data):
        msg = edge.decode_pubsub(cloud_event.data, cloud_event["source"])
        edge.acknowledge_permanent_errors(edge.on_trial_result)(msg, bootstrap.deps())


@functions_framework.cloud_event
def on_reconcile_tick(cloud_event):
    """zygarde-reconcile: the scheduler's tick, or a job that has ended."""
    edge = _edge()
    msg = edge.decode_pubsub(cloud_event.data, cloud_event["source"])
    edge.acknowledge_permanent_errors(edge.on_reconcile_tick)(msg, bootstrap.deps())


@functions_framework.http
def predict(request):
    """HTTP: POST /v1/models/{name}/versions/{version|alias}:predict with {"instances": [...]}, from a caller
    proven by `Authorization: Bearer IDENTITY_TOKEN` (401 without)."""
    import json

    from zygarde.service_layer.online_edge import serve

    repo, cache, settings, verifier = bootstrap.serving()
    status, body = serve(request.method, request.path, request.get_data(cache=False), request.headers,
                         request.host_url, repo, cache, settings, verifier)
    return json.dumps(body), status, {"Content-Type": "application/json"}
