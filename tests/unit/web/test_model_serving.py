"""The model page's serving part: aliases (who moved them, when), each version's online status, and the
"Try a prediction" form scoring through the predict service's own code (a real onnxruntime session)."""
from __future__ import annotations

import dataclasses
import html
import json
import re

import pytest

from tests.unit.online_fixtures import register
from tests.unit.web.conftest import BUCKET, add_job, csrf_token
from zygarde.domain.identity import owner_key
from zygarde.service_layer import online
from zygarde.service_layer.online_edge import MAX_BODY_BYTES, handle
from zygarde.web.app import create_app

MODEL = "ana-job"  # add_job registers version 1 (no ONNX export) of the model named after the job


class InProcessService:
    """The predict function's edge on the test's ports: what the HTTP service would answer."""

    def __init__(self, deps):
        self.repo, self.cache, self.calls, self.before = deps.repo, online.ModelCache(deps.blobs), [], None
        self.callers: list[str | None] = []  # whom the app named as the user it acts for

    def __call__(self, name: str, ref: str, data: bytes, on_behalf_of: str | None = None):
        self.calls.append((name, ref, data))
        self.callers.append(on_behalf_of)
        if self.before:
            self.before()
        return handle("POST", f"/v1/models/{name}/versions/{ref}:predict", data, self.repo, self.cache,
                      caller=owner_key(on_behalf_of) if on_behalf_of else None)


@pytest.fixture
def service(deps):
    return InProcessService(deps)


@pytest.fixture
def app(settings, deps, service):
    return create_app(settings, deps, predictor=service)


@pytest.fixture
def model(deps):
    """Versions 1 (no export), 2 (yes for old blue rows), 3 (the opposite), 4 (no converter) of ana's
    model; 5 is from a job of bob's, a writer of it. production -> 2 (moved twice), shadow -> bob's 5."""
    repo, blobs = deps.repo, deps.blobs
    for owner, job_id in (("ana", MODEL), ("ana", "ana-b"), ("ana", "ana-c"), ("ana", "ana-d"), ("bob", "bob-job")):
        add_job(repo, owner, job_id)  # one registered version per job
    for writer in ("bob", "alice@example.com", "carol@example.com"):
        repo.set_model_grant(MODEL, writer, "writer", "ana")
    assert register(repo, blobs, MODEL, "ana-b", sign=1.0, bucket=BUCKET) == 2
    assert register(repo, blobs, MODEL, "ana-c", sign=-1.0, bucket=BUCKET) == 3
    assert register(repo, blobs, MODEL, "ana-d", online=False, bucket=BUCKET) == 4
    assert register(repo, blobs, MODEL, "bob-job", bucket=BUCKET, owner="bob") == 5
    online.move_alias(repo, MODEL, "production", 3, "alice@example.com", "2026-12-01T04:00:00Z")
    online.move_alias(repo, MODEL, "production", 2, "carol@example.com", "2026-12-02T05:30:00Z")
    online.move_alias(repo, MODEL, "shadow", 5, "bob", "2026-12-03T00:00:00Z")
    return MODEL


def _section(page: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}".*?</(table|p|select|textarea)>', page, re.S).group(0)


def _post(client, body: str, ref: str = "production", token: str | None = None):
    token = token if token is not None else csrf_token(client, f"/models/{MODEL}")
    return client.post(f"/models/{MODEL}/predict", data={"csrf_token": token, "ref": ref, "body": body})


def test_page_shows_aliases_with_who_moved_them_and_each_versions_online_status(ana, bob, carol, model):
    page = ana.get(f"/models/{model}").get_data(as_text=True)
    aliases = _section(page, "aliases")
    assert re.search(r"<td>production</td><td>2</td><td>carol@example\.com</td><td>2026-12-02T05:30:00</td><td>2</td>",
                     aliases), aliases
    assert re.search(r"<td>shadow</td><td>5</td><td>bob</td>", aliases)  # bob's version is one of the model's
    rows = re.findall(r"<tr><td>(\d+)</td>.*?<td class=\"online\">(.*?)</td>", _section(page, "versions"), re.S)
    status = {int(v): re.sub(r"<[^>]+>", "", cell).strip() for v, cell in rows}
    assert status == {1: "unavailable registered without an ONNX export", 2: "available", 3: "available",
                      4: "unavailable no ONNX converter for FMClassificationModel", 5: "available"}
    bob_page = bob.get(f"/models/{model}").get_data(as_text=True)  # a writer sees the whole model too
    assert "shadow" in bob_page and "production" in bob_page and "you are a writer" in bob_page
    assert carol.get(f"/models/{model}").status_code == 404  # carol@example.com was granted, carol was not


def test_form_offers_serving_refs_prefilled_with_an_example_from_the_input_schema(ana, model):
    page = ana.get(f"/models/{model}").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/models/ana-job/predict#try".*?</form>', page, re.S).group(0)
    assert 'name="csrf_token"' in form
    assert re.findall(r'<option value="([^"]+)"', form) == ["production", "shadow", "5", "3", "2"]  # aliases first
    body = json.loads(html.unescape(_section(page, "predict-body").split(">", 1)[1].rsplit("<", 1)[0]))
    # age: the data report's mean of the training column; color: no report stats -> a plain string
    assert body == {"instances": [{"age": 39.5, "color": "example"}]}


def test_a_good_prediction_is_a_table_of_labels_and_class_probabilities(ana, model, service):
    rows = [{"age": 50, "color": "blue"}, {"age": 1, "color": "red"}]
    resp = _post(ana, json.dumps({"instances": rows}))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200, page
    assert "Answered by version 2 of ana-job." in page
    table = _section(page, "predictions")
    assert "<th>label</th><th>prediction</th>" in table and "<th>P(no)</th><th>P(yes)</th>" in table
    cells = [re.findall(r"<td>([^<]*)</td>", r) for r in re.findall(r"<tr><td>\d.*?</tr>", table, re.S)]
    assert [c[:3] for c in cells] == [["0", "yes", "1"], ["1", "no", "0"]]
    for c in cells:
        assert abs(float(c[3]) + float(c[4]) - 1) < 1e-3
    assert service.calls[-1][:2] == (MODEL, "production")
    pinned = _post(ana, json.dumps(rows), ref="3").get_data(as_text=True)  # a bare list of rows works too
    assert "Answered by version 3" in pinned and re.search(r"<tr><td>0</td><td>no</td>", pinned)


@pytest.mark.parametrize("body,field,message", [
    ('{"instances": [{"age": "old", "color": "red"}]}', "instances[0].age", "expected a number, got str"),
    ('{"instances": [{"age": 3}]}', "instances[0].color", "missing column"),
    ('{"instances": [{"age": 3, ', "body", "not valid JSON"),
    ("", "body", "empty body"),
    ('{"instances": []}', "instances", "no rows to score"),
])
def test_a_bad_request_shows_the_services_400_naming_the_field(ana, model, body, field, message):
    resp = _post(ana, body)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    error = html.unescape(_section(page, "predict-error"))
    assert "HTTP 400" in error and f"<code>{field}</code>" in error and message in error
    assert "Traceback" not in page and 'id="predictions"' not in page
    assert html.unescape(_section(page, "predict-body")).endswith(f">{body}</textarea>")  # kept to fix it


def test_oversize_bodies_and_refs_the_form_does_not_offer_are_refused_here(settings, deps, model, service):
    from tests.unit.web.conftest import sign_in

    roomy = dataclasses.replace(settings, max_upload_bytes=2 * MAX_BODY_BYTES)  # the form may carry it
    client = sign_in(create_app(roomy, deps, predictor=service).test_client(), "ana")
    resp = _post(client, " " * (MAX_BODY_BYTES + 1))
    assert resp.status_code == 400 and f"at most {MAX_BODY_BYTES} per request" in resp.get_data(as_text=True)
    for ref in ("1", "4", "nope", "latest"):  # no export (twice), no such alias, not offered
        page = _post(client, '{"instances": [{"age": 3, "color": "red"}]}', ref=ref).get_data(as_text=True)
        assert "<code>ref</code>: pick a version or alias of ana-job that serves online" in page
    assert service.calls == []


def test_an_alias_moved_to_a_version_the_page_does_not_show_shows_no_predictions(ana, model, deps, service):
    def newer_version():  # registered, and production moved to it, between the page's check and the call
        add_job(deps.repo, "ana", "ana-e")
        assert register(deps.repo, deps.blobs, MODEL, "ana-e", bucket=BUCKET) == 6
        online.move_alias(deps.repo, MODEL, "production", 6, "ana", "2026-12-04T00:00:00Z")

    service.before = newer_version
    resp = _post(ana, '{"instances": [{"age": 3, "color": "red"}]}')
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "now points at a version this page does not show" in page
    assert 'id="predictions"' not in page
    assert "<td>production</td>" not in _section(page, "aliases")  # the table as it is now, for these versions


def test_the_form_needs_its_csrf_token(ana, model, service):
    resp = _post(ana, '{"instances": []}', token="")
    assert resp.status_code == 400 and "security token" in resp.get_data(as_text=True)
    assert service.calls == []


def test_without_a_predict_service_the_page_says_so(settings, deps, model):
    from tests.unit.web.conftest import sign_in

    client = sign_in(create_app(settings, deps).test_client(), "ana")  # settings.predict_url is None
    page = client.get(f"/models/{MODEL}").get_data(as_text=True)
    assert "No predict service is configured" in page and 'id="predict-form"' not in page
    assert "production" in page  # the aliases are still shown


def test_a_reader_of_a_shared_model_tries_a_prediction_as_themselves(app, deps, model, service):
    """Issue 22: the service decides by the user the app names, so a reader gets predictions and someone
    the model is not shared with gets no page, and no call, at all."""
    from tests.unit.web.conftest import sign_in

    deps.repo.set_model_grant(MODEL, "dave@example.com", "reader", "ana")
    dave = sign_in(app.test_client(), "Dave@Example.com")
    resp = _post(dave, '{"instances": [{"age": 50, "color": "blue"}]}')
    assert resp.status_code == 200 and "Answered by version 2 of ana-job." in resp.get_data(as_text=True)
    assert service.callers == ["dave@example.com"]
    eve = sign_in(app.test_client(), "eve@example.com")
    assert _post(eve, '{"instances": []}', token=csrf_token(eve, "/models")).status_code == 404
    assert service.callers == ["dave@example.com"]
