"""Datasets (upload checks, listing) and the job form (validation next to fields, preview, submit)."""
from __future__ import annotations

import html
import io
import json
import re
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from tests.unit.web.conftest import BUCKET, CSV, add_job, csrf_token
from zygarde.domain.spec import JobSpec


def upload(client, name: str, data: bytes):
    return client.post("/datasets", data={"csrf_token": csrf_token(client, "/datasets"),
                                          "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def field_error(page: str, field: str) -> str:
    m = re.search(rf'id="{re.escape(field)}-error"[^>]*>([^<]*)<|id="error-{re.escape(field)}">([^<]*)<', page)
    assert m, f"no error shown for {field}"
    return html.unescape(m.group(1) or m.group(2))


def test_upload_lands_under_the_owners_prefix_and_is_listed_with_size_and_columns(ana, bob, deps):
    resp = upload(ana, "people.csv", CSV)
    uri = f"gs://{BUCKET}/datasets/ana/people.csv"
    assert resp.status_code == 302 and unquote(resp.headers["Location"]).endswith("dataset=" + uri)
    assert deps.blobs.read_bytes(uri) == CSV
    page = ana.get("/datasets").get_data(as_text=True)
    assert "people.csv" in page and str(len(CSV)) in page and "age, income, city, label" in page
    assert "people.csv" not in bob.get("/datasets").get_data(as_text=True)


def test_parquet_and_json_lines_uploads_show_their_columns(ana):
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1.0, 2.0], "y": [0, 1]}), buf)
    assert upload(ana, "t.parquet", buf.getvalue()).status_code == 302
    assert upload(ana, "t.jsonl", b'{"a": 1, "b": 0}\n{"a": 2, "b": 1}\n').status_code == 302
    assert upload(ana, "t.libsvm", b"1 1:0.5 3:1.2\n0 2:1.0\n").status_code == 302
    page = ana.get("/datasets").get_data(as_text=True)
    assert "x, y" in page and "a, b" in page and "label, features" in page


def test_bad_uploads_are_refused_with_the_reason_next_to_the_field(ana, deps):
    cases = {
        ("data.xlsx", b"a,b\n1,2\n"): "must end in",
        ("../../etc/x.csv", CSV): "plain name",
        ("results/x.csv", CSV): "plain name",
        ("bin.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256))): "binary file",
        ("fake.parquet", CSV): "not a Parquet file",
        ("lines.jsonl", b"[1, 2]\n"): "JSON object",
        ("x.libsvm", b"hello world\n"): "LIBSVM",
        ("empty.csv", b""): "empty",
    }
    for (name, data), reason in cases.items():
        resp = upload(ana, name, data)
        page = resp.get_data(as_text=True)
        assert resp.status_code == 400, name
        assert reason in field_error(page, "file"), (name, field_error(page, "file"))
    assert deps.blobs.objects == {}


def test_oversize_upload_is_refused_next_to_the_field(ana, deps):
    resp = upload(ana, "big.csv", b"a,b\n" + b"1,2\n" * 10_000)
    assert resp.status_code == 413 and "larger than the limit" in field_error(resp.get_data(as_text=True), "file")
    assert deps.blobs.objects == {}


def test_signed_upload_url_only_where_the_store_signs(ana):
    resp = ana.post("/datasets/upload-url", json={"name": "x.csv"},
                    headers={"X-CSRFToken": csrf_token(ana, "/datasets")})
    assert resp.status_code == 400 and "not available" in resp.get_json()["error"]
    resp = ana.post("/datasets/upload-url", json={"name": "../x.csv"},
                    headers={"X-CSRFToken": csrf_token(ana, "/datasets")})
    assert resp.status_code == 400 and resp.get_json()["field"] == "file"
    assert ana.post("/datasets/upload-url", json={"name": "x.csv"}).status_code == 400  # no CSRF token


def form_data(client, **over):
    data = {"csrf_token": csrf_token(client, "/jobs/new"), "dataset": f"gs://{BUCKET}/datasets/ana/people.csv",
            "target": "label", "task": "binary_classification", "algorithms": ["logistic_regression"],
            "params_logistic_regression": '{"regParam": [0.0, 0.1]}', "strategy": "grid", "max_trials": "",
            "max_parallel": "2", "seed": "5", "test_fraction": "0.2", "exclude_columns": ["city"],
            "row_filter": "age > 18", "deadline_minutes": "30", "action": "submit"}
    data.update(over)
    return data


def test_form_lists_columns_suggests_the_task_and_shows_parameter_ranges(ana):
    upload(ana, "people.csv", CSV)
    page = ana.get(f"/jobs/new?dataset=gs://{BUCKET}/datasets/ana/people.csv").get_data(as_text=True)
    assert re.search(r'<option value="label" data-task="binary_classification"', page)
    assert re.search(r'<option value="income" data-task="regression"', page)
    assert re.search(r'<option value="city" data-task="multiclass_classification"', page)
    assert "maxDepth" in page and "0..30" in page and "gbt_classifier" in page
    assert "&#34;regParam&#34;" in page  # the default space, escaped in the attribute


def test_preview_shows_the_job_json_and_the_gcloud_command(ana, deps):
    upload(ana, "people.csv", CSV)
    page = ana.post("/jobs/new", data=form_data(ana, action="preview", max_cost_usd="1.5")).get_data(as_text=True)
    spec = json.loads(html.unescape(page.split('id="preview-json">')[1].split("</pre>")[0]))
    assert spec["owner"] == "ana" and spec["seed"] == 5 and spec["data"]["exclude_columns"] == ["city"]
    assert spec["budget"]["deadline_minutes"] == 30 and spec["data"]["row_filter"] == {"op": ">", "args": [{"col": "age"}, {"lit": 18}]}
    assert spec["budget"]["max_cost_usd"] == 1.5
    assert "gcloud pubsub topics publish zygarde-jobs --message=" in page
    assert deps.publisher.messages == []


def test_submit_publishes_the_validated_spec_and_goes_to_the_job(ana, deps):
    upload(ana, "people.csv", CSV)
    resp = ana.post("/jobs/new", data=form_data(ana))
    [(topic, data, _)] = deps.publisher.messages
    spec = json.loads(data)
    assert topic == "jobs" and spec["owner"] == "ana" and spec["dataset"]["format"] == "csv"
    assert spec["candidates"] == [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1]}}]
    assert resp.headers["Location"] == f"/jobs/{spec['job_id']}"


def test_bad_form_input_is_shown_next_to_each_field(ana, deps):
    upload(ana, "people.csv", CSV)
    page = ana.post("/jobs/new", data=form_data(ana, max_trials="many", seed="-1")).get_data(as_text=True)
    assert "whole number" in field_error(page, "max_trials")
    page = ana.post("/jobs/new", data=form_data(ana, params_logistic_regression='{"depth": [1]}'))
    assert "no hyperparameter 'depth'" in field_error(page.get_data(as_text=True), "params_logistic_regression")
    page = ana.post("/jobs/new", data=form_data(ana, seed="-1", row_filter="1=1; DROP", test_fraction="0.9"))
    page = page.get_data(as_text=True)
    assert "greater than or equal to 0" in field_error(page, "seed")
    assert "0.4" in field_error(page, "test_fraction")
    assert field_error(page, "row_filter")
    page = ana.post("/jobs/new", data=form_data(ana, max_cost_usd="-2")).get_data(as_text=True)
    assert "greater than 0" in field_error(page, "max_cost_usd")
    page = ana.post("/jobs/new", data=form_data(ana, algorithms=[], target="")).get_data(as_text=True)
    assert "at least one" in field_error(page, "algorithms") and "target" in field_error(page, "target")
    page = ana.post("/jobs/new", data=form_data(ana, params_logistic_regression="{not json")).get_data(as_text=True)
    assert "JSON object" in field_error(page, "params_logistic_regression")
    assert deps.publisher.messages == []


def test_another_users_model_name_is_refused_next_to_the_name_field(ana, bob, deps):
    add_job(deps.repo, "bob", "churn")  # bob's model churn
    upload(ana, "people.csv", CSV)
    resp = ana.post("/jobs/new", data=form_data(ana, name="churn"))
    assert resp.status_code == 400
    assert "the model 'churn' belongs to another user" in html.unescape(field_error(resp.get_data(as_text=True),
                                                                                    "name"))
    assert deps.publisher.messages == []


def test_another_users_dataset_cannot_be_used(bob, deps):
    deps.blobs.write_bytes(f"gs://{BUCKET}/datasets/ana/people.csv", CSV)
    resp = bob.post("/jobs/new", data=form_data(bob))
    assert resp.status_code == 400 and "your datasets" in field_error(resp.get_data(as_text=True), "dataset")
    assert deps.publisher.messages == []


def test_on_google_cloud_the_browser_gets_a_signed_url_under_its_prefix(deps):
    from tests.unit.web.conftest import sign_in
    from zygarde.web.app import create_app
    from zygarde.web.settings import WebSettings

    signed = []
    deps.blobs.upload_url = lambda uri, content_type, expires_seconds=900: signed.append((uri, content_type)) or \
        f"https://storage.googleapis.com/signed?{len(signed)}"
    app = create_app(WebSettings(bucket=BUCKET, dev_login=True, secret_key="s", signed_uploads=True), deps)
    ana = sign_in(app.test_client(), "ana")
    resp = ana.post("/datasets/upload-url", json={"name": "big.parquet", "size": 5 << 30},
                    headers={"X-CSRFToken": csrf_token(ana, "/datasets")})
    answer = resp.get_json()
    assert resp.status_code == 200 and answer["url"].startswith("https://storage.googleapis.com/")
    assert signed == [(f"gs://{BUCKET}/datasets/ana/big.parquet", "application/vnd.apache.parquet")]
    assert unquote(answer["next"]).endswith(f"dataset=gs://{BUCKET}/datasets/ana/big.parquet")
    assert "connect-src 'self' https://storage.googleapis.com" in resp.headers["Content-Security-Policy"]
    page = ana.get("/datasets").get_data(as_text=True)
    assert 'data-signed="1"' in page


def test_the_form_can_ask_for_successive_halving(ana, deps):
    upload(ana, "people.csv", CSV)
    page = ana.get(f"/jobs/new?dataset=gs://{BUCKET}/datasets/ana/people.csv").get_data(as_text=True)
    assert 'name="pruning"' in page
    ana.post("/jobs/new", data=form_data(ana))
    ana.post("/jobs/new", data={**form_data(ana), "strategy": "random", "max_trials": "9", "pruning": "1"})
    [plain, halving] = [json.loads(data)["search"] for _, data, _ in deps.publisher.messages]
    assert "pruning" not in plain
    assert halving["strategy"] == "random" and halving["pruning"]["strategy"] == "successive_halving"


def test_the_auto_strategy_leaves_learners_and_search_to_the_platform(ana, deps):
    from zygarde.domain import default_space
    from zygarde.domain.spec import parse_job_spec

    upload(ana, "people.csv", CSV)
    page = ana.get(f"/jobs/new?dataset=gs://{BUCKET}/datasets/ana/people.csv").get_data(as_text=True)
    assert '<option value="auto" selected>' in page  # a new user's first choice
    ana.post("/jobs/new", data=form_data(ana, strategy="auto", algorithms=[], max_trials="8"))
    [(_, data, _)] = deps.publisher.messages
    spec = parse_job_spec(json.loads(data))  # the platform's default: with the form's deadline, a search until it
    assert spec.budget.deadline_minutes == 30 and [c.algorithm for c in spec.candidates] == [
        c["algorithm"] for c in default_space.default_candidates("binary_classification")]  # not the form's
    assert spec.search.strategy == "bayesian" and spec.search.pruning.bracket_trials == default_space.DEFAULT_MAX_TRIALS
    assert spec.candidates[0].algorithm == "xgboost_classifier"


def test_trials_at_once_left_empty_lets_the_plan_choose(ana, deps):
    """The form pre-fills no "Trials at once": a deadline job's batches at once are the plan's, not a
    default the user never typed (a spec's max_parallel set by hand caps the plan)."""
    upload(ana, "people.csv", CSV)
    page = ana.get(f"/jobs/new?dataset=gs://{BUCKET}/datasets/ana/people.csv").get_data(as_text=True)
    assert re.search(r'<input id="max_parallel" name="max_parallel" [^>]*value=""', page)
    ana.post("/jobs/new", data=form_data(ana, max_parallel=""))
    ana.post("/jobs/new", data=form_data(ana, max_parallel="3"))
    unset, typed = (JobSpec.model_validate(json.loads(data)) for _, data, _ in deps.publisher.messages)
    assert "max_parallel" not in unset.model_fields_set and unset.max_parallel == 2
    assert "max_parallel" in typed.model_fields_set and typed.max_parallel == 3
