"""The web app's client of the predict service over real HTTP (a local server running the service's
edge on in-memory ports), an identity token for a Cloud Run URL, and what the form sends."""
from __future__ import annotations

import json
import socket
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.unit.online_fixtures import register
from zygarde.adapters.memory import MemoryBlobStore, MemoryJobRepository
from zygarde.service_layer import online
from zygarde.service_layer.online_edge import MAX_BODY_BYTES, handle
from zygarde.web import predicting
from zygarde.web.predicting import PredictClient


@pytest.fixture(scope="module")
def url():
    """The predict function's edge behind a WSGI server, as functions-framework serves it locally."""
    repo, blobs = MemoryJobRepository(), MemoryBlobStore()
    register(repo, blobs, "churn", "job-1")
    cache = online.ModelCache(blobs)

    @Request.application
    def app(request: Request) -> Response:
        if "forbidden" in request.path:  # what Cloud Run answers a caller that is not an invoker
            return Response("<html>403 Forbidden</html>", status=403, mimetype="text/html")
        status, body = handle(request.method, request.path, request.get_data(), repo, cache, caller=None)
        return Response(json.dumps(body), status=status, mimetype="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join(timeout=10)


def test_answers_and_errors_come_back_as_the_service_sends_them(url):
    client = PredictClient(url)
    status, body = client("churn", "1", b'{"instances": [{"age": 50, "color": "blue"}]}')
    assert status == 200 and body["modelVersionId"] == "1" and body["predictions"][0]["label"] == "yes"
    status, body = client("churn", "1", b'{"instances": [{"age": "x", "color": "blue"}]}')
    assert status == 400 and body["error"]["field"] == "instances[0].age"
    status, body = client("churn", "staging", b'{"instances": []}')
    assert (status, body["error"]["field"]) == (400, "alias")


def test_an_unreachable_service_or_one_answering_html_is_a_plain_error(url):
    status, body = PredictClient(url)("forbidden", "1", b"{}")
    assert status == 502 and body["error"]["message"] == "The predict service answered HTTP 403."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    status, body = PredictClient(f"http://127.0.0.1:{closed}", timeout=5)("churn", "1", b"{}")
    assert status == 503 and "could not be reached" in body["error"]["message"]


def test_a_cloud_run_url_gets_an_identity_token_for_its_audience_once(monkeypatch):
    import requests
    from google.oauth2 import id_token

    audiences, sent = [], []
    monkeypatch.setattr(id_token, "fetch_id_token", lambda request, audience: audiences.append(audience) or "tok")

    class Answer:
        status_code = 200

        def json(self):
            return {"predictions": [], "modelVersionId": "1"}

    monkeypatch.setattr(requests, "post", lambda url, **kw: sent.append((url, kw["headers"])) or Answer())
    client = PredictClient("https://zygarde-predict-abc.a.run.app")
    client("churn", "production", b"{}")
    client("churn", "1", b"{}")
    assert audiences == ["https://zygarde-predict-abc.a.run.app"]
    assert sent[0] == ("https://zygarde-predict-abc.a.run.app/v1/models/churn/versions/production:predict",
                       {"Content-Type": "application/json", "Authorization": "Bearer tok"})


def test_request_body_wraps_a_bare_list_and_refuses_what_the_service_would():
    assert json.loads(predicting.request_body('[{"age": 1}]')) == {"instances": [{"age": 1}]}
    assert predicting.request_body('{"instances": [], "x": 1}') == b'{"instances": [], "x": 1}'
    assert predicting.request_body("{not json") == b"{not json"  # the service says what is wrong
    status, body = predicting.request_body(" " * (MAX_BODY_BYTES + 1))
    assert (status, body["error"]["field"]) == (400, "body")


def test_result_table_names_probability_columns_by_class_or_index():
    table = predicting.result_table({"modelVersionId": "2", "classes": ["no", "yes"], "predictions": [
        {"prediction": 1.0, "label": "yes", "probabilities": [0.2, 0.8]}]})
    assert table["classes"] == ["no", "yes"] and table["labelled"] and table["version"] == "2"
    regression = predicting.result_table({"modelVersionId": "1", "predictions": [{"prediction": 3.5}]})
    assert regression["classes"] == [] and not regression["labelled"]
    assert regression["rows"] == [{"n": 0, "prediction": 3.5, "label": None, "probabilities": None}]
    unnamed = predicting.result_table({"predictions": [{"prediction": 0.0, "probabilities": [0.9, 0.1]}]})
    assert unnamed["classes"] == ["0", "1"]
