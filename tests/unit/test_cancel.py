"""Only a job's owner cancels it, as the cancel's identity token proves (or a trusted delegate acting for
the owner): the handler against in-memory ports with real token verification, and `zygarde cancel`.
Every cancel is acknowledged: a refusal is logged and recorded on the job once per message; one that
cannot be read never reaches the store."""
from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from tests.unit.conftest import DELEGATE, PUBLISHED, T0, cancel_message, issuer, job_message, signed, token
from tests.unit.test_handlers import finish, finish_stage, submit, training_trials
from zygarde import cli, cli_common
from zygarde.config import jobs_audience
from zygarde.domain.identity import token_attributes
from zygarde.domain.model import FINALIZE, JobState, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.edge import acknowledge_permanent_errors
from zygarde.service_layer.edge import PubSubMessage

OWNER = "ana@example.com"


def _cancel(data: dict, message_id: str = "c1", attributes: dict | None = None, published: str = PUBLISHED) -> PubSubMessage:
    return PubSubMessage(json.dumps(data).encode(), {"action": "cancel", **(attributes or {})}, message_id, published)


def _snapshot(deps) -> tuple:
    job = deps.repo.get_job("job-1")
    return job.state, job.spec, deps.repo.list_trials("job-1"), sorted(deps.launcher.running)


def _refusals(deps) -> list[str]:
    return [c.message for c in deps.repo.get_job("job-1").conditions if c.reason == "CancelRefused"]


@pytest.mark.parametrize("message", [
    cancel_message("job-1"),
    cancel_message("job-1", requested_by=OWNER),
    _cancel({"job_id": "job-1", "requested_by": OWNER}, attributes=signed(OWNER, requested_by=OWNER)),
    _cancel({"job_id": "job-1"}, attributes=signed(DELEGATE, on_behalf_of="Ana@Example.com")),
], ids=["token", "requested_by-attribute", "requested_by-both", "trusted-delegate"])
def test_the_owner_s_cancel_cancels_and_a_second_delivery_changes_nothing(deps, message):
    submit(job_message(), deps)
    assert edge.submit_job(message, deps) == "job-1"
    writes = deps.repo.writes
    assert edge.submit_job(message, deps) == "job-1"
    assert deps.repo.writes == writes
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.CANCELLED and job.conditions[-1].message.startswith(f"cancelled by its owner {OWNER}")
    assert ("through " + DELEGATE in job.conditions[-1].message) == ("on_behalf_of" in message.attributes)
    assert {t.state for t in training_trials(deps, "job-1")} == {TrialState.CANCELLED}
    assert deps.launcher.running == []


def _expired() -> str:
    return issuer().mint(OWNER, jobs_audience("p"), lifetime=60, issued_at=T0.timestamp() - 7200)


def _forged() -> str:
    from zygarde.local.identity import TokenIssuer

    return TokenIssuer.generate(issuer().issuer).mint(OWNER, jobs_audience("p"), issued_at=T0.timestamp())


REFUSED = [
    ("unsigned", _cancel({"job_id": "job-1", "requested_by": OWNER}, attributes={"requested_by": OWNER}),
     "carries no identity token"),
    ("someone-else", cancel_message("job-1", sender="eve@example.com"), "eve@example.com is not the job's owner"),
    ("requested_by-attribute", cancel_message("job-1", sender="eve@example.com", requested_by=OWNER),
     "is not who signed the message (eve@example.com)"),
    ("requested_by-data", _cancel({"job_id": "job-1", "requested_by": "eve@example.com"}, attributes=signed(OWNER)),
     "is not who signed the message"),
    ("requested_by-not-a-string", _cancel({"job_id": "job-1", "requested_by": [OWNER]}, attributes=signed(OWNER)),
     "is not who signed the message"),
    ("plus-is-not-minus", cancel_message("job-1", sender="ana+x@example.com"), "ana+x@example.com is not the job"),
    ("forged-signature", _cancel({"job_id": "job-1"}, attributes={"token": _forged()}), "signature does not verify"),
    ("expired", _cancel({"job_id": "job-1"}, attributes={"token": _expired()}), "it has expired"),
    ("published-after-expiry", _cancel({"job_id": "job-1"}, attributes=signed(OWNER), published="2026-01-01T05:00:00Z"),
     "it has expired"),
    ("another-audience", _cancel({"job_id": "job-1"}, attributes={
        "token": issuer().mint(OWNER, "https://elsewhere.example", issued_at=T0.timestamp())}), "another audience"),
    ("not-a-delegate", cancel_message("job-1", sender="eve@example.com", on_behalf_of=OWNER),
     "eve@example.com may not act on behalf of another user"),
    ("garbage-token", _cancel({"job_id": "job-1"}, attributes={"token": "not.a.token"}), "proves no sender"),
]


@pytest.mark.parametrize("message, reason", [(m, r) for _, m, r in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_any_other_cancel_is_refused_recorded_once_acknowledged_and_changes_nothing(deps, caplog, message, reason):
    submit(job_message(), deps)
    before = _snapshot(deps)
    with caplog.at_level(logging.WARNING, logger="zygarde"):
        for _ in range(2):  # delivered twice
            assert edge.submit_job(message, deps) is None  # returns: the message is acknowledged
    assert _snapshot(deps) == before and deps.repo.get_job("job-1").state is JobState.RUNNING
    [recorded] = _refusals(deps)  # once, though delivered twice
    assert reason in recorded and recorded.endswith(f"(message {message.message_id})"), recorded
    assert "token=" not in recorded.replace("--attribute=token=", "")  # no token is ever echoed
    logged = [r.getMessage() for r in caplog.records if "cancel refused" in r.getMessage()]
    assert len(logged) == 2 and reason in logged[0] and "job_id=job-1 message_id=" in logged[0]


def test_refusals_recorded_on_a_job_are_bounded(deps):
    submit(job_message(), deps)
    for i in range(30):
        assert edge.submit_job(cancel_message("job-1", sender="eve@example.com", message_id=f"e{i}"), deps) is None
    assert len(_refusals(deps)) == 20 and deps.repo.get_job("job-1").state is JobState.RUNNING


def test_a_redelivery_long_after_the_token_expired_still_verifies_at_its_publish_time(deps):
    """The token (issued at T0, valid an hour) has long expired by the handler's clock and the real one:
    the message was published within its hour, which is what counts."""
    submit(job_message(), deps)
    deps.clock.t = T0.replace(year=2027)
    assert edge.submit_job(cancel_message("job-1"), deps) == "job-1"
    assert deps.repo.get_job("job-1").state is JobState.CANCELLED


def test_a_cancel_of_a_finished_job_changes_nothing(deps):
    submit(job_message(), deps)
    for trial in training_trials(deps, "job-1"):
        if deps.repo.get_trial("job-1", trial.trial_id).state is TrialState.RUNNING:
            finish(deps, "job-1", trial.trial_id)
    while deps.repo.get_job("job-1").state is JobState.RUNNING:
        running = [t for t in training_trials(deps, "job-1") if t.state is TrialState.RUNNING]
        if running:
            finish(deps, "job-1", running[0].trial_id)
        elif deps.repo.get_trial("job-1", FINALIZE) is not None:
            finish_stage(deps, "job-1", FINALIZE)
    assert deps.repo.get_job("job-1").state is JobState.SUCCEEDED
    before, writes = _snapshot(deps), deps.repo.writes
    assert edge.submit_job(cancel_message("job-1"), deps) == "job-1"
    assert _snapshot(deps) == before and deps.repo.writes == writes


@pytest.mark.parametrize("data", [
    b"nope", b"[1]", b'{"job_id": 7}', b"{}", b"\xff\xfe", b'{"job_id": "a/b"}', b'{"job_id": "../zygarde_capacity/0"}',
    b'{"job_id": "__x__"}', b'{"job_id": "job-1/trials/t0000"}', b'{"job_id": ""}', b'{"job_id": "' + b"j" * 2000 + b'"}',
], ids=["text", "list", "number", "empty", "binary", "slash", "capacity-path", "reserved", "subpath", "blank", "long"])
def test_a_cancel_that_cannot_be_read_is_acknowledged_before_the_store_is_read(deps, data):
    def untouchable(*_args, **_kwargs):
        raise AssertionError("the store was read")

    deps.repo.get_job = untouchable
    message = PubSubMessage(data, signed(OWNER, action="cancel"), "bad", PUBLISHED)
    from zygarde.domain.errors import MessageError

    with pytest.raises(MessageError, match='a cancel message needs data {"job_id"'):
        edge.submit_job(message, deps)
    for _ in range(2):  # at the edge: logged and acknowledged, delivered twice
        assert acknowledge_permanent_errors(edge.submit_job)(message, deps) is None


def test_a_cancel_of_no_such_job_is_acknowledged(deps):
    from zygarde.domain.errors import MessageError

    with pytest.raises(MessageError, match="no such job"):
        edge.submit_job(cancel_message("nope"), deps)


# ---- zygarde cancel ----

def _run(deps, monkeypatch, *args, user=OWNER):
    monkeypatch.setattr(cli_common, "local_deps", lambda: deps)
    return CliRunner().invoke(cli.main, ["cancel", *args], env={"ZYGARDE_IDENTITY_TOKEN": token(user)})


def _cancels(deps) -> list[tuple[dict, dict]]:
    return [(json.loads(data), attrs) for topic, data, attrs in deps.publisher.messages
            if topic == "jobs" and attrs.get("action") == "cancel"]


def test_cli_cancel_publishes_a_signed_request_which_the_handler_accepts(deps, monkeypatch):
    submit(job_message(), deps)
    result = _run(deps, monkeypatch, "job-1")
    assert result.exit_code == 0, result.output
    assert f"cancel requested for job job-1 by {OWNER}" in " ".join(result.output.split())
    [(data, attrs)] = _cancels(deps)
    assert data == {"job_id": "job-1"} and attrs == {**token_attributes(token(OWNER)), "action": "cancel"}
    edge.submit_job(PubSubMessage(json.dumps(data).encode(), attrs, "c1", PUBLISHED), deps)
    assert deps.repo.get_job("job-1").state is JobState.CANCELLED


def test_cli_cancel_of_someone_else_s_job_says_so_and_publishes_nothing(deps, monkeypatch):
    submit(job_message(), deps)
    result = _run(deps, monkeypatch, "job-1", user="bob@example.com")
    assert result.exit_code == 1
    assert f"job job-1 is owned by {OWNER}, not you (bob@example.com)" in " ".join(result.output.split())
    assert _cancels(deps) == []


def test_cli_cancel_of_an_unknown_job_says_so_and_fails(deps, monkeypatch):
    result = _run(deps, monkeypatch, "nope")
    assert result.exit_code == 1 and "no such job nope" in result.output
    assert _cancels(deps) == []
