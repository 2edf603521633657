"""Trial and job snapshots: transition table, invariants, conditions."""
from __future__ import annotations

import base64

import pytest

from zygarde.domain.errors import InvalidTransition, PermanentError, TransientError
from zygarde.domain.model import Trial, TrialState, best_trial
from zygarde.service_layer.edge import acknowledge_permanent_errors, decode_pubsub
from zygarde.service_layer.edge import PubSubMessage

NOW = "2026-01-01T00:00:00+00:00"


def trial(**kw) -> Trial:
    return Trial(job_id="j", trial_id="t0000", index=0, algorithm="logistic_regression", params={}, **kw)


def test_transitions_record_conditions_and_refuse_illegal_moves():
    t = trial().transition(TrialState.LAUNCHING, "SlotClaimed", "slot 0", NOW, slot=0, attempt=1)
    t = t.transition(TrialState.RUNNING, "BatchCreated", "b", NOW)
    t = t.transition(TrialState.SUCCEEDED, "Done", "auc=1", NOW, objective=1.0)
    assert [c.reason for c in t.conditions] == ["SlotClaimed", "BatchCreated", "Done"]
    assert t.finished_at == NOW and t.state.is_finished()
    for target in TrialState:
        with pytest.raises(InvalidTransition):
            t.transition(target, "Again", "", NOW)
    with pytest.raises(InvalidTransition):
        trial().transition(TrialState.SUCCEEDED, "Skip", "", NOW, objective=1.0)


def test_snapshots_check_their_invariants():
    with pytest.raises(ValueError, match="objective"):
        trial(state=TrialState.SUCCEEDED)
    with pytest.raises(ValueError, match="error"):
        trial(state=TrialState.FAILED)
    with pytest.raises(ValueError, match="slot"):
        trial(state=TrialState.RUNNING)


def test_best_trial_respects_direction_and_ties():
    a = trial(state=TrialState.SUCCEEDED, objective=0.5)
    b = Trial("j", "t0001", 1, "x", {}, state=TrialState.SUCCEEDED, objective=0.9)
    c = Trial("j", "t0002", 2, "x", {}, state=TrialState.SUCCEEDED, objective=0.9)
    assert best_trial([a, b, c], "maximize") is b
    assert best_trial([a, b, c], "minimize") is a
    assert best_trial([trial()], "maximize") is None


def test_decode_pubsub_envelope():
    data = {"message": {"data": base64.b64encode(b'{"a": 1}').decode(), "attributes": {"k": "v"},
                        "messageId": "42", "publishTime": "2026-01-01T00:00:01.5Z"},
            "subscription": "projects/p/subscriptions/s"}
    source = "//pubsub.googleapis.com/projects/p/topics/t"
    assert decode_pubsub(data, source) == PubSubMessage(b'{"a": 1}', {"k": "v"}, "42", "2026-01-01T00:00:01.5Z", source)
    assert decode_pubsub(None) == PubSubMessage(b"", {}, "")


def test_permanent_errors_are_acknowledged_transient_ones_retried():
    def permanent(_, deps):
        raise PermanentError("bad")

    def transient(_, deps):
        raise TransientError("later")

    assert acknowledge_permanent_errors(permanent)(PubSubMessage(b""), None) is None
    with pytest.raises(TransientError):
        acknowledge_permanent_errors(transient)(PubSubMessage(b""), None)
