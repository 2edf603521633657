"""`zygarde upload`, `zygarde rerun` and `--format json` against in-memory ports."""
from __future__ import annotations

import json

from click.testing import CliRunner

from tests.unit.conftest import job_message
from zygarde import cli, cli_common
from zygarde.service_layer import handlers


def run(deps, monkeypatch, *args, env=None):
    monkeypatch.setattr(cli_common, "local_deps", lambda: deps)
    return CliRunner().invoke(cli.main, list(args), env=env)


def test_upload_puts_the_file_under_the_owners_prefix(deps, monkeypatch, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"a,b,label\n1,2,0\n")
    result = run(deps, monkeypatch, "upload", str(path), env={"ZYGARDE_OWNER": "Ana@Example.com"})
    assert result.exit_code == 0, result.output
    assert deps.blobs.read_bytes("gs://bkt/datasets/ana@example.com/people.csv") == b"a,b,label\n1,2,0\n"
    assert "columns: a, b, label" in result.output
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x00\x01\x02")
    result = run(deps, monkeypatch, "upload", str(binary), "--owner", "ana")
    assert result.exit_code == 2 and "binary file" in result.output


def test_rerun_publishes_the_same_spec_under_a_new_id(deps, monkeypatch):
    handlers.submit_job(job_message(), deps)
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
    handlers.submit_job(job_message(), deps)
    listing = json.loads(run(deps, monkeypatch, "status", "--format", "json").output)
    assert [j["job_id"] for j in listing] == ["job-1"] and listing[0]["state"] == "RUNNING"
    one = json.loads(run(deps, monkeypatch, "status", "job-1", "--format", "json").output)
    assert one["job_id"] == "job-1" and one["total"] == 4 and "leaderboard" in one and "cost" in one
    deps.repo.register_model_version("m", "job-1", {"trial_id": "t0", "algorithm": "a", "metric": "f1",
                                                    "validation_metrics": {"f1": 0.8}, "test_metrics": {"f1": 0.7}},
                                     "ana@example.com")
    [version] = json.loads(run(deps, monkeypatch, "models", "m", "--format", "json",
                               env={"ZYGARDE_OWNER": "ana@example.com"}).output)
    assert (version["version"], version["validation"], version["test"]) == (1, 0.8, 0.7)


def test_watch_as_json_prints_a_line_per_change_until_the_job_ends(deps, monkeypatch):
    handlers.submit_job(job_message(), deps)
    deps.repo.update_job("job-1", lambda j: j.transition(j.state.__class__.CANCELLED, "Cancelled", "by test", "t"))
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
    env = {"ZYGARDE_OWNER": "ana"}
    result = run(deps, monkeypatch, "predict-batch", "churn:1", data, "--format", "csv", "--no-wait", env=env)
    assert result.exit_code == 0, result.output
    [(batch_id, request)] = deps.launcher.requests.items()
    args = dict(zip(request.args[::2], request.args[1::2]))
    assert request.main_python_file_uri.endswith("/predict.py") and batch_id.startswith("zyg-predict-")
    assert args["--model-uri"] == "gs://bkt/models/churn/job-1/model" and args["--input"] == data
    assert args["--output"].startswith("gs://bkt/models/churn/predictions/v1-")
    again = run(deps, monkeypatch, "predict-batch", "churn:1", data, "--format", "csv", "--no-wait", env=env)
    assert again.exit_code == 0 and len(deps.launcher.requests) == 1  # the same scoring: one batch
    latest = run(deps, monkeypatch, "predict-batch", "churn", data, "--format", "csv", "--no-wait", env=env)
    assert latest.exit_code == 0 and "churn v2" in latest.output


def test_predict_batch_refuses_what_cannot_run(deps, monkeypatch):
    register(deps, "churn", ["job-1"])
    env = {"ZYGARDE_OWNER": "ana"}
    cases = [(("nope", "gs://bkt/datasets/ana/x.csv"), "no model 'nope'"),
             (("churn:7", "gs://bkt/datasets/ana/x.csv"), "has no version 7"),
             (("churn", "gs://bkt/datasets/bob/x.csv"), "datasets/ana/"),
             (("churn", "gs://bkt/datasets/ana/../../results/x.csv"), "'..' segment")]
    for args, reason in cases:
        result = run(deps, monkeypatch, "predict-batch", *args, "--format", "csv", "--no-wait", env=env)
        assert result.exit_code == 1 and reason in result.output and "Traceback" not in result.output, result.output
    assert deps.launcher.requests == {}
