"""A cancel names its requester, who must be the job's owner (the jobs topic verifies no identity):
the handler against in-memory ports, and `zygarde cancel`."""
from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from tests.unit.conftest import job_message
from tests.unit.test_handlers import finish, finish_stage, submit, train_trials
from zygarde import cli, cli_common
from zygarde.domain.model import FINALIZE, JobState, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.edge import PubSubMessage

OWNER = "ana@example.com"


def _cancel(data: dict, message_id: str = "c1", **attributes) -> PubSubMessage:
    return PubSubMessage(json.dumps(data).encode(), {"action": "cancel", **attributes}, message_id)


def _snapshot(deps) -> tuple:
    return deps.repo.get_job("job-1"), deps.repo.list_trials("job-1"), sorted(deps.launcher.running)


@pytest.mark.parametrize("message", [
    _cancel({"job_id": "job-1"}, requested_by=OWNER),
    _cancel({"job_id": "job-1", "requested_by": OWNER}),
    _cancel({"job_id": "job-1", "requested_by": OWNER}, requested_by=OWNER),
], ids=["attribute", "data", "both"])
def test_the_owner_s_cancel_cancels_and_a_second_delivery_changes_nothing(deps, message):
    submit(job_message(), deps)
    assert edge.submit_job(message, deps) == "job-1"
    writes = deps.repo.writes
    assert edge.submit_job(message, deps) == "job-1"
    assert deps.repo.writes == writes
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.CANCELLED and job.conditions[-1].message == f"cancelled by its owner {OWNER}"
    assert {t.state for t in train_trials(deps, "job-1")} == {TrialState.CANCELLED}
    assert deps.launcher.running == []


@pytest.mark.parametrize("message, logged", [
    (_cancel({"job_id": "job-1"}), "[]: it names no requester"),
    (_cancel({"job_id": "job-1"}, requested_by="eve@example.com"), '["eve@example.com"]: the requester is not'),
    (_cancel({"job_id": "job-1", "requested_by": "eve@example.com"}), '["eve@example.com"]: the requester is not'),
    (_cancel({"job_id": "job-1", "requested_by": "eve@example.com"}, requested_by=OWNER), "is not the job's owner"),
    (_cancel({"job_id": "job-1", "requested_by": ["ana@example.com"]}), "the requester is not the job's owner"),
    (_cancel({"job_id": "job-1"}, requested_by=OWNER.upper()), "the requester is not the job's owner"),
], ids=["none", "attribute", "data", "two", "not a string", "case"])
def test_any_other_cancel_is_refused_logged_acknowledged_and_changes_nothing(deps, caplog, message, logged):
    submit(job_message(), deps)
    before, writes = _snapshot(deps), deps.repo.writes
    with caplog.at_level(logging.WARNING, logger="zygarde"):
        for _ in range(2):  # delivered twice
            assert edge.submit_job(message, deps) is None  # returns: the message is acknowledged
    assert _snapshot(deps) == before and deps.repo.writes == writes
    assert deps.repo.get_job("job-1").state is JobState.RUNNING
    refusals = [r.getMessage() for r in caplog.records if "cancel refused" in r.getMessage()]
    assert len(refusals) == 2 and "job_id=job-1 message_id=c1 requested_by=" in refusals[0]
    assert logged in refusals[0]


def test_a_cancel_of_a_finished_job_changes_nothing(deps):
    submit(job_message(), deps)
    for trial in train_trials(deps, "job-1"):
        if deps.repo.get_trial("job-1", trial.trial_id).state is TrialState.RUNNING:
            finish(deps, "job-1", trial.trial_id)
    while deps.repo.get_job("job-1").state is JobState.RUNNING:
        running = [t for t in train_trials(deps, "job-1") if t.state is TrialState.RUNNING]
        if running:
            finish(deps, "job-1", running[0].trial_id)
        elif deps.repo.get_trial("job-1", FINALIZE) is not None:
            finish_stage(deps, "job-1", FINALIZE)
    assert deps.repo.get_job("job-1").state is JobState.SUCCEEDED
    before, writes = _snapshot(deps), deps.repo.writes
    assert edge.submit_job(_cancel({"job_id": "job-1"}, requested_by=OWNER), deps) == "job-1"
    assert _snapshot(deps) == before and deps.repo.writes == writes


def test_a_cancel_without_a_job_id_is_a_clear_permanent_error(deps):
    from zygarde.domain.errors import MessageError

    for data in (b"nope", b"[1]", b'{"job_id": 7}'):
        with pytest.raises(MessageError, match='needs data {"job_id"'):
            edge.submit_job(PubSubMessage(data, {"action": "cancel", "requested_by": OWNER}, "c9"), deps)


# ---- zygarde cancel ----

def _run(deps, monkeypatch, *args, env=None):
    monkeypatch.setattr(cli_common, "local_deps", lambda: deps)
    monkeypatch.delenv("ZYGARDE_OWNER", raising=False)
    return CliRunner().invoke(cli.main, ["cancel", *args], env=env or {})


def _cancels(deps) -> list[tuple[dict, dict]]:
    return [(json.loads(data), attrs) for topic, data, attrs in deps.publisher.messages
            if topic == "jobs" and attrs.get("action") == "cancel"]


def test_cli_cancel_publishes_the_owner_s_request_which_the_handler_accepts(deps, monkeypatch):
    submit(job_message(), deps)
    result = _run(deps, monkeypatch, "job-1", "--owner", OWNER)
    assert result.exit_code == 0, result.output
    assert f"cancel requested for job job-1 by {OWNER}" in " ".join(result.output.split())
    [(data, attrs)] = _cancels(deps)
    assert data == {"job_id": "job-1", "requested_by": OWNER} and attrs["requested_by"] == OWNER
    edge.submit_job(PubSubMessage(json.dumps(data).encode(), attrs, "c1"), deps)
    assert deps.repo.get_job("job-1").state is JobState.CANCELLED


def test_cli_cancel_owner_defaults_to_zygarde_owner_then_the_local_user(deps, monkeypatch):
    submit(job_message(), deps)
    assert _run(deps, monkeypatch, "job-1", env={"ZYGARDE_OWNER": OWNER}).exit_code == 0
    monkeypatch.setattr(cli, "_local_user", lambda: "bob")
    result = _run(deps, monkeypatch, "job-1")
    assert result.exit_code == 1
    assert f"job job-1 is owned by {OWNER}, not bob: only its owner can cancel it" in " ".join(result.output.split())
    assert len(_cancels(deps)) == 1


def test_cli_cancel_of_an_unknown_job_says_so_and_fails(deps, monkeypatch):
    result = _run(deps, monkeypatch, "nope", "--owner", OWNER)
    assert result.exit_code == 1 and "no such job nope" in result.output
    assert _cancels(deps) == []
