"""The web app's client of the predict service over real HTTP (a local server running the service's
edge on in-memory ports, verifying its callers' tokens), an identity token for a Cloud Run URL, and what
the form sends."""
from __future__ import annotations

import dataclasses
import json
import socket
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.unit.identities import DELEGATE, SETTINGS, fresh_token, verifier
from tests.unit.online_fixtures import register
from zygarde.adapters.memory import MemoryBlobStore, MemoryJobRepository
from zygarde.service_layer import online
from zygarde.service_layer.online_edge import MAX_BODY_BYTES, serve
from zygarde.web import predicting
from zygarde.web.predicting import PredictClient


ADMIN = "root@example.com"  # settings.admins holds canonical identities (config.canonical_identities)


def app_token() -> str:
    return fresh_token(DELEGATE)


@pytest.fixture(scope="module")
def url():
    """The predict function's edge behind a WSGI server, as functions-framework serves it locally."""
    repo, blobs = MemoryJobRepository(), MemoryBlobStore()
    register(repo, blobs, "churn", "job-1", owner="ana@example.com")
    repo.set_model_grant("churn", "bob@example.com", "reader", "ana@example.com")
    cache = online.ModelCache(blobs)
    settings = dataclasses.replace(SETTINGS, admins=frozenset({ADMIN}))

    @Request.application
    def app(request: Request) -> Response:
        if "forbidden" in request.path:  # what Cloud Run answers a caller that is not an invoker
            return Response("<html>403 Forbidden</html>", status=403, mimetype="text/html")
        status, body = serve(request.method, request.path, request.get_data(), request.headers, request.host_url,
                             repo, cache, settings, verifier())
        return Response(json.dumps(body), status=status, mimetype="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join(timeout=10)


def test_answers_and_errors_come_back_as_the_service_sends_them(url):
    client = PredictClient(url, tokens=app_token)
    ana = "ana@example.com"
    status, body = client("churn", "1", b'{"instances": [{"age": 50, "color": "blue"}]}', on_behalf_of=ana)
    assert status == 200 and body["modelVersionId"] == "1" and body["predictions"][0]["label"] == "yes"
    status, body = client("churn", "1", b'{"instances": [{"age": "x", "color": "blue"}]}', on_behalf_of=ana)
    assert status == 400 and body["error"]["field"] == "instances[0].age"
    status, body = client("churn", "staging", b'{"instances": []}', on_behalf_of=ana)
    assert (status, body["error"]["field"]) == (400, "alias")


def test_the_verified_caller_decides_which_models_answer(url):
    """Issue 22: being allowed to invoke the service is not enough. The user the token proves (or the one
    a trusted delegate names) must be the model's owner, a grantee or an administrator; anyone else, the
    delegate itself included, gets the 404 of a model that does not exist."""
    client, rows = PredictClient(url, tokens=app_token), b'{"instances": [{"age": 50, "color": "blue"}]}'
    for user in ("ana@example.com", "bob@example.com", "root@example.com", "ROOT@example.com"):
        assert client("churn", "1", rows, on_behalf_of=user)[0] == 200, user
    for user in ("carol@example.com", "ana+x@example.com", "ana-x@example.com", None):
        status, body = client("churn", "1", rows, on_behalf_of=user)
        assert (status, body["error"]["field"]) == (404, "model"), user
    for user, code in (("bob@example.com", 200), ("carol@example.com", 404), ("root@example.com", 200)):
        assert PredictClient(url, tokens=lambda u=user: fresh_token(u))("churn", "1", rows)[0] == code, user


def test_an_unreachable_service_or_one_answering_html_is_a_plain_error(url):
    status, body = PredictClient(url, tokens=app_token)("forbidden", "1", b"{}")
    assert status == 502 and body["error"]["message"] == "The predict service answered HTTP 403."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    status, body = PredictClient(f"http://127.0.0.1:{closed}", timeout=5, tokens=app_token)("churn", "1", b"{}")
    assert status == 503 and "could not be reached" in body["error"]["message"]


def test_a_cloud_run_url_gets_an_identity_token_for_its_audience_once(monkeypatch):
    import requests

    from zygarde.adapters import auth

    audiences, sent = [], []
    tok = fresh_token(DELEGATE, "https://zygarde-predict-abc.a.run.app")
    monkeypatch.setattr(auth, "_google_token", lambda audience: audiences.append(audience) or tok)

    class Answer:
        status_code = 200

        def json(self):
            return {"predictions": [], "modelVersionId": "1"}

    monkeypatch.setattr(requests.Session, "post", lambda self, url, **kw: sent.append((url, kw["headers"])) or Answer())
    client = PredictClient("https://zygarde-predict-abc.a.run.app")
    client("churn", "production", b"{}", on_behalf_of="ana@example.com")
    client("churn", "1", b"{}")
    assert audiences == ["https://zygarde-predict-abc.a.run.app"]  # fetched once, for the service's URL
    assert sent[0] == ("https://zygarde-predict-abc.a.run.app/v1/models/churn/versions/production:predict",
                       {"Content-Type": "application/json", "Authorization": "Bearer " + tok,
                        "X-Zygarde-On-Behalf-Of": "ana@example.com"})


def test_the_service_answers_401_without_a_token_that_proves_a_caller(url):
    import requests

    body = b'{"instances": [{"age": 50, "color": "blue"}]}'
    target = url + "v1/models/churn/versions/1:predict"
    for headers, words in [({}, "no identity token"), ({"Authorization": "Bearer nope"}, "proves no sender"),
                           ({"Authorization": "Basic YTpi"}, "no identity token"),
                           ({"Authorization": "Bearer " + fresh_token("ana@example.com", "https://elsewhere")},
                            "another audience"),
                           ({"Authorization": "Bearer " + fresh_token("eve@example.com"),
                             "X-Zygarde-On-Behalf-Of": "ana@example.com"}, "may not act on behalf")]:
        answer = requests.post(target, data=body, headers=headers, timeout=30)
        assert answer.status_code == 401, headers
        error = answer.json()["error"]
        assert error["field"] == "authorization" and words in error["message"], error
    ok = requests.post(target, data=body, headers={"Authorization": "Bearer " + fresh_token("ana@example.com")},
                       timeout=30)
    assert ok.status_code == 200  # a user's own token (aud: the jobs audience, accepted by the service)
    own = fresh_token("ana@example.com", url.rstrip("/"))  # a token for the service's own URL
    assert requests.post(target, data=body, headers={"Authorization": "Bearer " + own}, timeout=30).status_code == 200


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


def test_the_predict_service_reads_the_admins_the_web_app_reads_as_canonical_identities():
    from zygarde.config import Settings
    from zygarde.web.settings import WebSettings

    env = {"ZYGARDE_PROJECT": "p", "ZYGARDE_BUCKET": "b", "ZYGARDE_WEB_IAP_AUDIENCE": "/projects/1/x",
           "ZYGARDE_WEB_ADMINS": " Root@Example.com, , Ops+On-Call@Example.com"}
    assert Settings.from_env(env).admins == WebSettings.from_env(env).admins == {
        "root@example.com", "ops+on-call@example.com"}
