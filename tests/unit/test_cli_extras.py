"""`zygarde upload`, `zygarde rerun` and `--format json` against in-memory ports."""
from __future__ import annotations

import json

from click.testing import CliRunner

from tests.unit.conftest import job_message
from zygarde import cli
from zygarde.service_layer import handlers


def run(deps, monkeypatch, *args, env=None):
    monkeypatch.setattr(cli, "_deps", lambda: deps)
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
                                                    "validation_metrics": {"f1": 0.8}, "test_metrics": {"f1": 0.7}})
    [version] = json.loads(run(deps, monkeypatch, "models", "m", "--format", "json").output)
    assert (version["version"], version["validation"], version["test"]) == (1, 0.8, 0.7)


def test_watch_as_json_prints_a_line_per_change_until_the_job_ends(deps, monkeypatch):
    handlers.submit_job(job_message(), deps)
    deps.repo.update_job("job-1", lambda j: j.transition(j.state.__class__.CANCELLED, "Cancelled", "by test", "t"))
    result = run(deps, monkeypatch, "watch", "job-1", "--format", "json")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert result.exit_code == 1 and lines[-1]["state"] == "CANCELLED"
