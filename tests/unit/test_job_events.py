"""The zygarde-job-events topic: one message per ended job, however often the events that end it are
delivered, with the job's ids, owner, state, best score and model version (and never its data)."""
from __future__ import annotations

import json

from tests.unit.conftest import cancel_message, job_message
from tests.unit.test_handlers import deliver, finish, submit
from zygarde.domain.contracts import FinalizeResult
from zygarde.domain.model import FINALIZE, JobState
from zygarde.service_layer import edge
from zygarde.service_layer.locations import package_uri


def events(deps) -> list[tuple[dict, dict]]:
    return [(json.loads(data), attrs) for topic, data, attrs in deps.publisher.messages if topic == "job_events"]


def test_a_job_that_succeeds_sends_one_event_with_its_model_even_when_its_results_come_twice(deps):
    submit(job_message(), deps)
    for trial_id, auc in (("t0000", 0.8), ("t0001", 0.95), ("t0002", 0.85)):
        finish(deps, "job-1", trial_id, auc=auc, deliver_twice=True)
    assert events(deps) == []  # a running job sends nothing
    finish(deps, "job-1", "t0003", auc=0.9, deliver_twice=True)
    finalize = deps.repo.get_trial("job-1", FINALIZE)
    package = package_uri(deps.settings, deps.repo.get_job("job-1").spec.get("name") or "job-1", "job-1")
    deliver(deps, finalize, FinalizeResult("job-1", finalize.attempt, "SUCCEEDED", test_metrics={"areaUnderROC": 0.91},
                                           package_uri=package, manifest_uri=package + "manifest.json"), True, times=2)
    [(body, attrs)] = events(deps)
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.SUCCEEDED
    assert attrs == {"event": "job-ended", "job_id": "job-1", "owner": job.owner, "state": "SUCCEEDED"}
    assert body["best_trial_id"] == "t0001" and body["best_objective"] == 0.95 and body["metric"] == "areaUnderROC"
    assert body["model_version"] == job.model_version == 1 and body["model_name"] == job.model_name
    assert body["test_metrics"] == {"areaUnderROC": 0.91} and body["duration_seconds"] >= 0
    assert "spec" not in body and "dataset" not in json.dumps(body)


def test_a_cancelled_job_sends_one_event_however_often_the_cancel_comes(deps):
    submit(job_message(), deps)
    cancel = cancel_message("job-1", requested_by="ana@example.com")
    edge.submit_job(cancel, deps)
    edge.submit_job(cancel, deps)
    finish(deps, "job-1", "t0000")  # a late result changes nothing
    [(body, attrs)] = events(deps)
    assert attrs["state"] == body["state"] == "CANCELLED" and body["model_version"] is None
    assert body["reason"] == deps.repo.get_job("job-1").conditions[-1].reason
