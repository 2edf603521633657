"""`zygarde submit` against in-memory ports: it validates and checks the job id before publishing."""
from __future__ import annotations

import json

from click.testing import CliRunner

from tests.unit.conftest import job_message, spec_dict
from zygarde import cli
from zygarde.service_layer import handlers


def run_submit(deps, monkeypatch, tmp_path, spec: dict):
    monkeypatch.setattr(cli, "_deps", lambda: deps)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    return CliRunner().invoke(cli.main, ["submit", str(path)])


def test_submit_publishes_a_valid_job(deps, monkeypatch, tmp_path):
    result = run_submit(deps, monkeypatch, tmp_path, spec_dict())
    assert result.exit_code == 0, result.output
    assert "submitted job job-1" in result.output
    assert [json.loads(m[1])["job_id"] for m in deps.publisher.messages if m[0] == "jobs"] == ["job-1"]


def test_submit_refuses_a_job_id_another_job_has_and_publishes_nothing(deps, monkeypatch, tmp_path):
    handlers.submit_job(job_message(), deps)
    result = run_submit(deps, monkeypatch, tmp_path, spec_dict(max_parallel=1))
    assert result.exit_code == 2
    assert "job id job-1 is already used by another job" in " ".join(result.output.split())
    assert not [m for m in deps.publisher.messages if m[0] == "jobs"]


def test_submit_names_each_problem_of_an_invalid_spec(deps, monkeypatch, tmp_path):
    result = run_submit(deps, monkeypatch, tmp_path, spec_dict(task="astrology", max_parallel=0))
    assert result.exit_code == 2
    assert "task" in result.output and "max_parallel" in result.output
    assert not deps.publisher.messages
