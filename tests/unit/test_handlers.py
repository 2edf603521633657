"""The handlers against in-memory ports: the whole lifecycle, duplicates, bad input."""
from __future__ import annotations

import json

from tests.unit.conftest import DATA_URI, cancel_message, job_message, raw_message, spec_dict
from zygarde.domain.contracts import FinalizeResult, PrepareResult, TrialResult
from zygarde.domain.errors import AccessDenied
from zygarde.domain.model import FINALIZE, PREPARE, TRAIN, JobState, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.edge import PubSubMessage
from zygarde.service_layer.locations import data_prefix, package_uri, trial_uris
from zygarde.service_layer.scheduling_board import SlotHold


def deliver(deps, trial, result, ok: bool, times: int = 1, end_batch: bool = True) -> None:
    """Write a batch's result object, end its batch, deliver the notification `times` times."""
    _, uri = trial_uris(deps.settings, trial.job_id, trial.trial_id, trial.attempt)
    deps.blobs.write_bytes(uri, result.to_json().encode())
    if end_batch:
        deps.launcher.finish(trial.batch_id, "SUCCEEDED" if ok else "FAILED")
    msg = PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": uri.removeprefix("gs://bkt/"), "eventType": "OBJECT_FINALIZE"})
    for _ in range(times):
        edge.on_trial_result(msg, deps)


def model_of(deps, trial) -> str:
    """Where the control plane expects this attempt's model (a result naming another is refused)."""
    return trial_uris(deps.settings, trial.job_id, trial.trial_id, trial.attempt)[0]


def finish_stage(deps, job_id, kind, ok=True, error="the target has one class", times=1):
    trial = deps.repo.get_trial(job_id, kind)
    if kind == PREPARE:
        result = PrepareResult(job_id, trial.attempt, "SUCCEEDED" if ok else "FAILED",
                               report={"row_count": 100, "warnings": []}, rows={"train": 65, "validation": 20, "test": 15},
                               parts={"train": data_prefix(deps.settings, job_id) + "train"}, error=None if ok else error,
                               error_kind=None if ok else "data")
    else:
        package = package_uri(deps.settings, deps.repo.get_job(job_id).spec.get("name") or job_id, job_id)
        result = FinalizeResult(job_id, trial.attempt, "SUCCEEDED" if ok else "FAILED",
                                test_metrics={"areaUnderROC": 0.91} if ok else {}, package_uri=package,
                                manifest_uri=package + "manifest.json", error=None if ok else error,
                                error_kind=None if ok else "runtime")
    deliver(deps, trial, result, ok, times)


def submit(msg, deps):
    """Submit a job and complete its data preparation."""
    job_id = edge.submit_job(msg, deps)
    prep = deps.repo.get_trial(job_id, PREPARE) if job_id else None
    if prep is not None and prep.state is TrialState.RUNNING:
        finish_stage(deps, job_id, PREPARE)
    return job_id


def finish(deps, job_id, trial_id, status="SUCCEEDED", auc=0.9, error_kind=None, deliver_twice=False):
    """Complete a training trial (and the job's finalisation when that starts)."""
    trial = deps.repo.get_trial(job_id, trial_id)
    metrics = {"areaUnderROC": auc, "f1": 0.5} if status == "SUCCEEDED" else {}
    result = TrialResult(job_id, trial_id, trial.attempt, status, metrics, model_uri=model_of(deps, trial) if metrics else None,
                         error=None if metrics else "boom", error_kind=error_kind)
    deliver(deps, trial, result, status == "SUCCEEDED", 2 if deliver_twice else 1)
    fin = deps.repo.get_trial(job_id, FINALIZE)
    if fin is not None and fin.state is TrialState.RUNNING:
        finish_stage(deps, job_id, FINALIZE)


def training_trials(deps, job_id):
    return [t for t in deps.repo.list_trials(job_id) if t.kind == TRAIN]


def train_batches(deps):
    return [b for b in deps.launcher.batches.values() if b.labels.get("zygarde-kind") == TRAIN]


def test_submit_records_job_and_launches_up_to_max_parallel(deps):
    assert submit(job_message(), deps) == "job-1"
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.RUNNING and job.trial_count == 4
    states = [t.state for t in training_trials(deps, "job-1")]
    assert states == [TrialState.RUNNING, TrialState.RUNNING, TrialState.WAITING, TrialState.WAITING]
    assert sorted(deps.launcher.running) == ["zyg-job-1-t0000-a1", "zyg-job-1-t0001-a1"]
    assert deps.launcher.requests["zyg-job-1-prepare-a1"].main_python_file_uri.endswith("/prepare_data.py")
    req = deps.launcher.requests["zyg-job-1-t0000-a1"]
    assert req.main_python_file_uri == "gs://bkt/code/dev/train_pack.py"  # a pack of one: the job does not pack
    [packed] = json.loads(req.args[1])["trials"]
    assert packed["params"] == {"regParam": 0.0} and packed["model_uri"] == model_of(deps, training_trials(deps, "job-1")[0])
    assert job.conditions[0].message.startswith("4 trials to run after the data is prepared; plan: about ")


def test_k_fold_cost_is_stated_when_the_job_is_accepted(deps):
    edge.submit_job(job_message(spec_dict(data={"k_folds": 3})), deps)
    assert "with 3-fold cross-validation each trial fits 4 models" in deps.repo.get_job("job-1").conditions[0].message


def test_duplicate_submit_records_and_launches_nothing_more(deps):
    submit(job_message(), deps)
    writes, creates = deps.repo.writes, deps.launcher.create_calls
    submit(job_message(), deps)
    assert deps.repo.writes == writes
    assert deps.launcher.create_calls == creates
    assert len(train_batches(deps)) == 2


def test_results_launch_next_and_finish_with_best(deps):
    submit(job_message(), deps)
    finish(deps, "job-1", "t0000", auc=0.80)
    assert deps.repo.get_trial("job-1", "t0002").state is TrialState.RUNNING
    finish(deps, "job-1", "t0001", auc=0.95)
    finish(deps, "job-1", "t0002", auc=0.85)
    assert deps.repo.get_job("job-1").state is JobState.RUNNING
    finish(deps, "job-1", "t0003", auc=0.90)
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.SUCCEEDED and job.best_trial_id == "t0001" and job.best_objective == 0.95
    assert len(train_batches(deps)) == 4
    assert deps.repo.slot_holders("job-1") == {}


def test_result_delivered_twice_changes_nothing(deps):
    submit(job_message(), deps)
    finish(deps, "job-1", "t0000", deliver_twice=True)
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.SUCCEEDED
    assert [c.state for c in trial.conditions] == ["LAUNCHING", "RUNNING", "SUCCEEDED"]
    assert len(train_batches(deps)) == 3  # one more launched, not two


def test_runtime_failure_retries_once_then_fails(deps):
    submit(job_message(spec_dict(max_parallel=1, max_attempts=2)), deps)
    finish(deps, "job-1", "t0000", status="FAILED", error_kind="runtime")
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.RUNNING and trial.attempt == 2 and trial.batch_id.endswith("-a2")
    finish(deps, "job-1", "t0000", status="FAILED", error_kind="runtime")
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.FAILED and trial.error == "boom"


def test_data_failure_is_not_retried(deps):
    submit(job_message(spec_dict(max_parallel=1)), deps)
    finish(deps, "job-1", "t0000", status="FAILED", error_kind="data")
    assert deps.repo.get_trial("job-1", "t0000").state is TrialState.FAILED


def test_all_failed_fails_the_job_with_reason(deps):
    spec = spec_dict(candidates=[{"algorithm": "logistic_regression"}])
    submit(job_message(spec), deps)
    finish(deps, "job-1", "t0000", status="FAILED", error_kind="data")
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.FAILED and "boom" in job.error


def test_bad_inputs_are_rejected_with_reason_and_launch_nothing(deps):
    cases = {
        "not json": (b"{oops", "not valid JSON"),
        "algo": (spec_dict(job_id="bad-algo", candidates=[{"algorithm": "deep_magic"}]), "unknown algorithm"),
        "param": (spec_dict(job_id="bad-param", candidates=[{"algorithm": "logistic_regression",
                                                             "params": {"numTrees": [3]}}]), "no hyperparameter"),
        "target": (spec_dict(job_id="bad-target", dataset={"uri": DATA_URI, "format": "csv",
                                                           "target": "price"}), "target column 'price'"),
        "missing": (spec_dict(job_id="bad-data", dataset={"uri": DATA_URI.replace("d.csv", "nope.csv"), "format": "csv",
                                                          "target": "y"}), "does not exist"),
    }
    for i, (raw, expected) in enumerate(cases.values()):
        data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
        job_id = edge.submit_job(raw_message(data, f"msg-{i}"), deps)
        job = deps.repo.get_job(job_id)
        assert job.state is JobState.REJECTED, raw
        assert expected in job.error, job.error
    assert deps.launcher.create_calls == 0


def test_job_file_dropped_in_bucket_is_submitted(deps):
    deps.blobs.write_bytes("gs://bkt/jobs/ana@example.com/mine.json", json.dumps(spec_dict(job_id=None)).encode())
    msg = PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": "jobs/ana@example.com/mine.json", "objectGeneration": "7",
                          "eventType": "OBJECT_FINALIZE"}, "n1")
    job_id = edge.submit_job(msg, deps)
    assert job_id.startswith("j") and deps.repo.get_job(job_id).state is JobState.RUNNING
    assert edge.submit_job(msg, deps) == job_id  # the same notification twice: one job


def test_a_job_file_zygarde_may_not_read_is_recorded_rejected_once(deps):
    from zygarde.domain.errors import AccessDenied

    def denied(uri, max_bytes=None):
        raise AccessDenied(f"access to {uri} is denied (read): 403")

    deps.blobs.read_bytes = denied
    msg = PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": "jobs/ana@example.com/locked.json", "objectGeneration": "3",
                          "eventType": "OBJECT_FINALIZE"}, "n1")
    job_id = edge.submit_job(msg, deps)
    assert edge.submit_job(msg, deps) == job_id  # redelivered: the same record
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.REJECTED and "ana@example.com/locked.json cannot be read" in job.error
    assert "403" in job.error and job.owner == "ana@example.com"
    assert deps.launcher.create_calls == 0


def test_a_job_id_taken_by_another_job_is_rejected_under_its_own_record(deps):
    submit(job_message(), deps)
    other = spec_dict(max_parallel=1)
    dup_ids = {edge.submit_job(job_message(other, f"m{i}"), deps) for i in (2, 3)}  # twice: one record
    assert len(dup_ids) == 1 and (dup_id := dup_ids.pop()).startswith("job-1-dup-")
    dup = deps.repo.get_job(dup_id)
    assert dup.state is JobState.REJECTED and "job id job-1 is already used by another job" in dup.error
    assert deps.repo.get_job("job-1").state is JobState.RUNNING and deps.repo.get_job("job-1").spec["max_parallel"] == 2


def test_an_unreadable_result_fails_the_attempt_and_is_retried_then_fails(deps):
    submit(job_message(spec_dict(max_attempts=2)), deps)
    for attempt, garbage in ((1, b"[1, 2]"), (2, b'{"job_id": "job-1"')):
        trial = deps.repo.get_trial("job-1", "t0000")
        assert trial.attempt == attempt and trial.state is TrialState.RUNNING
        _, uri = trial_uris(deps.settings, "job-1", "t0000", attempt)
        deps.blobs.write_bytes(uri, garbage)
        deps.launcher.finish(trial.batch_id, "SUCCEEDED")
        msg = PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": uri.removeprefix("gs://bkt/")})
        for _ in range(2):  # delivered twice: one retry, not two
            edge.on_trial_result(msg, deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.FAILED and "cannot be read" in trial.error
    assert [c.reason for c in trial.conditions].count("Retrying") == 1


def test_one_broken_trial_does_not_stop_the_reconciler_for_the_others(deps):
    submit(job_message(spec_dict(max_parallel=2, max_attempts=1)), deps)
    first, second = training_trials(deps, "job-1")[:2]
    deps.launcher.finish(first.batch_id, "FAILED", "executor lost")
    deps.launcher.finish(second.batch_id, "FAILED", "executor lost")
    real_exists = deps.blobs.exists

    def exists(uri):  # the first trial's result cannot be looked at
        if "/t0000/" in uri:
            raise AccessDenied(f"access to {uri} is denied (exists): 403")
        return real_exists(uri)

    deps.blobs.exists = exists
    report = edge.reconcile(deps)
    assert report["dead_batches"] == 1 and report["launched"] >= 1
    assert deps.repo.get_trial("job-1", second.trial_id).state is TrialState.FAILED
    assert deps.repo.get_trial("job-1", first.trial_id).state is TrialState.RUNNING  # left for a later tick


def test_reconciler_fails_dead_batch_then_retry_and_recovers_lost_result(deps):
    submit(job_message(spec_dict(max_parallel=2, max_attempts=1)), deps)
    # t0000's batch dies with no result
    deps.launcher.finish("zyg-job-1-t0000-a1", "FAILED", "executor lost")
    # t0001 wrote its result but the notification was lost
    trial = deps.repo.get_trial("job-1", "t0001")
    _, uri = trial_uris(deps.settings, "job-1", "t0001", 1)
    deps.blobs.write_bytes(uri, TrialResult("job-1", "t0001", 1, "SUCCEEDED", {"areaUnderROC": 0.7}).to_json().encode())
    deps.launcher.finish(trial.batch_id, "SUCCEEDED")
    report = edge.reconcile(deps)
    assert report["dead_batches"] == 1 and report["recovered_results"] == 1
    dead = deps.repo.get_trial("job-1", "t0000")
    assert dead.state is TrialState.FAILED and "executor lost" in dead.error
    assert deps.repo.get_trial("job-1", "t0001").state is TrialState.SUCCEEDED
    assert [t.state for t in training_trials(deps, "job-1")][2:] == [TrialState.RUNNING, TrialState.RUNNING]
    again = edge.reconcile(deps)  # replay: nothing more happens
    assert again == {"recovered_results": 0, "dead_batches": 0, "launched": 0, "cancelled_batches": 0,
                     "released_slots": 0, "orphan_trials": 0}


def test_reconciler_cancels_batches_of_finished_jobs(deps):
    submit(job_message(), deps)
    deps.repo.update_job("job-1", lambda j: j.transition(JobState.CANCELLED, "UserCancelled", "stop", "2026-01-02"))
    report = edge.reconcile(deps)
    assert report["cancelled_batches"] == 2 and deps.launcher.running == []
    assert {t.state for t in training_trials(deps, "job-1")} == {TrialState.CANCELLED, TrialState.WAITING}


def test_transient_launch_error_leaves_trial_launching_and_redelivery_resumes(deps):
    import pytest

    from zygarde.domain.errors import TransientError

    deps.launcher.fail_next_create = TransientError("quota")
    with pytest.raises(TransientError):
        edge.submit_job(job_message(), deps)
    assert deps.repo.get_trial("job-1", PREPARE).state is TrialState.LAUNCHING
    edge.submit_job(job_message(), deps)  # Pub/Sub redelivers
    assert deps.repo.get_trial("job-1", PREPARE).state is TrialState.RUNNING
    assert len(deps.launcher.batches) == 1
    finish_stage(deps, "job-1", PREPARE)
    assert [t.state for t in training_trials(deps, "job-1")][:2] == [TrialState.RUNNING, TrialState.RUNNING]


def test_cancel_stops_batches_and_waiting_trials_and_replays_change_nothing(deps):
    submit(job_message(), deps)
    cancel = cancel_message("job-1", requested_by="ana@example.com")
    assert edge.submit_job(cancel, deps) == "job-1"
    writes = deps.repo.writes
    edge.submit_job(cancel, deps)
    assert deps.repo.writes == writes
    assert deps.repo.get_job("job-1").state is JobState.CANCELLED
    assert {t.state for t in training_trials(deps, "job-1")} == {TrialState.CANCELLED}
    assert deps.launcher.running == [] and len(train_batches(deps)) == 2
    finish(deps, "job-1", "t0000")  # a late result changes nothing
    assert deps.repo.get_trial("job-1", "t0000").state is TrialState.CANCELLED
    assert edge.reconcile(deps)["launched"] == 0


def test_cancel_of_unknown_job_is_a_clear_permanent_error(deps):
    import pytest

    from zygarde.domain.errors import MessageError

    with pytest.raises(MessageError, match="no such job"):
        edge.submit_job(cancel_message("nope", message_id="c2"), deps)
    with pytest.raises(MessageError, match="needs data"):
        edge.submit_job(PubSubMessage(b'nope', {"action": "cancel"}, "c3"), deps)


def test_data_that_cannot_serve_fails_the_job_before_any_trial(deps):
    edge.submit_job(job_message(), deps)
    finish_stage(deps, "job-1", PREPARE, ok=False, error="the target 'y' has 1 class; 2 are needed", times=2)
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.FAILED and "1 class" in job.error and job.conditions[-1].reason == "DataRejected"
    assert train_batches(deps) == [] and {t.state for t in training_trials(deps, "job-1")} == {TrialState.CANCELLED}


def test_winner_is_finalised_once_and_registered_as_the_next_version(deps):
    for job_id in ("job-1", "job-2"):
        submit(job_message(spec_dict(job_id=job_id, name="cancer", candidates=[
            {"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1]}}]), job_id), deps)
        finish(deps, job_id, "t0000", auc=0.7)
        trial = deps.repo.get_trial(job_id, "t0001")
        deliver(deps, trial, TrialResult(job_id, "t0001", 1, "SUCCEEDED", {"areaUnderROC": 0.8},
                                         model_uri=model_of(deps, trial)), True)
        fin = deps.repo.get_trial(job_id, FINALIZE)
        assert fin.state is TrialState.RUNNING and fin.params["model_uri"] == model_of(deps, trial)
        request = json.loads(deps.launcher.requests[fin.batch_id].args[1])
        assert request["test_uri"].endswith(f"/artifacts/{job_id}/data/test")
        assert request["manifest"]["trial_id"] == "t0001" and request["manifest"]["params"] == {"regParam": 0.1}
        finish_stage(deps, job_id, FINALIZE, times=2)
    first, second = deps.repo.get_job("job-1"), deps.repo.get_job("job-2")
    ends = [json.loads(m[1]) for m in deps.publisher.messages if m[0] == "reconcile"]
    assert ends == [{"event": "job-ended", "job_id": "job-1"}, {"event": "job-ended", "job_id": "job-2"}]
    assert (first.state, first.model_name, first.model_version) == (JobState.SUCCEEDED, "cancer", 1)
    assert second.model_version == 2 and second.test_metrics == {"areaUnderROC": 0.91}
    assert "registered as cancer v2" in second.conditions[-1].message
    versions = deps.repo.model_versions("cancer")
    assert [(v["version"], v["job_id"], v["trial_id"]) for v in versions] == [(1, "job-1", "t0001"), (2, "job-2", "t0001")]


def test_a_failed_finalisation_fails_the_job_but_keeps_the_best_trial(deps):
    submit(job_message(spec_dict(candidates=[{"algorithm": "logistic_regression"}])), deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    deliver(deps, trial, TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 0.8},
                                     model_uri=model_of(deps, trial)), True)
    for _ in range(2):  # runtime errors are retried once
        finish_stage(deps, "job-1", FINALIZE, ok=False, error="disk full")
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.FAILED and "disk full" in job.error and job.best_trial_id == "t0000"


def test_reconciler_frees_slots_left_by_a_crash_between_claim_and_trial_update(deps):
    from datetime import timedelta

    submit(job_message(spec_dict(max_parallel=1)), deps)
    running_trial = training_trials(deps, "job-1")[0]
    # a crashed handler claimed capacity slot 5 and job slot 3 for a batch of t0001, then died
    hold = SlotHold("zyg-job-1-t0001-a1", "job-1", deps.now(), "ana@example.com", 1, capacity_slot=5)
    deps.repo.claim_capacity(5, hold)
    deps.repo.claim_slot("job-1", 3, hold)
    assert edge.reconcile(deps)["released_slots"] == 0  # within the grace period
    deps.clock.t += timedelta(minutes=5)
    assert edge.reconcile(deps)["released_slots"] == 2
    assert set(deps.repo.capacity_holders()) == {running_trial.capacity_slot}
    assert set(deps.repo.slot_holders("job-1")) == {running_trial.slot}


def test_reconciler_lets_a_batch_that_just_reported_exit_before_cancelling_it(deps):
    """The finalize batch writes its result last; the job ends on that result while the batch is
    still shutting down. The job-finished tick must not cancel it; a later tick cancels a batch that hangs."""
    from datetime import timedelta

    submit(job_message(spec_dict(candidates=[{"algorithm": "logistic_regression"}])), deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    deliver(deps, trial, TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 0.8},
                                     model_uri=model_of(deps, trial)), True)
    fin = deps.repo.get_trial("job-1", FINALIZE)
    result = FinalizeResult("job-1", 1, "SUCCEEDED", test_metrics={"areaUnderROC": 0.9},
                            package_uri=package_uri(deps.settings, "job-1", "job-1"))
    deliver(deps, fin, result, True, end_batch=False)
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.SUCCEEDED and fin.batch_id in deps.launcher.running
    assert edge.reconcile(deps)["cancelled_batches"] == 0
    assert fin.batch_id in deps.launcher.running
    deps.clock.t += timedelta(minutes=5)
    assert edge.reconcile(deps)["cancelled_batches"] == 1
    assert deps.launcher.running == []
