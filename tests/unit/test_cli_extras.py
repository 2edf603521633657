"""`zygarde upload`, `zygarde rerun` and `--format json` against in-memory ports."""
from __future__ import annotations

import json
import re

from click.testing import CliRunner

from tests.unit.conftest import OWNER, job_message, token
from zygarde import cli, cli_common
from zygarde.service_layer import edge


def run(deps, monkeypatch, *args, user=OWNER):
    """The CLI as `user`: $ZYGARDE_IDENTITY_TOKEN holds their token."""
    monkeypatch.setattr(cli_common, "local_deps", lambda: deps)
    return CliRunner().invoke(cli.main, list(args), env={"ZYGARDE_IDENTITY_TOKEN": token(user)})


def test_upload_puts_the_file_under_the_owners_prefix(deps, monkeypatch, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"a,b,label\n1,2,0\n")
    result = run(deps, monkeypatch, "upload", str(path), user="Ana@Example.com")
    assert result.exit_code == 0, result.output
    assert deps.blobs.read_bytes("gs://bkt/datasets/ana@example.com/people.csv") == b"a,b,label\n1,2,0\n"
    assert "columns: a, b, label" in result.output
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x00\x01\x02")
    result = run(deps, monkeypatch, "upload", str(binary))
    assert result.exit_code == 2 and "binary file" in result.output


def test_rerun_publishes_the_same_spec_under_a_new_id(deps, monkeypatch):
    edge.submit_job(job_message(), deps)
    deps.publisher.messages.clear()
    result = run(deps, monkeypatch, "rerun", "job-1")
    assert result.exit_code == 0, result.output
    [(topic, data, _)] = deps.publisher.messages
    spec, original = json.loads(data), deps.repo.get_job("job-1").spec
    assert topic == "jobs" and spec["job_id"] != "job-1" and spec["name"] == "job-1"
    assert {k: v for k, v in spec.items() if k not in ("job_id", "name")} == \
        {k: v for k, v in original.items() if k not in ("job_id", "name")}
    assert run(deps, monkeypatch, "rerun", "nope").exit_code == 1


def test_status_and_models_as_json(deps, monkeypatch):
    edge.submit_job(job_message(), deps)
    listing = json.loads(run(deps, monkeypatch, "status", "--format", "json").output)
    assert [j["job_id"] for j in listing] == ["job-1"] and listing[0]["state"] == "RUNNING"
    one = json.loads(run(deps, monkeypatch, "status", "job-1", "--format", "json").output)
    assert one["job_id"] == "job-1" and one["total"] == 4 and "leaderboard" in one and "cost" in one
    plan = deps.repo.get_job("job-1").plan
    assert one["plan"] == {k: plan[k] for k in ("predicted_seconds", "predicted_dcu_hours", "predicted_dollars")}
    assert one["plan"]["predicted_seconds"] > 0 and one["duration_seconds"] is None
    plain = run(deps, monkeypatch, "status", "job-1").output
    assert f"plan: {plan['summary']}" in plain and "actual:" not in plain
    deps.repo.update_job("job-1", lambda j: j.transition(j.state.__class__.CANCELLED, "Cancelled", "by test", deps.now()))
    ended = json.loads(run(deps, monkeypatch, "status", "job-1", "--format", "json").output)
    assert ended["duration_seconds"] > 0 and ended["plan"] == one["plan"]
    assert re.search(r"plan: about .*; actual: \d+\.\d minutes, \d+\.\d\d DCU-hours, \$\d+\.\d\d",
                     run(deps, monkeypatch, "status", "job-1").output)
    deps.repo.register_model_version("m", "job-1", {"trial_id": "t0", "algorithm": "a", "metric": "f1",
                                                    "validation_metrics": {"f1": 0.8}, "test_metrics": {"f1": 0.7}},
                                     "ana@example.com")
    [version] = json.loads(run(deps, monkeypatch, "models", "m", "--format", "json").output)
    assert (version["version"], version["validation"], version["test"]) == (1, 0.8, 0.7)


def test_watch_as_json_prints_a_line_per_change_until_the_job_ends(deps, monkeypatch):
    edge.submit_job(job_message(), deps)
    deps.repo.update_job("job-1", lambda j: j.transition(j.state.__class__.CANCELLED, "Cancelled", "by test", deps.now()))
    result = run(deps, monkeypatch, "watch", "job-1", "--format", "json")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert result.exit_code == 1 and lines[-1]["state"] == "CANCELLED"


def register(deps, name: str, jobs: list[str]) -> None:
    for job_id in jobs:
        deps.repo.register_model_version(name, job_id, {"job_id": job_id, "trial_id": "t0000",
                                                        "package_uri": f"gs://bkt/models/{name}/{job_id}/"}, "ana")


def test_predict_batch_scores_with_the_chosen_version_in_one_batch(deps, monkeypatch):
    register(deps, "churn", ["job-1", "job-2"])
    data = "gs://bkt/datasets/ana/new.csv"
    env = {"user": "ana"}
    result = run(deps, monkeypatch, "predict-batch", "churn:1", data, "--format", "csv", "--no-wait", **env)
    assert result.exit_code == 0, result.output
    [(batch_id, request)] = deps.launcher.requests.items()
    args = dict(zip(request.args[::2], request.args[1::2]))
    assert request.main_python_file_uri.endswith("/predict.py") and batch_id.startswith("zyg-predict-")
    assert args["--model-uri"] == "gs://bkt/models/churn/job-1/model" and args["--input"] == data
    assert args["--output"].startswith("gs://bkt/models/churn/predictions/v1-")
    again = run(deps, monkeypatch, "predict-batch", "churn:1", data, "--format", "csv", "--no-wait", **env)
    assert again.exit_code == 0 and len(deps.launcher.requests) == 1  # the same scoring: one batch
    latest = run(deps, monkeypatch, "predict-batch", "churn", data, "--format", "csv", "--no-wait", **env)
    assert latest.exit_code == 0 and "churn v2" in latest.output


def test_predict_batch_refuses_what_cannot_run(deps, monkeypatch):
    register(deps, "churn", ["job-1"])
    env = {"user": "ana"}
    cases = [(("nope", "gs://bkt/datasets/ana/x.csv"), "no model 'nope'"),
             (("churn:7", "gs://bkt/datasets/ana/x.csv"), "has no version 7"),
             (("churn", "gs://bkt/datasets/bob/x.csv"), "datasets/ana/"),
             (("churn", "gs://bkt/datasets/ana/../../results/x.csv"), "'..' segment")]
    for args, reason in cases:
        result = run(deps, monkeypatch, "predict-batch", *args, "--format", "csv", "--no-wait", **env)
        assert result.exit_code == 1 and reason in result.output and "Traceback" not in result.output, result.output
    assert deps.launcher.requests == {}


def test_a_plus_address_uploads_with_the_cli_and_then_trains_on_that_upload(deps, monkeypatch, tmp_path):
    """Issue 22: `owner+a@...` uploaded to datasets/owner-a@.../ and its own job then refused the dataset.
    The upload goes under the owner key of the token's e-mail, which is the key the job must name."""
    from tests.unit.conftest import PUBLISHED
    from zygarde.domain.model import JobState
    from zygarde.service_layer import edge
    from zygarde.service_layer.edge import PubSubMessage

    user = "Owner+A@zygarde.dev"
    path = tmp_path / "churn.csv"
    path.write_bytes(b"age,plan,label\n" + b"".join(f"{20 + i},p{i % 3},{i % 2}\n".encode() for i in range(30)))
    assert run(deps, monkeypatch, "upload", str(path), user=user).exit_code == 0
    uri = "gs://bkt/datasets/owner+a@zygarde.dev/churn.csv"
    assert deps.blobs.exists(uri) and not deps.blobs.list("gs://bkt/datasets/owner-a@zygarde.dev/")
    spec = {"job_id": "plus-job", "owner": "owner+a@zygarde.dev", "task": "binary_classification",
            "dataset": {"uri": uri, "format": "csv", "target": "label"},
            "candidates": [{"algorithm": "logistic_regression", "params": {"regParam": [0.1]}}]}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    result = run(deps, monkeypatch, "submit", str(tmp_path / "job.json"), user=user)
    assert result.exit_code == 0, result.output
    [(_, data, attributes)] = [m for m in deps.publisher.messages if m[0] == "jobs"]
    assert edge.submit_job(PubSubMessage(data, attributes, "m-plus", PUBLISHED), deps) == "plus-job"
    job = deps.repo.get_job("plus-job")
    assert job.state is JobState.RUNNING and job.owner == "owner+a@zygarde.dev", job.error


def test_submit_refuses_a_job_naming_another_owner_and_publishes_nothing(deps, monkeypatch, tmp_path):
    from tests.unit.conftest import spec_dict

    (tmp_path / "job.json").write_text(json.dumps(spec_dict(owner="owner-a@zygarde.dev")))
    result = run(deps, monkeypatch, "submit", str(tmp_path / "job.json"), user="owner+a@zygarde.dev")
    assert result.exit_code == 2 and "a job is submitted by its owner" in " ".join(result.output.split())
    assert not [m for m in deps.publisher.messages if m[0] == "jobs"]


IMPORTANCE = {"status": "available", "native": "gain",
              "columns": [{"column": "support_calls", "permutation": 0.21, "native": 0.7},
                          {"column": "tenure_months", "permutation": 0.03, "native": 0.2},
                          {"column": "region", "permutation": -0.001, "native": 0.1}],
              "permutation": {"metric": "areaUnderROC", "rows": 300, "repeats": 2, "baseline": 0.93,
                              "part": "validation", "columns_scored": 3, "columns_total": 3}}


def test_models_show_each_versions_feature_importance_from_its_finalisation(deps, monkeypatch):
    from tests.unit.conftest import spec_dict
    from tests.unit.test_handlers import deliver, finish_stage
    from zygarde.domain.contracts import FinalizeResult, TrialResult
    from zygarde.domain.model import FINALIZE

    edge.submit_job(job_message(spec_dict(name="churn", candidates=[{"algorithm": "xgboost_classifier"}])), deps)
    finish_stage(deps, "job-1", "prepare")
    trial = deps.repo.get_trial("job-1", "t0000")
    deliver(deps, trial, TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 0.9}), True)
    final = deps.repo.get_trial("job-1", FINALIZE)
    package = "gs://bkt/models/churn/job-1/"
    deliver(deps, final, FinalizeResult("job-1", final.attempt, "SUCCEEDED", test_metrics={"areaUnderROC": 0.91},
                                        package_uri=package, manifest_uri=package + "manifest.json",
                                        importance=IMPORTANCE), True, times=2)  # redelivered: one version
    [version] = json.loads(run(deps, monkeypatch, "models", "churn", "--format", "json").output)
    assert version["importance"] == IMPORTANCE
    text = run(deps, monkeypatch, "models", "churn").output
    assert "v1 feature importance (permutation: how much areaUnderROC worsens on validation" in " ".join(text.split())
    bars = [ln.split() for ln in text.splitlines() if ln.startswith("  ") and "#" in ln]
    assert [b[0] for b in bars] == ["support_calls", "tenure_months"] and len(bars[0][2]) == 30
