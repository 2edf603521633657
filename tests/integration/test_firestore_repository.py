"""FirestoreJobRepository against the Firestore emulator, and the handlers on it (memory launcher)."""
from __future__ import annotations

import uuid

import pytest

from tests.unit.conftest import CSV, DATA_URI, SETTINGS, Clock, job_message, raw_message, spec_dict, verifier
from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryPublisher
from zygarde.domain.model import Job, JobState, Trial, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.scheduling_board import ReadyJob, SlotHold

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(emulators):
    from google.cloud import firestore

    from zygarde.adapters.firestore import FirestoreJobRepository

    # a fresh project per test: emulator data never leaks between tests
    return FirestoreJobRepository(firestore.Client(project=f"test-{uuid.uuid4().hex[:8]}"))


def test_add_get_update_and_list(repo):
    job = Job("job-a", "ana", JobState.RUNNING, {"x": 1}, "2026-01-01T00:00:00")
    trials = [Trial("job-a", f"t{i:04d}", i, "logistic_regression", {"regParam": 0.1 * i}) for i in range(3)]
    assert repo.add_job(job, trials) is True
    assert repo.add_job(job, trials) is False
    assert repo.get_job("job-a") == job
    assert [t.trial_id for t in repo.list_trials("job-a")] == ["t0000", "t0001", "t0002"]
    assert repo.get_trial("job-a", "t0001").params == {"regParam": 0.1}
    moved = repo.update_trial("job-a", "t0001", lambda t: t.transition(
        TrialState.LAUNCHING, "SlotClaimed", "slot 0", "2026-01-01T00:00:01", slot=0, attempt=1, batch_id="zyg-b1"))
    assert repo.batch_trials("job-a", "zyg-b1") == [moved] == repo.batch_trials("job-a", "zyg-b1", [TrialState.LAUNCHING], 1)
    assert repo.batch_trials("job-a", "zyg-b1", [TrialState.RUNNING]) == [] == repo.batch_trials("job-a", "zyg-b2")
    assert repo.get_trial("job-a", "t0001") == moved
    assert repo.update_trial("job-a", "t0001", lambda t: None) is None
    assert [t.trial_id for t in repo.active_trials()] == ["t0001"]
    assert [t.trial_id for t in repo.list_trials("job-a", [TrialState.WAITING])] == ["t0000", "t0002"]
    assert [t.trial_id for t in repo.list_trials("job-a", [TrialState.WAITING, TrialState.LAUNCHING])] == [
        "t0000", "t0001", "t0002"]
    assert len(repo.list_trials("job-a", [TrialState.WAITING], limit=1)) == 1
    assert repo.list_trials("job-a", [TrialState.FAILED]) == []
    assert [j.job_id for j in repo.list_jobs(owner="ana", states=[JobState.RUNNING])] == ["job-a"]
    assert repo.list_jobs(owner="bob") == []


def test_slots_are_exclusive_and_released_only_by_their_batch(repo):
    b1 = SlotHold("zyg-job-b-t0000-a1", "job-b", "now", "ana", 3, {"spark.x": "1"}, capacity_slot=3, waits_for_more=True)
    b2 = SlotHold("zyg-job-b-t0001-a1", "job-b", "now", "bob", 1)
    assert repo.claim_slot("job-b", 0, b1) is True
    assert repo.claim_slot("job-b", 0, b2) is False
    repo.release_slot("job-b", 0, b2.batch_id)  # not the holder: no effect
    assert repo.slot_holders("job-b")[0] == b1
    repo.update_slot("job-b", 0, b1.batch_id, finishing_since="later")
    assert repo.slot_holders("job-b")[0].finishing_since == "later"
    repo.release_slot("job-b", 0, b1.batch_id)
    assert repo.slot_holders("job-b") == {}
    assert repo.free_capacity(4, 10) == [0, 1, 2, 3]
    assert repo.claim_capacity(3, b1) is True and repo.claim_capacity(1, b2) is True
    assert repo.claim_capacity(3, b2) is False
    assert repo.free_capacity(4, 10) == [0, 2] and len(repo.free_capacity(4, 1)) == 1
    assert (repo.owner_running("ana"), repo.owner_running("bob"), repo.owner_running("cyd")) == (3, 1, 0)
    repo.set_capacity_trials(3, b1.batch_id, 5)
    assert repo.owner_running("ana") == 5
    repo.release_capacity(3, b2.batch_id)  # not the holder
    assert repo.capacity_holders()[3].job_id == "job-b" and repo.capacity_holders()[3].trials == 5
    repo.release_capacity(3, b1.batch_id)
    repo.release_capacity(1, b2.batch_id)
    assert repo.capacity_holders() == {} and repo.free_capacity(4, 10) == [0, 1, 2, 3] and repo.owner_running("ana") == 0


def test_the_ready_queue_is_read_in_order_of_the_owner_s_running_trials_then_age(repo):
    for ready in (ReadyJob("job-c", "cyd", "2026-01-03", 0), ReadyJob("job-a", "ana", "2026-01-01", 2),
                  ReadyJob("job-b", "bob", "2026-01-02", 0), ReadyJob("job-d", "dan", "2026-01-04", 10)):
        repo.mark_ready(ready)
    assert [r.job_id for r in repo.ready_jobs(10)] == ["job-b", "job-c", "job-a", "job-d"]
    first = repo.ready_jobs(2)
    assert [r.job_id for r in first] == ["job-b", "job-c"]
    assert [r.job_id for r in repo.ready_jobs(2, after=first[-1].order)] == ["job-a", "job-d"]
    repo.mark_ready(ReadyJob("job-b", "bob", "2026-01-02", 3))  # its owner runs more now
    repo.clear_ready("job-c")
    assert [(r.job_id, r.owner_running) for r in repo.ready_jobs(10)] == [("job-a", 2), ("job-b", 3), ("job-d", 10)]
    trial = Trial("job-b", "prepare", -2, "prepare", {}, kind="prepare",
                  outputs={"report": {"columns": {"c": {"top": [["red", 3], ["blue", 1]]}}}})
    assert repo.add_trial(trial) is True and repo.add_trial(trial) is False
    assert repo.get_trial("job-b", "prepare") == trial  # arrays of arrays survive


def test_handlers_on_firestore_deliver_everything_twice(repo):
    deps = Deps(repo=repo, launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(), publisher=MemoryPublisher(),
                settings=SETTINGS, clock=Clock(), verifier=verifier())
    deps.blobs.write_bytes(DATA_URI, CSV)
    msg = job_message(spec_dict(), "m1")
    edge.submit_job(msg, deps)
    edge.submit_job(msg, deps)
    assert list(deps.launcher.batches) == ["zyg-job-1-prepare-a1"]
    from tests.unit.test_handlers import finish, finish_stage, train_batches

    finish_stage(deps, "job-1", "prepare", times=2)
    assert len(train_batches(deps)) == 2
    for trial_id in ("t0000", "t0001", "t0002", "t0003"):
        finish(deps, "job-1", trial_id, auc=0.5 + int(trial_id[-1]) / 10, deliver_twice=True)
    job = repo.get_job("job-1")
    assert job.state is JobState.SUCCEEDED and job.best_trial_id == "t0003" and job.model_version == 1
    assert len(train_batches(deps)) == 4 and len(deps.launcher.batches) == 6
    assert all(len(t.conditions) == 3 for t in repo.list_trials("job-1"))
    assert [v["job_id"] for v in repo.model_versions("job-1")] == ["job-1"]
    assert repo.register_model_version("job-1", "job-1", {}, "ana@example.com") == 1  # a repeat: the same version
    assert repo.register_model_version("job-1", "job-9", {"x": 1}, "ana@example.com") == 2
    bad = raw_message(b'{"job_id": "bad-one", "owner": "x"}', "m2", sender="x")
    edge.submit_job(bad, deps)
    edge.submit_job(bad, deps)
    rejected = repo.get_job("bad-one")
    assert rejected.state is JobState.REJECTED and "dataset" in rejected.error and len(rejected.conditions) == 1


def test_concurrent_completions_on_firestore_keep_the_cap_and_launch_each_trial_once(repo):
    """Several users' jobs, completions delivered concurrently (and twice) against the emulator."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    from tests.unit.test_handlers import finish, finish_stage, train_batches

    settings = dataclasses.replace(SETTINGS, max_concurrent_batches=3)
    deps = Deps(repo=repo, launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(), publisher=MemoryPublisher(),
                settings=settings, clock=Clock(), verifier=verifier())
    jobs = [("job-a", "ana"), ("job-b", "bob"), ("job-c", "cyd")]
    for job_id, owner in jobs:
        data_uri = f"gs://bkt/datasets/{owner}/d.csv"  # each owner's own folder
        deps.blobs.write_bytes(data_uri, CSV)
        spec = spec_dict(job_id=job_id, owner=owner, max_parallel=2, candidates=[
            {"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1, 0.2]}}],
            dataset={"uri": data_uri, "format": "csv", "target": "y"})
        edge.submit_job(job_message(spec, job_id), deps)
    peak = 0
    with ThreadPoolExecutor(max_workers=3) as pool:
        for _ in range(40):
            running = [t for t in repo.active_trials() if t.state is TrialState.RUNNING]
            peak = max(peak, len(deps.launcher.running))
            if not running:
                break

            def complete(t):
                if t.kind == "prepare":
                    finish_stage(deps, t.job_id, "prepare", times=2)
                elif t.kind == "train":
                    finish(deps, t.job_id, t.trial_id, auc=0.5 + t.index / 10, deliver_twice=True)
                else:
                    finish_stage(deps, t.job_id, "finalize", times=2)

            list(pool.map(complete, running))
    assert peak <= 3
    assert all(repo.get_job(j).state is JobState.SUCCEEDED for j, _ in jobs)
    # 3 jobs x (prepare + 3 trials + finalize), each batch once; a concurrent handler resuming a launch
    # in flight may call create again, and the API refuses the duplicate id
    assert len(train_batches(deps)) == 9 and len(deps.launcher.batches) == 15 <= deps.launcher.create_calls
    assert all(t.attempt == 1 for j, _ in jobs for t in repo.list_trials(j))
    assert repo.capacity_holders() == {}
    assert dataclasses.asdict(repo.get_job("job-a"))["best_trial_id"] == "t0002"


def test_a_job_s_plan_round_trips_through_firestore_and_sizes_its_batches(repo):
    from tests.unit.test_job_plans import CHURN_URI, churn_csv, churn_spec

    deps = Deps(repo=repo, launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(), publisher=MemoryPublisher(),
                settings=SETTINGS, clock=Clock(), verifier=verifier())
    deps.blobs.write_bytes(CHURN_URI, churn_csv(5_000))
    msg = job_message(churn_spec(budget={"deadline_minutes": 15, "max_cost_usd": 2.5}), "m1")
    edge.submit_job(msg, deps)
    edge.submit_job(msg, deps)
    job = repo.get_job("job-1")
    plan = job.plan
    assert plan["sized"] is True and plan["predicted_seconds"] <= 15 * 60 and plan["predicted_dollars"] <= 2.5
    assert plan["properties"]["spark.executor.instances"] == str(plan["executors"])
    assert isinstance(plan["rows_estimated"], bool) and plan["infeasible"] is None
    assert plan["summary"] in job.conditions[0].message
    assert deps.launcher.requests["zyg-job-1-prepare-a1"].properties == plan["properties"]
    # a job written before plans existed reads back without one
    repo.add_job(Job("old-job", "ana", JobState.RUNNING, {"x": 1}, "2026-01-01T00:00:00"), [])
    assert repo.get_job("old-job").plan is None
