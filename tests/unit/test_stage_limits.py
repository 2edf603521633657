"""Stage time limits and the retry decision, through the message bus on in-memory ports: each piece of work
is claimed with a limit from its stage's predicted cost (floor, ceiling) and Dataproc gets a ttl to match; a
stage stopped at its limit, or a deterministic failure, is final (never retried), delivered twice or not; a
warm batch gets only work that fits in what is left of its ttl. The pure rules: job_aggregate.failure and
batch_ended, domain/time_limits.py."""
from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from tests.unit.conftest import DATA_URI, job_message, spec_dict
from tests.unit.test_handlers import deliver, submit
from tests.unit.test_pack_launching import _prepared_without_exit, pack_batches, packed_spec, warm
from zygarde.domain import time_limits
from zygarde.domain.contracts import PackRequest, PrepareRequest, PrepareResult, TrialResult
from zygarde.domain.job_aggregate import batch_ended, failure
from zygarde.domain.messages import Retry
from zygarde.domain.model import PREPARE, Trial, TrialState
from zygarde.domain.reasons import Reason
from zygarde.service_layer import edge
from zygarde.service_layer.edge import reconcile
from zygarde.service_layer.ports import BatchInfo
from zygarde.spark.failures import describe_failure

# How Spark reports a task that overflowed its stack (the 10,000-column preparation of the audit).
STACK_OVERFLOW = ("An error occurred while calling o211.collectToPython.\n: org.apache.spark.SparkException: Job "
                  "aborted due to stage failure: Task 0 in stage 9.0 failed 1 times, most recent failure: Lost task "
                  "0.0 in stage 9.0 (TID 9) (10.0.0.3 executor driver): java.lang.StackOverflowError\n\tat scala."
                  "collection.immutable.LazyList.isEmpty(LazyList.scala:263)")


def _request(deps, trial) -> dict:
    return json.loads(deps.launcher.requests[trial.batch_id].args[1])


def test_a_preparation_s_limit_and_ttl_follow_its_dataset_s_size(deps):
    big = "gs://bkt/datasets/ana@example.com/big.csv"
    deps.blobs.write_bytes(big, deps.blobs.read_bytes(DATA_URI))
    size = 2 * 1024 ** 3  # as the bucket lists it: 2 GiB
    sizes = deps.blobs.sizes
    deps.blobs.sizes = lambda prefix: {big: size} if prefix == big else sizes(prefix)
    submit(job_message(spec_dict(job_id="small")), deps)
    edge.submit_job(job_message(spec_dict(job_id="large", dataset={"uri": big, "format": "csv", "target": "y"}),
                                message_id="m2"), deps)
    small, large = deps.repo.get_trial("small", PREPARE), deps.repo.get_trial("large", PREPARE)
    assert small.time_limit_seconds == time_limits.FLOOR_SECONDS  # 37 bytes: the floor
    expected = round(time_limits.SAFETY * time_limits.prepare_seconds(size))
    assert abs(large.time_limit_seconds - expected) <= 1 and large.time_limit_seconds > time_limits.FLOOR_SECONDS
    request = PrepareRequest.from_dict(_request(deps, large))
    assert request.time_limit_seconds == large.time_limit_seconds
    assert request.dataset_home == "gs://bkt/datasets/ana@example.com/"  # the batch checks what it lists against it
    batch = deps.launcher.requests[large.batch_id]
    assert batch.ttl_seconds == large.time_limit_seconds + time_limits.TTL_MARGIN_SECONDS  # no handoffs: packing off


def test_limits_never_pass_the_ceiling(deps):
    deps.settings = dataclasses.replace(deps.settings, batch_ttl="900s")
    big = "gs://bkt/datasets/ana@example.com/big.csv"
    deps.blobs.write_bytes(big, deps.blobs.read_bytes(DATA_URI))
    deps.blobs.sizes = lambda prefix: {big: 10 ** 12}
    edge.submit_job(job_message(spec_dict(dataset={"uri": big, "format": "csv", "target": "y"})), deps)
    prepare = deps.repo.get_trial("job-1", PREPARE)
    assert prepare.time_limit_seconds == 900 and deps.launcher.requests[prepare.batch_id].ttl_seconds == 900


def test_a_pack_s_limit_comes_from_the_planner_s_predicted_seconds(deps):
    warm(deps)
    submit(job_message(packed_spec(max_parallel=1)), deps)
    [(batch_id, request)] = pack_batches(deps).items()
    trial = deps.repo.get_trial("job-1", request.trials[0].trial_id)
    assert request.time_limit_seconds == trial.time_limit_seconds >= time_limits.FLOOR_SECONDS
    assert request.handoff_prefix  # a pack waits for its job's next work: its ttl leaves room for it
    assert deps.launcher.requests[batch_id].ttl_seconds == (
        trial.time_limit_seconds + time_limits.TTL_MARGIN_SECONDS + time_limits.HANDOFF_ALLOWANCE_SECONDS)


def test_a_stage_stopped_at_its_limit_is_final_delivered_twice(deps):
    submit(job_message(spec_dict(max_parallel=1, max_attempts=3)), deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    result = TrialResult("job-1", "t0000", trial.attempt, "FAILED", error="the training ran past its time limit of "
                         "600 s (set from its predicted cost) and was stopped", error_kind="time_limit")
    deliver(deps, trial, result, False, times=2)
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.FAILED and trial.attempt == 1
    assert trial.conditions[-1].reason == "TimeLimitExceeded" and "time limit of 600 s" in trial.error


def test_a_deterministic_failure_is_never_retried_delivered_twice(deps):
    submit(job_message(spec_dict(max_parallel=1, max_attempts=3)), deps)
    kind, message = describe_failure(RuntimeError(STACK_OVERFLOW), "training")
    assert kind == "deterministic" and "StackOverflowError" in message
    trial = deps.repo.get_trial("job-1", "t0000")
    deliver(deps, trial, TrialResult("job-1", "t0000", trial.attempt, "FAILED", error=message, error_kind=kind), False,
            times=2)
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.FAILED and trial.attempt == 1 and trial.conditions[-1].reason == "DeterministicFailure"
    assert len([b for b in deps.launcher.requests if "-t0000-" in b]) == 1  # no second batch


def test_a_preparation_that_overflows_its_stack_fails_the_job_at_once(deps):
    edge.submit_job(job_message(spec_dict(max_attempts=3)), deps)
    kind, message = describe_failure(RuntimeError(STACK_OVERFLOW), "data preparation")
    prepare = deps.repo.get_trial("job-1", PREPARE)
    deliver(deps, prepare, PrepareResult("job-1", prepare.attempt, "FAILED", error=message, error_kind=kind), False,
            times=2)
    assert deps.repo.get_trial("job-1", PREPARE).state is TrialState.FAILED
    assert deps.repo.get_job("job-1").state.value == "FAILED"
    assert len(deps.launcher.requests) == 1


def test_a_batch_ended_by_its_ttl_is_final_not_retried_by_two_ticks(deps):
    submit(job_message(spec_dict(max_parallel=1, max_attempts=3)), deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    deps.launcher.finish(trial.batch_id, "FAILED", "The batch ran longer than its TTL of 720s and was terminated.")
    reconcile(deps)
    reconcile(deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.FAILED and trial.attempt == 1
    assert trial.conditions[-1].reason == "TimeLimitExceeded" and "time limit of 600 s" in trial.error


def test_a_batch_that_exited_past_its_stage_s_limit_is_final_one_that_died_early_is_retried(deps):
    submit(job_message(spec_dict(max_parallel=2, max_attempts=3)), deps)
    late, early = deps.repo.get_trial("job-1", "t0000"), deps.repo.get_trial("job-1", "t0001")
    started = lambda t: __import__("datetime").datetime.fromisoformat(t.started_at)  # noqa: E731
    deps.launcher.finish(late.batch_id, "FAILED", "Job failed", state_time=started(late) + timedelta(seconds=700))
    deps.launcher.finish(early.batch_id, "FAILED", "Job failed", state_time=started(early) + timedelta(seconds=30))
    reconcile(deps)
    assert deps.repo.get_trial("job-1", "t0000").state is TrialState.FAILED
    again = deps.repo.get_trial("job-1", "t0001")
    assert again.attempt == 2 and any(c.reason == "Retrying" for c in again.conditions)


def test_a_secret_in_a_dead_batch_s_message_stays_out_of_the_reason(deps):
    submit(job_message(spec_dict(max_parallel=1, max_attempts=1)), deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    deps.launcher.finish(trial.batch_id, "FAILED", "Job failed with message [org.apache.spark.SparkNumberFormatException:"
                         " [CAST_INVALID_INPUT] The value 'hunter2' of the type \"STRING\" cannot be cast to \"BIGINT\"]")
    reconcile(deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.FAILED and "hunter2" not in trial.error and "CAST_INVALID_INPUT" in trial.error


def test_a_warm_batch_gets_only_work_that_fits_in_what_is_left_of_its_ttl(deps):
    warm(deps)
    edge.submit_job(job_message(packed_spec(max_parallel=1)), deps)
    prepare = deps.repo.get_trial("job-1", PREPARE)
    [hold] = deps.repo.slot_holders("job-1").values()
    ttl = deps.launcher.requests[prepare.batch_id].ttl_seconds
    assert hold.ttl_seconds == ttl == (time_limits.FLOOR_SECONDS + time_limits.TTL_MARGIN_SECONDS
                                       + time_limits.HANDOFF_ALLOWANCE_SECONDS)
    deps.clock.t += timedelta(seconds=ttl - 300)  # 300 s left: less than a pack's limit
    _prepared_without_exit(deps)
    [pack] = pack_batches(deps)
    assert pack != prepare.batch_id  # a new batch, not the warm one


def test_a_warm_batch_with_time_left_takes_the_pack(deps):
    warm(deps)
    edge.submit_job(job_message(packed_spec(max_parallel=1)), deps)
    prepare = deps.repo.get_trial(job_id := "job-1", PREPARE)
    _prepared_without_exit(deps)
    trials = [t for t in deps.repo.list_trials(job_id) if t.pack_id]
    assert trials and all(t.batch_id == prepare.batch_id and t.handoff == 1 for t in trials)
    request = PackRequest.from_json(json.dumps(json.loads(deps.blobs.read_bytes(
        f"gs://bkt/artifacts/{job_id}/handoff/{prepare.batch_id}/1.json"))["request"]))
    assert request.time_limit_seconds == trials[0].time_limit_seconds


def test_the_dataproc_batch_carries_the_request_s_ttl_capped_by_the_launcher_s():
    from zygarde.adapters.dataproc import DataprocBatchLauncher
    from zygarde.service_layer.ports import BatchRequest

    launcher = DataprocBatchLauncher("p", "us-central1", ttl="3600s")
    short = launcher._batch(BatchRequest("b", "gs://c/main.py", ttl_seconds=720))
    assert short.environment_config.execution_config.ttl.total_seconds() == 720
    capped = launcher._batch(BatchRequest("b", "gs://c/main.py", ttl_seconds=99999))
    assert capped.environment_config.execution_config.ttl.total_seconds() == 3600
    default = launcher._batch(BatchRequest("b", "gs://c/main.py"))
    assert default.environment_config.execution_config.ttl.total_seconds() == 3600


def test_stage_limit_rules():
    assert time_limits.stage_limit(1.0, 14400) == time_limits.FLOOR_SECONDS
    assert time_limits.stage_limit(100.0, 14400) == 1000
    assert time_limits.stage_limit(10_000.0, 14400) == 14400
    assert time_limits.stage_limit(None, 14400) == 14400  # unknown cost: the ceiling, as before
    assert time_limits.batch_ttl(1000, 14400, takes_handoffs=False) == 1000 + time_limits.TTL_MARGIN_SECONDS
    assert time_limits.batch_ttl(14400, 14400, takes_handoffs=True) == 14400
    assert time_limits.seconds("4h") == 14400 and time_limits.seconds("600s") == 600
    assert BatchInfo("b", "RUNNING").state_time is None



def test_failure_kinds_and_their_retries():
    assert failure("runtime", "lost executor") == failure("runtime", "lost executor")
    assert failure("runtime", "x").retry is Retry.IF_ATTEMPTS_LEFT and failure("runtime", "x").reason is Reason.BATCH_FAILED
    assert failure(None, "x").retry is Retry.NEVER  # a kind the batch did not give is not assumed transient
    for kind, reason in [("data", Reason.DATA_ERROR), ("deterministic", Reason.DETERMINISTIC_FAILURE),
                         ("resource", Reason.RESOURCE_EXHAUSTED), ("time_limit", Reason.TIME_LIMIT_EXCEEDED)]:
        assert (failure(kind, "m").reason, failure(kind, "m").retry, failure(kind, "m").ok) == (reason, Retry.NEVER, False)


def test_a_batch_ended_without_a_result_by_its_limit_or_not():
    started = "2026-01-01T00:00:00+00:00"
    trial = Trial(job_id="j", trial_id="t0000", index=0, algorithm="logistic_regression", params={}, state=TrialState.RUNNING,
                  attempt=1, slot=0, batch_id="b", started_at=started, time_limit_seconds=600)
    at = __import__("datetime").datetime.fromisoformat(started)
    assert batch_ended(trial, "FAILED", "", at + timedelta(seconds=600)).reason is Reason.TIME_LIMIT_EXCEEDED
    assert batch_ended(trial, "FAILED", "ran longer than its TTL", at).retry is Retry.NEVER
    died = batch_ended(trial, "FAILED", "Job failed: 'hunter2'", at + timedelta(seconds=60))
    assert (died.reason, died.retry) == (Reason.BATCH_DIED, Retry.IF_ATTEMPTS_LEFT) and "hunter2" not in died.message
    assert batch_ended(dataclasses.replace(trial, time_limit_seconds=None), "FAILED", "ttl", at).reason is Reason.BATCH_DIED
    assert batch_ended(trial, "MISSING", "", None).reason is Reason.BATCH_DIED
