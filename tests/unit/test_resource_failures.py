"""An out-of-memory failure ("resource") ends the trial or the preparation with its reason: a new
attempt with the same memory would fail the same way, so it is not retried identically."""
from __future__ import annotations

from tests.unit.conftest import job_message, spec_dict
from tests.unit.test_handlers import deliver, finish, submit
from zygarde.domain.contracts import PrepareResult
from zygarde.domain.model import PREPARE, JobState, TrialState
from zygarde.service_layer import edge

OOM = ("the data preparation ran out of memory in the driver (Java heap space); give the batch more memory "
       "(spark.driver.memory / spark.executor.memory) or select fewer columns (data.include_columns / "
       "data.exclude_columns)")


def test_a_resource_failure_of_a_trial_is_not_retried(deps):
    submit(job_message(spec_dict(max_parallel=1, max_attempts=3)), deps)
    finish(deps, "job-1", "t0000", status="FAILED", error_kind="resource")
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.FAILED and trial.attempt == 1


def test_a_preparation_out_of_memory_fails_the_job_once_with_its_reason(deps):
    job_id = edge.submit_job(job_message(spec_dict(max_attempts=3)), deps)
    prep = deps.repo.get_trial(job_id, PREPARE)
    deliver(deps, prep, PrepareResult(job_id, prep.attempt, "FAILED", error=OOM, error_kind="resource"), False)
    prep = deps.repo.get_trial(job_id, PREPARE)
    assert prep.state is TrialState.FAILED and prep.attempt == 1 and prep.error == OOM
    assert len(deps.launcher.batches) == 1  # the preparation, launched once
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.FAILED and "ran out of memory" in job.error
