"""The `zygarde` command line against in-memory ports: submit checks before publishing, models lists versions."""
from __future__ import annotations

import json

from click.testing import CliRunner

from tests.unit.conftest import OWNER, job_message, spec_dict, token
from zygarde import cli, cli_common
from zygarde.service_layer import edge


def run_submit(deps, monkeypatch, tmp_path, spec: dict, user: str = OWNER):
    monkeypatch.setattr(cli_common, "local_deps", lambda: deps)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    return CliRunner().invoke(cli.main, ["submit", str(path)], env={"ZYGARDE_IDENTITY_TOKEN": token(user)})


def test_submit_publishes_a_valid_job(deps, monkeypatch, tmp_path):
    result = run_submit(deps, monkeypatch, tmp_path, spec_dict())
    assert result.exit_code == 0, result.output
    assert "submitted job job-1" in result.output
    assert [json.loads(m[1])["job_id"] for m in deps.publisher.messages if m[0] == "jobs"] == ["job-1"]


def test_submit_refuses_a_job_id_another_job_has_and_publishes_nothing(deps, monkeypatch, tmp_path):
    edge.submit_job(job_message(), deps)
    result = run_submit(deps, monkeypatch, tmp_path, spec_dict(max_parallel=1))
    assert result.exit_code == 2
    assert "job id job-1 is already used by another job" in " ".join(result.output.split())
    assert not [m for m in deps.publisher.messages if m[0] == "jobs"]


def test_submit_names_each_problem_of_an_invalid_spec(deps, monkeypatch, tmp_path):
    result = run_submit(deps, monkeypatch, tmp_path, spec_dict(task="astrology", max_parallel=0))
    assert result.exit_code == 2
    assert "task" in result.output and "max_parallel" in result.output
    assert not deps.publisher.messages


def test_models_lists_the_registered_versions_with_their_scores(deps, monkeypatch):
    from tests.unit.test_handlers import deliver, finish_stage
    from zygarde.domain.contracts import TrialResult
    from zygarde.domain.model import FINALIZE

    monkeypatch.setattr(cli_common, "local_deps", lambda: deps)
    for job_id, auc in (("job-1", 0.8), ("job-2", 0.85)):
        edge.submit_job(job_message(spec_dict(job_id=job_id, name="cancer", candidates=[
            {"algorithm": "logistic_regression"}]), job_id), deps)
        finish_stage(deps, job_id, "prepare")
        trial = deps.repo.get_trial(job_id, "t0000")
        deliver(deps, trial, TrialResult(job_id, "t0000", 1, "SUCCEEDED", {"areaUnderROC": auc}),
                True)
        assert deps.repo.get_trial(job_id, FINALIZE) is not None
        finish_stage(deps, job_id, FINALIZE)
    def as_user(*args, user="ana@example.com"):
        return CliRunner().invoke(cli.main, list(args), env={"ZYGARDE_IDENTITY_TOKEN": token(user)})

    out = as_user("models", "cancer")
    assert out.exit_code == 0, out.output
    lines = [ln for ln in out.output.splitlines() if "job-" in ln]
    assert "model cancer (areaUnderROC)" in out.output
    assert [ln.split("│")[1].strip() for ln in lines] == ["1", "2"]
    assert "0.8000" in lines[0] and "0.9100" in lines[0] and "0.8500" in lines[1]
    missing = as_user("models", "nope")
    assert missing.exit_code == 1 and "no model nope that you (ana@example.com) may use" in missing.output
    # another user is told exactly the same: the model's existence is not theirs to learn
    other = as_user("models", "cancer", user="bob@example.com")
    assert other.exit_code == 1 and "no model cancer that you (bob@example.com) may use" in other.output
    assert "0.8000" not in other.output
