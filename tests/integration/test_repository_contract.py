"""The repository port's contract (issue #23): the same tests on the in-memory fake and on the Firestore
emulator, through the port's public methods only, and a few handler flows (pruning, packing and warm
handoffs, the state machine's kind of run) on both. A difference between the two is a bug of the fake or
of the adapter."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.unit.conftest import CSV, DATA_URI, SETTINGS, Clock, verifier
from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryJobRepository, MemoryPublisher
from zygarde.domain.errors import ModelNameTaken, NotFound, TransientError, Unstorable
from zygarde.domain.model import PREPARE, BatchRun, Condition, Job, JobState, Trial, TrialState
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.scheduling_board import ReadyJob, SlotHold

pytestmark = pytest.mark.integration

T0 = "2026-03-02T09:15:00+00:00"
S = TrialState


@pytest.fixture(params=["memory", "firestore"])
def repo(request):
    """A fresh, empty repository: the fake, or Firestore on the emulator in a project of its own."""
    if request.param == "memory":
        return MemoryJobRepository()
    request.getfixturevalue("emulators")
    from google.cloud import firestore

    from zygarde.adapters.firestore import FirestoreJobRepository

    return FirestoreJobRepository(firestore.Client(project=f"test-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def deps(repo) -> Deps:
    """The unit tests' deps (warm handoffs off) on the repository under test."""
    d = Deps(repo=repo, launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(), publisher=MemoryPublisher(),
             clock=Clock(), verifier=verifier(), settings=dataclasses.replace(SETTINGS, handoff_seconds=0))
    d.blobs.write_bytes(DATA_URI, CSV)
    return d


def churn_job(job_id: str = "job-churn", owner: str = "ana@example.com", **over) -> Job:
    """A job header with every field set, as a finished job has them."""
    plan = {"executors": 2, "cores": 4, "properties": {"spark.executor.instances": "2"}, "sized": True,
            "predicted_seconds": 412.5, "predicted_dollars": 0.37, "rows_estimated": False, "infeasible": None,
            "summary": "2 executors of 4 cores", "stages": [{"kind": "prepare", "seconds": 60.0}, {"kind": "train"}]}
    spec = {"job_id": job_id, "owner": owner, "task": "binary_classification", "max_parallel": 3,
            "dataset": {"uri": "gs://bkt/datasets/ana/churn.csv", "format": "csv", "target": "churned"},
            "candidates": [{"algorithm": "gbt_classifier", "params": {"maxDepth": [3, 5], "stepSize": 0.1}}],
            "budget": {"deadline_minutes": 30, "max_cost_usd": 2.5}, "tags": ["q1", "retention"]}
    values = dict(job_id=job_id, owner=owner, state=JobState.SUCCEEDED, spec=spec, created_at=T0, trial_count=4,
                  best_trial_id="t0002", best_objective=0.8731, finished_at="2026-03-02T09:41:07+00:00",
                  conditions=(Condition("RUNNING", "Accepted", "4 trials planned", T0),
                              Condition("SUCCEEDED", "ModelRegistered", "version 3", "2026-03-02T09:41:07+00:00")),
                  model_version=3, model_name="churn", test_metrics={"areaUnderROC": 0.861, "f1": 0.74}, plan=plan)
    return Job(**{**values, **over})


def gbt_trial(job_id: str = "job-churn", index: int = 2, **over) -> Trial:
    """A finished training trial with every field set (metrics with nested dicts, runs, rung scores)."""
    values = dict(job_id=job_id, trial_id=f"t{index:04d}", index=index, algorithm="gbt_classifier",
                  params={"maxDepth": 5, "stepSize": 0.1, "subsamplingRate": 0.8, "featureSubsetStrategy": "sqrt"},
                  state=S.SUCCEEDED, attempt=2, batch_id=f"zyg-{job_id}-p1-a2", slot=1, capacity_slot=4,
                  metrics={"areaUnderROC": 0.8731, "train_seconds": 41.2,
                           "confusion": {"tp": 120, "fp": 31, "by_class": {"0": 0.91, "1": 0.62}}},
                  objective=0.8731, model_uri=f"gs://bkt/artifacts/{job_id}/t{index:04d}/model",
                  error=None, created_at=T0, started_at="2026-03-02T09:20:00+00:00",
                  finished_at="2026-03-02T09:21:30+00:00",
                  conditions=(Condition("LAUNCHING", "SlotClaimed", "slot 1", T0),
                              Condition("RUNNING", "BatchRunning", "zyg-p1", "2026-03-02T09:20:00+00:00")),
                  outputs={"report": {"columns": {"plan": {"top": [["basic", 40], ["pro", 12]]}}}, "rows": 5000},
                  pack_id="p1", handoff=0, rung=1, train_fraction=1.0, rung_scores=[0.81, 0.8731], rung_attempt=1,
                  time_limit_seconds=900.0, runs=(BatchRun("zyg-old", "2026-03-02T09:16:00+00:00",
                                                           "2026-03-02T09:18:00+00:00"),))
    return Trial(**{**values, **over})


def waiting(job_id: str, index: int, **over) -> Trial:
    return dataclasses.replace(Trial(job_id, f"t{index:04d}", index, "logistic_regression",
                                     {"regParam": 0.01 * index}, created_at=T0), **over)


# ---- jobs and trials -----------------------------------------------------------------------------------
def test_a_job_and_its_trials_round_trip_every_field(repo):
    job, trial = churn_job(), gbt_trial()
    prepare = Trial("job-churn", PREPARE, -2, "prepare", {}, kind=PREPARE, created_at=T0)
    assert repo.add_job(job, [trial, prepare]) is True
    assert repo.get_job("job-churn") == job
    assert repo.get_trial("job-churn", "t0002") == trial
    assert repo.get_trial("job-churn", PREPARE) == prepare and repo.get_trial("job-churn", PREPARE).kind is PREPARE
    assert repo.list_trials("job-churn") == [prepare, trial]  # by index
    assert repo.get_job("job-none") is None and repo.get_trial("job-churn", "t9999") is None
    assert repo.list_trials("job-none") == []


def test_a_second_add_of_a_job_is_refused_whole_and_changes_nothing(repo):
    job = churn_job(state=JobState.RUNNING, finished_at=None)
    assert repo.add_job(job, [waiting("job-churn", 0)]) is True
    other = dataclasses.replace(job, owner="bo@example.com")
    assert repo.add_job(other, [waiting("job-churn", 0, params={"regParam": 9.0}), waiting("job-churn", 1)]) is False
    assert repo.get_job("job-churn") == job
    assert [t.params for t in repo.list_trials("job-churn")] == [{"regParam": 0.0}]


def test_updates_apply_the_change_to_what_is_stored_and_none_writes_nothing(repo):
    repo.add_job(churn_job(state=JobState.RUNNING, finished_at=None), [waiting("job-churn", 0)])
    launched = repo.update_trial("job-churn", "t0000", lambda t: t.transition(
        S.LAUNCHING, "SlotClaimed", "slot 0", T0, slot=0, capacity_slot=2, attempt=1, batch_id="zyg-b1"))
    assert repo.get_trial("job-churn", "t0000") == launched
    seen = []
    assert repo.update_trial("job-churn", "t0000", lambda t: seen.append(t) and None) is None
    assert seen == [launched] and repo.get_trial("job-churn", "t0000") == launched
    ended = repo.update_job("job-churn", lambda j: j.transition(JobState.CANCELLED, "Cancelled", "by ana", T0))
    assert repo.get_job("job-churn") == ended and ended.state is JobState.CANCELLED
    assert repo.update_job("job-churn", lambda j: None) is None and repo.get_job("job-churn") == ended
    with pytest.raises(NotFound):
        repo.update_job("job-none", lambda j: j)
    with pytest.raises(NotFound):
        repo.update_trial("job-churn", "t9999", lambda t: t)


def test_replaying_a_transition_is_idempotent(repo):
    """What every handler does on a redelivery: the change sees the state it already made and writes nothing."""
    repo.add_job(churn_job(state=JobState.RUNNING, finished_at=None), [waiting("job-churn", 0)])

    def claim(t):
        if t.state is not S.WAITING:
            return None
        return t.transition(S.LAUNCHING, "SlotClaimed", "slot 0", T0, slot=0, attempt=t.attempt + 1, batch_id="zyg-b1")

    first = repo.update_trial("job-churn", "t0000", claim)
    assert repo.update_trial("job-churn", "t0000", claim) is None
    assert repo.get_trial("job-churn", "t0000") == first and first.attempt == 1 and len(first.conditions) == 1


def test_add_trial_is_create_if_absent(repo):
    repo.add_job(churn_job(state=JobState.RUNNING, finished_at=None), [])
    trial = waiting("job-churn", 7)
    assert repo.add_trial(trial) is True
    assert repo.add_trial(dataclasses.replace(trial, params={"regParam": 5.0})) is False
    assert repo.get_trial("job-churn", "t0007") == trial


def test_listing_jobs_filters_by_owner_and_state_newest_first_with_a_limit(repo):
    days = ["2026-03-01", "2026-03-03", "2026-03-02"]
    for n, (day, owner, state) in enumerate(zip(days, ["ana", "ana", "bo"], [JobState.RUNNING, JobState.SUCCEEDED,
                                                                            JobState.RUNNING])):
        repo.add_job(Job(f"job-{n}", owner, state, {"n": n}, f"{day}T10:00:00+00:00"), [])
    assert [j.job_id for j in repo.list_jobs()] == ["job-1", "job-2", "job-0"]
    assert [j.job_id for j in repo.list_jobs(owner="ana")] == ["job-1", "job-0"]
    assert [j.job_id for j in repo.list_jobs(states=[JobState.RUNNING])] == ["job-2", "job-0"]
    assert [j.job_id for j in repo.list_jobs(owner="ana", states=[JobState.RUNNING, JobState.CANCELLED])] == ["job-0"]
    assert [j.job_id for j in repo.list_jobs(limit=1)] == ["job-1"] and repo.list_jobs(owner="cy") == []


def test_trials_are_listed_by_state_and_batch_and_active_ones_across_jobs(repo):
    repo.add_job(Job("job-a", "ana", JobState.RUNNING, {}, T0), [waiting("job-a", i) for i in range(4)])
    repo.add_job(Job("job-b", "bo", JobState.RUNNING, {}, T0), [waiting("job-b", 0)])
    for job_id, trial_id, slot in (("job-a", "t0002", 0), ("job-a", "t0000", 1), ("job-b", "t0000", 0)):
        repo.update_trial(job_id, trial_id, lambda t: t.transition(
            S.LAUNCHING, "SlotClaimed", "", T0, slot=slot, attempt=1, batch_id=f"zyg-{job_id}-p1"))
    repo.update_trial("job-a", "t0000", lambda t: t.transition(S.RUNNING, "BatchRunning", "", T0))
    ids = lambda trials: [t.trial_id for t in trials]  # noqa: E731
    assert ids(repo.list_trials("job-a", [S.WAITING])) == ["t0001", "t0003"]
    assert ids(repo.list_trials("job-a", [S.RUNNING, S.LAUNCHING])) == ["t0000", "t0002"]
    assert len(repo.list_trials("job-a", [S.WAITING], limit=1)) == 1 and repo.list_trials("job-a", [S.FAILED]) == []
    assert ids(repo.batch_trials("job-a", "zyg-job-a-p1")) == ["t0000", "t0002"]
    assert ids(repo.batch_trials("job-a", "zyg-job-a-p1", [S.RUNNING])) == ["t0000"]
    assert len(repo.batch_trials("job-a", "zyg-job-a-p1", limit=1)) == 1 and repo.batch_trials("job-a", "zyg-x") == []
    assert sorted((t.job_id, t.trial_id) for t in repo.active_trials()) == [
        ("job-a", "t0000"), ("job-a", "t0002"), ("job-b", "t0000")]


def test_orphan_trials_are_found_and_swept_only_while_their_job_is_missing(repo):
    old, cutoff = "2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00"
    prepare = Trial("job-lost", PREPARE, -2, "prepare", {}, kind=PREPARE, created_at=old)
    assert repo.add_trial(prepare) and repo.add_trial(waiting("job-lost", 0))
    assert repo.orphan_jobs(cutoff) == ["job-lost"] and repo.orphan_jobs(old) == []
    assert repo.delete_orphan("job-lost", old) == 0
    assert repo.delete_orphan("job-lost", cutoff) == 2 and repo.list_trials("job-lost") == []
    repo.add_trial(dataclasses.replace(prepare, job_id="job-late"))
    repo.add_job(Job("job-late", "ana", JobState.RUNNING, {}, old), [])
    assert repo.orphan_jobs(cutoff) == [] and repo.delete_orphan("job-late", cutoff) == 0


# ---- what Firestore refuses, refused the same way ---------------------------------------------------------
def test_a_document_under_1_mib_is_stored_and_one_over_it_is_unstorable_with_nothing_written(repo):
    near = churn_job(spec={"notes": "n" * 1_040_000})
    assert repo.add_job(near, []) is True and repo.get_job("job-churn") == near
    over = churn_job(job_id="job-big", spec={"a": "a" * 600_000, "b": "b" * 460_000})
    with pytest.raises(Unstorable):
        repo.add_job(over, [waiting("job-big", 0)])
    assert repo.get_job("job-big") is None and repo.list_trials("job-big") == []
    with pytest.raises(Unstorable):
        repo.add_job(churn_job(job_id="job-one-value", spec={"notes": "x" * 1_048_500}), [])


def test_an_update_that_outgrows_1_mib_is_unstorable_and_leaves_the_document(repo):
    trial = waiting("job-a", 0)
    repo.add_job(Job("job-a", "ana", JobState.RUNNING, {}, T0), [trial])
    report = {"columns": {f"c{i:05d}": {"top": [["v" * 90, i]]} for i in range(12_000)}}  # ~1.3 MB of JSON
    with pytest.raises(Unstorable):
        repo.update_trial("job-a", "t0000", lambda t: dataclasses.replace(t, outputs={"report": report}))
    assert repo.get_trial("job-a", "t0000") == trial
    with pytest.raises(Unstorable):
        repo.update_job("job-a", lambda j: dataclasses.replace(j, plan={"p": ["x" * 100_000] * 11}))
    assert repo.get_job("job-a").plan is None
    with pytest.raises(Unstorable):
        repo.add_trial(waiting("job-a", 1, outputs={"report": report}))
    assert repo.get_trial("job-a", "t0001") is None


@pytest.mark.parametrize("bad", [{"n": 2 ** 64}, {"s": "caf\ud800"}, {"": 1}], ids=["int65", "surrogate", "empty-key"])
def test_values_firestore_cannot_hold_are_unstorable_on_add_and_on_update(repo, bad):
    with pytest.raises(Unstorable):
        repo.add_job(Job("job-x", "ana", JobState.RUNNING, bad, T0), [])
    assert repo.get_job("job-x") is None
    repo.add_job(Job("job-y", "ana", JobState.RUNNING, {}, T0), [waiting("job-y", 0)])
    with pytest.raises(Unstorable):
        repo.update_trial("job-y", "t0000", lambda t: dataclasses.replace(t, params=bad))
    with pytest.raises(Unstorable):
        repo.update_job("job-y", lambda j: dataclasses.replace(j, spec=bad))
    assert repo.get_trial("job-y", "t0000") == waiting("job-y", 0) and repo.get_job("job-y").spec == {}


# ---- the scheduling board ------------------------------------------------------------------------------
def test_capacity_slots_are_claimed_once_released_only_by_their_batch_and_counted_per_owner(repo):
    a = SlotHold("zyg-job-a-p1-a1", "job-a", T0, "ana", 3, {"spark.executor.cores": "4"}, capacity_slot=2)
    b = SlotHold("zyg-job-b-p1-a1", "job-b", T0, "bo", 1)
    assert repo.free_capacity(4, 10) == [0, 1, 2, 3] and repo.capacity_holders() == {}
    assert repo.claim_capacity(2, a) is True and repo.claim_capacity(0, b) is True
    assert repo.claim_capacity(2, b) is False and repo.claim_capacity(2, a) is False
    assert repo.free_capacity(4, 10) == [1, 3] and len(repo.free_capacity(4, 1)) == 1
    assert repo.free_capacity(2, 10) == [1]
    assert repo.capacity_holders() == {2: a, 0: b}
    assert (repo.owner_running("ana"), repo.owner_running("bo"), repo.owner_running("cy")) == (3, 1, 0)
    repo.set_capacity_trials(2, a.batch_id, 5)
    repo.set_capacity_trials(2, b.batch_id, 9)  # not the holder
    assert repo.owner_running("ana") == 5 and repo.capacity_holders()[2] == dataclasses.replace(a, trials=5)
    repo.release_capacity(2, b.batch_id)  # not the holder: no effect
    assert 2 in repo.capacity_holders()
    repo.release_capacity(2, a.batch_id)
    repo.release_capacity(2, a.batch_id)  # again: no effect
    assert repo.capacity_holders() == {0: b} and repo.owner_running("ana") == 0
    assert repo.claim_capacity(2, b) is True  # free again


def test_free_slots_below_a_lowered_cap_are_found_while_higher_ones_are_free(repo):
    """The cap was 40 and is now 5: slots 0 and 1 held, 2-4 free below the cap, 5-39 free above it."""
    assert len(repo.free_capacity(40, 40)) == 40
    for slot in (0, 1):
        repo.claim_capacity(slot, SlotHold(f"zyg-job-a-p{slot}-a1", "job-a", T0, "ana", 1))
    assert repo.free_capacity(5, 10) == [2, 3, 4]
    [one] = repo.free_capacity(5, 1)
    assert one in (2, 3, 4) and len(repo.free_capacity(5, 2)) == 2


def test_job_slots_are_exclusive_and_changed_only_by_their_batch(repo):
    a = SlotHold("zyg-job-a-p1-a1", "job-a", T0, "ana", 2, {"spark.x": "1"}, capacity_slot=3, waits_for_more=True,
                 ttl_seconds=1800)
    b = SlotHold("zyg-job-a-p2-a1", "job-a", T0, "ana", 1)
    assert repo.claim_slot("job-a", 0, a) is True and repo.claim_slot("job-a", 0, b) is False
    assert repo.claim_slot("job-a", 1, b) is True and repo.claim_slot("job-z", 0, b) is True
    repo.update_slot("job-a", 0, b.batch_id, finishing_since=T0)  # not the holder
    repo.update_slot("job-a", 0, a.batch_id, finishing_since=T0, waits_for_more=False)
    assert repo.slot_holders("job-a") == {0: dataclasses.replace(a, finishing_since=T0, waits_for_more=False), 1: b}
    repo.release_slot("job-a", 0, b.batch_id)
    assert 0 in repo.slot_holders("job-a")
    repo.release_slot("job-a", 0, a.batch_id)
    assert repo.slot_holders("job-a") == {1: b} and repo.slot_holders("job-none") == {}
    assert repo.claim_slot("job-a", 0, b) is True


def test_the_ready_queue_is_ordered_by_the_owner_s_running_trials_then_age_and_pages(repo):
    for ready in (ReadyJob("job-c", "cy", "2026-03-03T08:00:00+00:00", 0),
                  ReadyJob("job-a", "ana", "2026-03-01T08:00:00+00:00", 2),
                  ReadyJob("job-b", "bo", "2026-03-02T08:00:00+00:00", 0),
                  ReadyJob("job-d", "dan", "2026-03-04T08:00:00+00:00", 10),
                  ReadyJob("job-e", "ana", "2026-03-01T08:00:00+00:00", 2)):
        repo.mark_ready(ready)
    repo.mark_ready(ReadyJob("job-c", "cy", "2026-03-03T08:00:00+00:00", 0))  # again: one entry
    assert [r.job_id for r in repo.ready_jobs(10)] == ["job-b", "job-c", "job-a", "job-e", "job-d"]
    first = repo.ready_jobs(3)
    assert [r.job_id for r in repo.ready_jobs(10, after=first[-1].order)] == ["job-e", "job-d"]
    repo.mark_ready(ReadyJob("job-b", "bo", "2026-03-02T08:00:00+00:00", 3))
    repo.clear_ready("job-c")
    repo.clear_ready("job-c")  # again: no effect
    assert [(r.job_id, r.owner_running) for r in repo.ready_jobs(10)] == [
        ("job-a", 2), ("job-e", 2), ("job-b", 3), ("job-d", 10)]
    assert repo.ready_jobs(10)[0] == ReadyJob("job-a", "ana", "2026-03-01T08:00:00+00:00", 2)


def _until_done(call):
    """`call()`, again after a TransientError (contention), as a Pub/Sub redelivery would."""
    for _ in range(20):
        try:
            return call()
        except TransientError:
            continue
    raise AssertionError("still contended after 20 deliveries")


def test_racing_claims_give_a_slot_to_one_batch(repo):
    from concurrent.futures import ThreadPoolExecutor

    holds = [SlotHold(f"zyg-job-a-p{i}-a1", "job-a", T0, "ana", 1) for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        won = list(pool.map(lambda h: _until_done(lambda: repo.claim_capacity(0, h)), holds))
        job_slot = list(pool.map(lambda h: _until_done(lambda: repo.claim_slot("job-a", 0, h)), holds))
    assert won.count(True) == 1 and repo.capacity_holders() == {0: holds[won.index(True)]}
    assert job_slot.count(True) == 1 and repo.slot_holders("job-a") == {0: holds[job_slot.index(True)]}


def test_racing_updates_of_one_trial_lose_none(repo):
    from concurrent.futures import ThreadPoolExecutor

    repo.add_job(Job("job-a", "ana", JobState.RUNNING, {}, T0), [waiting("job-a", 0)])

    def bump(_):
        return _until_done(lambda: repo.update_trial(
            "job-a", "t0000", lambda t: dataclasses.replace(t, rung_scores=[*t.rung_scores, 0.5])))

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(bump, range(2)))
    assert repo.get_trial("job-a", "t0000").rung_scores == [0.5] * 2


# ---- the model registry --------------------------------------------------------------------------------
def test_model_versions_grants_and_aliases(repo):
    record = {"package_uri": "gs://bkt/models/churn/1", "metrics": {"areaUnderROC": 0.86, "by": {"a": 1.0}},
              "registered_at": T0}
    assert repo.model("churn") is None and repo.model_versions("churn") == []
    assert repo.register_model_version("churn", "job-1", record, "ana") == 1
    assert repo.register_model_version("churn", "job-1", record, "ana") == 1  # a replay
    with pytest.raises(ModelNameTaken):
        repo.register_model_version("churn", "job-2", record, "bo")
    assert repo.set_model_grant("churn", "bo", "writer", "ana") is True
    assert repo.set_model_grant("churn", "bo", "writer", "ana") is False
    assert repo.register_model_version("churn", "job-2", {**record, "registered_at": "later"}, "bo") == 2
    doc = repo.model("churn")
    assert {k: doc[k] for k in ("name", "owner", "grants", "members", "next_version", "latest_version", "jobs",
                                "created_at")} == {
        "name": "churn", "owner": "ana", "grants": {"bo": "writer"}, "members": ["ana", "bo"], "next_version": 3,
        "latest_version": 2, "jobs": {"job-1": 1, "job-2": 2}, "created_at": T0}
    versions = repo.model_versions("churn")
    assert versions[0] == {**record, "job_id": "job-1", "version": 1, "registered_by": "ana"}
    assert [v["registered_by"] for v in versions] == ["ana", "bo"] and repo.model_version("churn", 2) == versions[1]
    assert repo.model_version("churn", 9) is None
    assert [m["name"] for m in repo.list_models("bo")] == ["churn"] and repo.list_models("cy") == []
    with pytest.raises(KeyError):
        repo.set_model_grant("nope", "bo", "reader", "ana")
    assert repo.set_model_grant("churn", "bo", None, "ana") is True and repo.model("churn")["members"] == ["ana"]
    repo.set_alias("churn", "prod", 1, "ana", T0)
    moved = repo.set_alias("churn", "prod", 2, "ana", "2026-03-03T00:00:00+00:00")
    assert moved["version"] == 2 and [h["version"] for h in moved["history"]] == [1, 2]
    assert repo.model_aliases("churn") == {"prod": moved}
    with pytest.raises(KeyError):
        repo.set_alias("churn", "prod", 7, "ana", T0)


# ---- handler flows on both ------------------------------------------------------------------------------
def test_pruning_with_every_result_delivered_twice_ends_as_on_a_clean_fake(deps):
    """Successive halving, each result delivered twice, ends with the same trials pruned at the same rungs
    and the same winner as a single delivery of each on a fresh fake."""
    from tests.unit.test_pruning_handlers import outcome, run_job

    clean = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(),
                 publisher=MemoryPublisher(), settings=deps.settings, clock=Clock(), verifier=deps.verifier)
    clean.blobs.write_bytes(DATA_URI, CSV)
    expected = outcome(clean, run_job(clean))
    job_id = run_job(deps, twice=True)
    assert outcome(deps, job_id) == expected
    assert deps.repo.get_job(job_id).state is JobState.SUCCEEDED


def test_pruning_promotes_the_right_trials_rung_by_rung(deps):
    from tests.unit.test_pruning_handlers import \
        test_results_rung_by_rung_prune_the_right_trials_and_the_winner_fits_on_all_rows as flow

    flow(deps)


def test_packed_trials_with_duplicate_and_out_of_order_results(deps):
    """tests/unit/test_pack_launching's, with the whole stored state compared instead of a write count."""
    from tests.unit.test_handlers import submit
    from tests.unit.test_pack_launching import pack_batches, packed_spec, report
    from tests.unit.conftest import job_message
    from zygarde.service_layer import edge
    from zygarde.service_layer.locations import trial_uris

    submit(job_message(packed_spec(max_parallel=1)), deps)
    [(batch_id, request)] = pack_batches(deps).items()
    ids = [p.trial_id for p in request.trials]
    assert len(ids) > 1
    for trial_id in reversed(ids):  # the last trial of the pack reports first
        report(deps, "job-1", trial_id, times=2)

    def stored():
        return (deps.repo.get_job("job-1"), deps.repo.list_trials("job-1"), deps.repo.capacity_holders(),
                deps.repo.slot_holders("job-1"), deps.repo.ready_jobs(10), len(pack_batches(deps)))

    snapshot = stored()
    for trial_id in ids:  # all of them replayed
        _, uri = trial_uris(deps.settings, "job-1", trial_id, 1)
        edge.on_trial_result(edge.PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": uri.removeprefix("gs://bkt/")}),
                             deps)
    assert stored() == snapshot
    assert all(deps.repo.get_trial("job-1", i).state is S.SUCCEEDED for i in ids)


def test_a_small_job_runs_in_one_warm_batch_through_handoffs(deps):
    from tests.unit.test_pack_launching import \
        test_a_small_job_runs_its_preparation_trials_and_finalisation_in_one_warm_batch as flow

    flow(deps)


def test_a_handoff_resumed_after_a_crash_is_written_once(deps):
    from tests.unit.test_pack_launching import test_a_handoff_resumed_after_a_crash_is_written_once_and_launched_once

    test_a_handoff_resumed_after_a_crash_is_written_once_and_launched_once(deps)


def test_the_state_machine_s_runs_on_firestore(emulators):
    """tests/unit/test_pack_state_machine's machine (submissions packed or pruned, results, warm batches'
    idle reports, duplicates, lost notifications, dead batches, ticks, cancels; its invariants and its
    teardown's 'every job ends'), a few fixed-seed runs on the emulator instead of the fake."""
    from google.cloud import firestore
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    from tests.unit.test_pack_state_machine import Jobs
    from zygarde.adapters.firestore import FirestoreJobRepository

    class OnFirestore(Jobs):
        def __init__(self):
            super().__init__()
            self.deps.repo = FirestoreJobRepository(firestore.Client(project=f"test-{uuid.uuid4().hex[:8]}"))

    run_state_machine_as_test(OnFirestore, settings=settings(
        max_examples=3, stateful_step_count=25, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck)))
