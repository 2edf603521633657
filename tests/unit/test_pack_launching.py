"""Packed trials through the handlers, against in-memory ports: launching, results, faults, finalisation."""
from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from tests.unit.conftest import cancel_message, job_message, spec_dict
from tests.unit.test_handlers import deliver, finish_stage, submit, training_trials
from zygarde.domain.contracts import (FinalizeRequest, Handoff, IdleReport, PackRequest, TrialResult, handoff_object,
                                      idle_object)
from zygarde.domain.model import FINALIZE, JobState, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.locations import handoff_prefix, idle_prefix
from zygarde.service_layer.locations import trial_uris
from zygarde.service_layer.edge import reconcile

GRID = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.01, 0.1], "elasticNetParam": [0.0, 0.5]}},
        {"algorithm": "random_forest_classifier", "params": {"numTrees": [20, 50], "maxDepth": [5, 8]}},
        {"algorithm": "gbt_classifier", "params": {"maxIter": [20, 40], "maxDepth": [3, 5]}}]


def packed_spec(**over) -> dict:
    return spec_dict(**{"candidates": GRID, "packing": "auto", **over})


def stage_request(deps, trial) -> str:
    """The request JSON a stage ran with: its batch's, or the handoff object given to a warm batch."""
    if trial.handoff:
        uri = handoff_object(handoff_prefix(deps.settings, trial.job_id, trial.batch_id), trial.handoff)
        return json.dumps(Handoff.from_json(deps.blobs.read_bytes(uri)).request)
    return deps.launcher.requests[trial.batch_id].args[1]


def pack_batches(deps) -> dict[str, PackRequest]:
    return {bid: PackRequest.from_json(r.args[1]) for bid, r in deps.launcher.requests.items()
            if r.labels.get("zygarde-kind") == "train"}


def report(deps, job_id: str, trial_id: str, auc: float | None = 0.8, error_kind: str | None = None,
           times: int = 1) -> None:
    """The packed trial's own result object, its batch still running (others of the pack may still fit)."""
    trial = deps.repo.get_trial(job_id, trial_id)
    ok = auc is not None
    result = TrialResult(job_id, trial_id, trial.attempt, "SUCCEEDED" if ok else "FAILED",
                         {"areaUnderROC": auc, "train_seconds": 2.0} if ok else {},
                         error=None if ok else "boom", error_kind=error_kind)
    deliver(deps, trial, result, ok, times=times, end_batch=False)


def finish_pack(deps, batch_id: str, auc_of=lambda i: 0.5 + i / 100) -> None:
    request = pack_batches(deps)[batch_id]
    for member in request.trials:
        trial = deps.repo.get_trial(request.job_id, member.trial_id)
        if trial.state.is_active() and trial.batch_id == batch_id:
            report(deps, request.job_id, member.trial_id, auc_of(trial.index))
    deps.launcher.finish(batch_id, "SUCCEEDED")


def test_a_grid_is_launched_as_packs_of_its_trials_within_max_parallel_and_the_cap(deps):
    submit(job_message(packed_spec()), deps)
    trials = training_trials(deps, "job-1")
    packs = pack_batches(deps)
    assert 1 <= len(packs) <= 2 and len(deps.launcher.running) == len(packs)  # max_parallel 2 batches
    launched = [t for t in trials if t.state is TrialState.RUNNING]
    assert len(launched) > len(packs)  # several trials per batch
    for batch_id, request in packs.items():
        members = [t for t in launched if t.batch_id == batch_id]
        assert {m.trial_id for m in members} == {p.trial_id for p in request.trials}
        assert len({m.pack_id for m in members}) == 1 and batch_id.startswith("zyg-job-1-p")
        assert deps.launcher.requests[batch_id].main_python_file_uri.endswith("/train_pack.py")
        assert all(p.model_uri is None and p.result_uri == trial_uris(deps.settings, "job-1", p.trial_id, 1)[1]
                   for p in request.trials)
        assert request.train_uri.endswith("/data/train") and request.concurrency == deps.settings.pack_concurrency
    holders = deps.repo.capacity_holders()  # held by the pack batches
    assert sorted(h.batch_id for h in holders.values()) == sorted(packs)


def test_a_pack_frees_its_slots_only_when_its_last_trial_ends(deps):
    submit(job_message(packed_spec(max_parallel=1)), deps)
    [(batch_id, request)] = pack_batches(deps).items()
    first, *rest = [p.trial_id for p in request.trials]
    assert len(rest) == 13, "the planner packs these small trials together"
    report(deps, "job-1", first)
    assert deps.repo.get_trial("job-1", first).state is TrialState.SUCCEEDED
    assert len(deps.repo.capacity_holders()) == 1 and len(pack_batches(deps)) == 1  # the pack still runs
    for trial_id in rest[:-1]:
        report(deps, "job-1", trial_id)
    assert [h.batch_id for h in deps.repo.capacity_holders().values()] == [batch_id]
    report(deps, "job-1", rest[-1])  # the pack's last trial: its slots go to the next stage
    assert [h.batch_id for h in deps.repo.capacity_holders().values()] == [deps.repo.get_trial("job-1", FINALIZE).batch_id]


def test_the_whole_grid_ends_with_a_refit_of_the_winner_and_a_registered_model(deps):
    submit(job_message(packed_spec()), deps)
    for _ in range(20):
        running = [b for b in pack_batches(deps) if b in deps.launcher.running]
        if not running:
            break
        finish_pack(deps, running[0])
    trials = training_trials(deps, "job-1")
    assert all(t.state is TrialState.SUCCEEDED and t.attempt == 1 and t.model_uri is None for t in trials)
    finalize = deps.repo.get_trial("job-1", FINALIZE)
    request = FinalizeRequest.from_json(stage_request(deps, finalize))
    best = max(trials, key=lambda t: t.objective)
    assert request.model_uri is None and request.refit.algorithm == best.algorithm
    assert request.refit.params == best.params and request.refit.on_train_and_validation is False
    finish_stage(deps, "job-1", FINALIZE)
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.SUCCEEDED and job.best_trial_id == best.trial_id
    assert deps.repo.capacity_holders() == {} and deps.repo.slot_holders("job-1") == {}


def test_final_fit_on_train_and_validation_refits_even_a_kept_model(deps):
    submit(job_message(packed_spec(keep_trial_models=True, final_fit="train_and_validation", max_parallel=4)), deps)
    for request in pack_batches(deps).values():
        assert all(p.model_uri == trial_uris(deps.settings, "job-1", p.trial_id, 1)[0] for p in request.trials)
    for _ in range(20):
        running = [b for b in pack_batches(deps) if b in deps.launcher.running]
        if not running:
            break
        request = pack_batches(deps)[running[0]]
        for p in request.trials:
            trial = deps.repo.get_trial("job-1", p.trial_id)
            deliver(deps, trial, TrialResult("job-1", p.trial_id, 1, "SUCCEEDED", {"areaUnderROC": 0.7},
                                             model_uri=p.model_uri), True, end_batch=False)
        deps.launcher.finish(running[0], "SUCCEEDED")
    assert all(t.model_uri for t in training_trials(deps, "job-1"))
    finalize = deps.repo.get_trial("job-1", FINALIZE)
    request = FinalizeRequest.from_json(stage_request(deps, finalize))
    assert request.model_uri is None and request.refit.on_train_and_validation is True


def test_duplicate_and_out_of_order_results_of_packed_trials_change_nothing(deps):
    submit(job_message(packed_spec(max_parallel=1)), deps)
    [(batch_id, request)] = pack_batches(deps).items()
    ids = [p.trial_id for p in request.trials]
    for trial_id in reversed(ids):  # the last trial of the pack reports first
        report(deps, "job-1", trial_id, times=2)
    snapshot = ([deps.repo.get_trial("job-1", i) for i in ids], deps.repo.capacity_holders(), len(pack_batches(deps)))
    writes = deps.repo.writes
    for trial_id in ids:  # all of them replayed
        _, uri = trial_uris(deps.settings, "job-1", trial_id, 1)
        edge.on_trial_result(edge.PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": uri.removeprefix("gs://bkt/")}),
                                 deps)
    assert ([deps.repo.get_trial("job-1", i) for i in ids], deps.repo.capacity_holders(),
            len(pack_batches(deps))) == snapshot
    assert deps.repo.writes == writes


def test_a_pack_that_dies_keeps_finished_trials_and_packs_the_rest_again_once(deps):
    submit(job_message(packed_spec(max_parallel=1, max_attempts=2)), deps)
    [(batch_id, request)] = pack_batches(deps).items()
    done, *unfinished = [p.trial_id for p in request.trials]
    report(deps, "job-1", done, auc=0.99)
    deps.launcher.finish(batch_id, "FAILED", "the driver was lost")
    assert reconcile(deps)["dead_batches"] == len(unfinished)
    kept = deps.repo.get_trial("job-1", done)
    assert kept.state is TrialState.SUCCEEDED and kept.objective == 0.99 and kept.attempt == 1
    again = [deps.repo.get_trial("job-1", i) for i in unfinished]
    assert all(t.attempt == 2 and t.state is TrialState.RUNNING for t in again)  # packed again, attempt counted
    assert all(any(c.reason == "Retrying" and "without a result" in c.message for c in t.conditions) for t in again)
    [second] = [b for b in pack_batches(deps) if b != batch_id and b in deps.launcher.running]
    assert second.endswith("-a2") and {p.trial_id for p in pack_batches(deps)[second].trials} >= set(unfinished)
    deps.launcher.finish(second, "FAILED", "lost again")
    reconcile(deps)
    assert all(deps.repo.get_trial("job-1", i).state is TrialState.FAILED for i in unfinished)  # never a third time


def test_a_cancel_cancels_the_pack_s_batch_and_frees_its_slots(deps):
    submit(job_message(packed_spec(max_parallel=1)), deps)
    [batch_id] = pack_batches(deps)
    edge.submit_job(cancel_message("job-1"), deps)
    assert deps.launcher.batches[batch_id].state == "CANCELLED"
    assert deps.repo.get_job("job-1").state is JobState.CANCELLED
    assert all(t.state is TrialState.CANCELLED for t in training_trials(deps, "job-1"))
    assert deps.repo.capacity_holders() == {} and deps.repo.slot_holders("job-1") == {}


def test_core_hours_count_each_pack_batch_once(deps):
    submit(job_message(packed_spec(max_parallel=1, budget={"max_core_hours": 1.0, "cores_per_trial": 12})), deps)
    [(batch_id, request)] = pack_batches(deps).items()
    assert len(request.trials) >= 3
    deps.clock.t += timedelta(minutes=4)  # 4 min x 12 cores = 0.8 core-hours for the batch (x trials if summed)
    edge.reconcile(deps)
    assert deps.repo.get_job("job-1").state is JobState.RUNNING
    deps.clock.t += timedelta(minutes=2)
    edge.reconcile(deps)
    assert deps.repo.get_job("job-1").state is JobState.BUDGET_EXHAUSTED


def test_bayesian_search_asks_a_pack_s_worth_of_trials_at_once(deps):
    spec = packed_spec(max_parallel=1, search={"strategy": "bayesian", "max_trials": 12},
                       candidates=[{"algorithm": "logistic_regression",
                                    "params": {"regParam": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}}])
    submit(job_message(spec), deps)
    [(batch_id, request)] = pack_batches(deps).items()
    assert len(request.trials) == deps.settings.pack_concurrency  # asked together, with constant liar
    assert len({json.dumps(p.params, sort_keys=True) for p in request.trials}) == len(request.trials)


def test_packing_off_keeps_one_batch_per_trial(deps):
    submit(job_message(packed_spec(packing="off")), deps)
    assert all(len(r.trials) == 1 for r in pack_batches(deps).values())  # packs of one
    assert sorted(b for b in deps.launcher.running) == ["zyg-job-1-t0000-a1", "zyg-job-1-t0001-a1"]


@pytest.mark.parametrize("slow", [True, False])
def test_a_trial_predicted_long_gets_a_batch_of_its_own(deps, slow):
    grid = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1, 0.2]}},
            {"algorithm": "random_forest_classifier", "params": {"numTrees": [1000 if slow else 5], "maxDepth": [16]}}]
    edge.submit_job(job_message(spec_dict(candidates=grid, packing="auto", max_parallel=2)), deps)
    prepare = deps.repo.get_trial("job-1", "prepare")
    from zygarde.domain.contracts import PrepareResult
    from zygarde.service_layer.locations import data_prefix
    deliver(deps, prepare, PrepareResult("job-1", 1, "SUCCEEDED", report={"schema": [{"name": f"c{i}"} for i in range(30)]},
                                         rows={"train": 20_000, "validation": 5_000, "test": 5_000},
                                         parts={"train": data_prefix(deps.settings, "job-1") + "train"}), True)
    forest = [r for r in pack_batches(deps).values() if any(p.algorithm.startswith("random") for p in r.trials)]
    assert len(forest) == 1 and (len(forest[0].trials) == 1) is slow


def warm(deps) -> None:
    """Warm handoffs on (they are off by default): a batch waits 20 s for more work."""
    deps.settings = dataclasses.replace(deps.settings, handoff_seconds=20.0)


def report_idle(deps, job_id: str, batch_id: str) -> None:
    """What a warm batch does when its work is done: it reports that it waits (idle-{n}.json, n: the handoffs
    it has run, plus one), and the notification is delivered."""
    n = 1 + len(deps.blobs.list(handoff_prefix(deps.settings, job_id, batch_id)))
    uri = idle_object(idle_prefix(deps.settings, job_id, batch_id), n)
    deps.blobs.write_bytes(uri, IdleReport(job_id, n).to_json().encode())
    edge.on_trial_result(edge.PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": uri.removeprefix("gs://bkt/"),
                                                    "eventType": "OBJECT_FINALIZE"}), deps)


def _prepared_without_exit(deps, job_id="job-1") -> str:
    """The preparation reports; its batch stays up and reports that it waits for a handoff. Returns its batch id."""
    from zygarde.domain.contracts import PrepareResult
    from zygarde.service_layer.locations import data_prefix

    prepare = deps.repo.get_trial(job_id, "prepare")
    deliver(deps, prepare, PrepareResult(job_id, 1, "SUCCEEDED", report={"schema": [{"name": "f1"}, {"name": "y"}]},
                                         rows={"train": 60, "validation": 20, "test": 20},
                                         parts={p: data_prefix(deps.settings, job_id) + p
                                                for p in ("train", "validation", "test")}), True, end_batch=False)
    report_idle(deps, job_id, prepare.batch_id)
    return prepare.batch_id


def test_a_small_job_runs_its_preparation_trials_and_finalisation_in_one_warm_batch(deps):
    warm(deps)
    edge.submit_job(job_message(packed_spec(max_parallel=1)), deps)
    batch_id = _prepared_without_exit(deps)
    trials = training_trials(deps, "job-1")
    assert {t.batch_id for t in trials} == {batch_id} and {t.handoff for t in trials} == {1}
    assert list(deps.launcher.requests) == [batch_id]  # no new batch: the pack went to the warm one
    handed = Handoff.from_json(deps.blobs.read_bytes(handoff_object(handoff_prefix(deps.settings, "job-1", batch_id), 1)))
    pack = PackRequest.from_json(json.dumps(handed.request))
    assert handed.main == "train_pack.py" and len(pack.trials) == 14
    assert pack.handoff_prefix == handoff_prefix(deps.settings, "job-1", batch_id) and pack.handoff_seconds > 0
    for t in trials:
        report(deps, "job-1", t.trial_id, 0.5 + t.index / 100)
    assert deps.repo.get_trial("job-1", FINALIZE).state is TrialState.WAITING  # for the batch that is about to wait
    report_idle(deps, "job-1", batch_id)
    finalize = deps.repo.get_trial("job-1", FINALIZE)
    assert finalize.batch_id == batch_id and finalize.handoff == 2 and finalize.state is TrialState.RUNNING
    request = FinalizeRequest.from_json(stage_request(deps, finalize))
    assert request.handoff_prefix is None  # the job's last stage: the batch exits after it
    finish_stage(deps, "job-1", FINALIZE)
    assert deps.repo.get_job("job-1").state is JobState.SUCCEEDED and list(deps.launcher.requests) == [batch_id]
    # every stage and trial kept its own record
    assert [c.reason for c in deps.repo.get_trial("job-1", "t0000").conditions] == \
        ["PackClaimed", "HandedOff", "TrainingSucceeded"]


def test_a_batch_that_has_exited_is_not_handed_work(deps):
    warm(deps)
    edge.submit_job(job_message(packed_spec(max_parallel=1)), deps)
    prepare = deps.repo.get_trial("job-1", "prepare")
    deps.launcher.finish(prepare.batch_id, "SUCCEEDED")
    _prepared_without_exit(deps)
    [pack] = pack_batches(deps)
    assert pack != prepare.batch_id and all(t.handoff == 0 for t in training_trials(deps, "job-1"))


def test_work_handed_to_a_batch_that_exits_at_that_moment_is_retried_in_a_new_batch(deps):
    warm(deps)
    edge.submit_job(job_message(packed_spec(max_parallel=1)), deps)
    prepare = deps.repo.get_trial("job-1", "prepare")
    write = deps.blobs.write_bytes

    def exiting(uri, data, *args, **kwargs):  # the batch's wait runs out just as the handoff is written
        if "/handoff/" in uri:
            deps.launcher.finish(prepare.batch_id, "SUCCEEDED")
        return write(uri, data, *args, **kwargs)

    deps.blobs.write_bytes = exiting
    _prepared_without_exit(deps)
    trials = training_trials(deps, "job-1")
    assert all(any(c.reason == "HandoffMissed" for c in t.conditions) for t in trials)
    assert all(t.state is TrialState.RUNNING and t.attempt == 2 and t.handoff == 0 for t in trials)
    assert len(pack_batches(deps)) == 1


def test_a_pack_that_needs_other_spark_properties_is_not_handed_to_a_warm_batch(deps):
    warm(deps)
    spec = packed_spec(max_parallel=1, candidates=[{"algorithm": "xgboost_classifier", "params": {"max_depth": [3, 4]}}])
    edge.submit_job(job_message(spec), deps)
    batch_id = _prepared_without_exit(deps)
    [pack] = pack_batches(deps)
    assert pack != batch_id and deps.launcher.requests[pack].properties["spark.dynamicAllocation.enabled"] == "false"


def test_a_handoff_resumed_after_a_crash_is_written_once_and_launched_once(deps):
    warm(deps)
    edge.submit_job(job_message(packed_spec(max_parallel=1)), deps)
    from zygarde.domain.errors import TransientError

    get = deps.launcher.get
    calls = {"n": 0}

    def flaky(batch_id):  # the handler dies after writing the handoff, before recording RUNNING
        calls["n"] += 1
        if calls["n"] == 2:
            raise TransientError("dataproc unavailable")
        return get(batch_id)

    deps.launcher.get = flaky
    try:
        _prepared_without_exit(deps)
    except TransientError:
        pass
    deps.launcher.get = get
    assert all(t.state is TrialState.LAUNCHING for t in training_trials(deps, "job-1"))
    edge.reconcile(deps)  # the reconciler resumes the launch
    trials = training_trials(deps, "job-1")
    assert all(t.state is TrialState.RUNNING and t.handoff == 1 and t.attempt == 1 for t in trials)
    prefix = handoff_prefix(deps.settings, "job-1", trials[0].batch_id)
    assert deps.blobs.list(prefix) == [handoff_object(prefix, 1)]


def test_a_pack_request_from_a_newer_sender_reads_with_its_unknown_keys_ignored(deps):
    submit(job_message(packed_spec()), deps)
    raw = next(r for r in (json.loads(q.args[1]) for q in deps.launcher.requests.values()) if "trials" in r)
    raw["future_field"] = 1
    for t in raw["trials"]:
        t["future_trial_field"] = {"x": 1}
    pack = PackRequest.from_json(json.dumps(raw))
    assert [t.trial_id for t in pack.trials] == [t["trial_id"] for t in raw["trials"]]


def test_a_batch_cancelled_by_the_deadline_is_not_handed_the_finalisation(deps):
    from datetime import timedelta

    warm(deps)
    edge.submit_job(job_message(packed_spec(max_parallel=1, budget={"deadline_minutes": 30})), deps)
    batch_id = _prepared_without_exit(deps)
    trials = training_trials(deps, "job-1")
    assert {t.batch_id for t in trials} == {batch_id}
    report(deps, "job-1", trials[0].trial_id, 0.7)  # one done, the others still fitting in the warm batch

    def cancel(bid):  # as Dataproc: a cancel takes a while, the batch is CANCELLING meanwhile
        deps.launcher.finish(bid, "CANCELLING")

    deps.launcher.cancel = cancel
    deps.clock.t += timedelta(minutes=31)
    edge.reconcile(deps)
    assert deps.launcher.get(batch_id).state == "CANCELLING"
    finalize = deps.repo.get_trial("job-1", FINALIZE)
    assert finalize.state is TrialState.RUNNING and finalize.batch_id != batch_id and not finalize.handoff
    assert finalize.params["manifest"]["trial_id"] == trials[0].trial_id
