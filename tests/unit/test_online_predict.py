"""The predict service on the in-memory ports with a real onnxruntime session: responses, clear
400s naming the field, aliases resolved per request, one log line per request without inputs."""
from __future__ import annotations

import json
import logging

import pytest

from tests.unit.online_fixtures import register
from zygarde.adapters.memory import MemoryBlobStore, MemoryJobRepository
from zygarde.service_layer import online
from zygarde.service_layer.online_edge import MAX_BODY_BYTES, handle
from zygarde.serving.instances import MAX_ROWS

PATH = "/v1/models/churn/versions/{}:predict"


@pytest.fixture
def service():
    repo, blobs = MemoryJobRepository(), MemoryBlobStore()
    register(repo, blobs, "churn", "job-1", sign=1.0)  # ana's model
    register(repo, blobs, "churn", "job-2", sign=-1.0)
    for writer in ("alice", "alice@example.com", "bob@example.com"):  # who moves aliases below
        repo.set_model_grant("churn", writer, "writer", "ana")
    cache = online.ModelCache(blobs)

    def call(ref: str, body, method: str = "POST", raw: bytes | None = None, caller: str | None = "ana"):
        data = raw if raw is not None else json.dumps(body).encode()
        return handle(method, PATH.format(ref), data, repo, cache, caller=caller)

    call.repo, call.cache, call.blobs = repo, cache, blobs
    return call


def test_rows_get_prediction_label_and_class_probabilities(service):
    status, body = service("1", {"instances": [{"age": 50, "color": "blue"}, {"age": 1, "color": "red"}]})
    assert status == 200, body
    assert body["model"] == "churn" and body["modelVersionId"] == "1" and body["classes"] == ["no", "yes"]
    first, second = body["predictions"]
    assert (first["label"], first["prediction"]) == ("yes", 1.0)
    assert (second["label"], second["prediction"]) == ("no", 0.0)
    for row in body["predictions"]:
        assert len(row["probabilities"]) == 2 and abs(sum(row["probabilities"]) - 1) < 1e-6
        assert row["probabilities"][int(row["prediction"])] > 0.5


def test_nulls_and_unseen_categories_are_scored_as_spark_does(service):
    # null age -> the training mean (30); null or unseen colour -> the unknown slot (index 2)
    status, body = service("1", {"instances": [{"age": None, "color": "green"}, {"age": 30.0, "color": None},
                                               {"age": 30, "color": "never-seen", "extra": "ignored"}]})
    assert status == 200, body
    probabilities = [row["probabilities"] for row in body["predictions"]]
    assert probabilities[0] == pytest.approx(probabilities[1])
    assert probabilities[1] == pytest.approx(probabilities[2])


@pytest.mark.parametrize("body,field", [
    ({"instances": [{"color": "red"}]}, "instances[0].age"),
    ({"instances": [{"age": 1, "color": "red"}, {"age": "old", "color": "red"}]}, "instances[1].age"),
    ({"instances": [{"age": 1, "color": 7}]}, "instances[0].color"),
    ({"instances": []}, "instances"),
    ({"instances": {"age": 1}}, "instances"),
    ({"instances": ["age"]}, "instances[0]"),
    ({"rows": []}, "instances"),
    ({"instances": [{"age": 1, "color": "red"}] * (MAX_ROWS + 1)}, "instances"),
])
def test_bad_rows_are_400s_naming_the_field(service, body, field):
    status, answer = service("1", body)
    assert status == 400
    assert answer["error"]["field"] == field and answer["error"]["message"]


@pytest.mark.parametrize("raw,message", [(b"", "empty body"), (b"{not json", "not valid JSON"),
                                         (b"   ", "empty body"),
                                         (b'{"instances": []}' + b" " * MAX_BODY_BYTES, "bytes; at most")])
def test_bad_bodies_are_400s(service, raw, message):
    status, answer = service("1", None, raw=raw)
    assert status == 400 and answer["error"]["field"] == "body" and message in answer["error"]["message"]


def test_unknown_model_is_a_404_and_unknown_version_and_alias_are_400s_naming_what_is_missing(service):
    repo, cache = service.repo, service.cache
    good = json.dumps({"instances": [{"age": 1, "color": "red"}]}).encode()
    assert handle("POST", "/v1/models/nope/versions/1:predict", good, repo, cache, caller="ana") == \
        (404, {"error": {"code": 404, "field": "model", "message": "there is no model 'nope' that you may use"}})
    assert handle("POST", "/v1/models/nope/versions/production:predict", good, repo, cache,
                  caller=None)[1]["error"]["field"] == "model"
    assert service("9", {"instances": []}) == (400, {"error": {"code": 400, "field": "version",
                                                               "message": "model 'churn' has no version 9"}})
    status, answer = service("production", {"instances": []})
    assert status == 400 and answer["error"]["field"] == "alias"
    assert answer["error"]["message"] == "model 'churn' has no alias 'production'"
    assert handle("GET", PATH.format("1"), good, repo, cache, caller="ana")[0] == 405
    assert handle("POST", "/v1/models/churn:predict", good, repo, cache, caller="ana")[0] == 404  # no such path


def test_a_version_without_onnx_export_says_why(service):
    register(service.repo, service.blobs, "churn", "job-3", online=False)
    status, answer = service("3", {"instances": [{"age": 1, "color": "red"}]})
    assert status == 409 and "no ONNX converter for FMClassificationModel" in answer["error"]["message"]


def test_moving_an_alias_changes_the_answering_version_without_restart(service):
    row = {"instances": [{"age": 50, "color": "blue"}]}
    online.move_alias(service.repo, "churn", "production", 1, "alice@example.com", "2026-12-01T04:00:00Z")
    status, body = service("production", row)
    assert (status, body["modelVersionId"], body["predictions"][0]["label"]) == (200, "1", "yes")
    online.move_alias(service.repo, "churn", "production", 2, "bob@example.com", "2026-12-01T05:00:00Z")
    status, body = service("production", row)
    assert (status, body["modelVersionId"], body["predictions"][0]["label"]) == (200, "2", "no")
    assert service("latest", row)[1]["modelVersionId"] == "2"
    assert service.cache.loads == 2  # each version loaded once, then served from this instance's cache
    service("production", row)
    assert service.cache.loads == 2
    record = online.aliases(service.repo, "churn")["production"]
    assert (record["version"], record["moved_by"], record["moved_at"]) == (2, "bob@example.com",
                                                                            "2026-12-01T05:00:00Z")
    assert [m["moved_by"] for m in record["history"]] == ["alice@example.com", "bob@example.com"]


@pytest.mark.parametrize("alias,version,why", [("Prod!", 1, "lower-case"), ("latest", 1, "cannot be moved"),
                                               ("staging", 7, "no version 7"), ("7", 1, "starting with a letter")])
def test_an_alias_cannot_be_bad_or_point_nowhere(service, alias, version, why):
    with pytest.raises(ValueError, match=why):
        online.move_alias(service.repo, "churn", alias, version, "alice", "2026-12-01T04:00:00Z")
    assert online.aliases(service.repo, "churn") == {}


def test_each_request_is_one_log_line_without_inputs(service, caplog):
    with caplog.at_level(logging.INFO, logger="zygarde.service_layer.online"):
        service("1", {"instances": [{"age": 41.5, "color": "secret-colour"}] * 3})
    lines = [r.getMessage() for r in caplog.records if r.name == "zygarde.service_layer.online"]
    assert len(lines) == 1
    assert "model=churn version=1" in lines[0] and "rows=3" in lines[0] and "latency_ms=" in lines[0]
    assert "secret-colour" not in lines[0] and "41.5" not in lines[0]


@pytest.mark.parametrize("flag,message", [
    ("yes", "expected true or false, got str"),
    (True, "churn v1 has no per-row attributions: it was registered before models carried explanations")])
def test_explain_is_a_boolean_and_a_version_without_attributions_says_why(service, flag, message):
    status, body = service("1", {"instances": [{"age": 50, "color": "blue"}], "explain": flag})
    assert status == 400 and body["error"]["field"] == "explain" and body["error"]["message"] == message
    status, body = service("1", {"instances": [{"age": 50, "color": "blue"}], "explain": False})
    assert status == 200 and "attributions" not in body["predictions"][0] and "explanation" not in body
