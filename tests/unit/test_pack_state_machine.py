"""A property-based state machine over the message bus with in-memory ports (Hypothesis).

Random interleavings of submissions (packed or not, pruned by successive halving, with a deadline or a
core-hour budget), results, idle reports of warm batches (handed the next work, told to exit, or left to
run out of time), duplicate and lost notifications, dead batches, reconciler ticks and cancels must keep
these invariants: no trial runs twice at once; neither the capacity cap nor a job's max_parallel is
exceeded, waiting batches included; every attempt that ran is kept for the budgets (every rung counts);
every job ends; and then no batch of it lives on. Trials keep their validation predictions, and a
finalisation may report that the ensemble of its candidates won: a job that registers a model registers
that ensemble (its members, its leaderboard row) exactly when its last finalisation said so.
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.unit.conftest import CSV, DATA_URI, OWNER, SETTINGS, Clock, cancel_message, job_message, verifier
from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryJobRepository, MemoryPublisher
from zygarde.domain.contracts import (EXIT, FinalizeRequest, FinalizeResult, Handoff, IdleReport, PackRequest,
                                      PrepareRequest, PrepareResult, TrialResult, idle_object, parse_result_object_name)
from zygarde.domain.model import FINALIZE, PREPARE, TRAIN, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.edge import PubSubMessage
from zygarde.service_layer.locations import data_prefix, predictions_uri
from zygarde.service_layer.queries import job_view

CAP = 3
OTHER = "bo@example.com"
LEARNERS = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1, 0.3]}},
            {"algorithm": "random_forest_classifier", "params": {"numTrees": [5, 10]}},
            {"algorithm": "naive_bayes", "params": {"smoothing": [0.5, 1.0]}}]
KINDS = {"prepare_data.py": PREPARE, "train_pack.py": TRAIN, "finalize_model.py": FINALIZE}
REQUESTS = {PREPARE: PrepareRequest, TRAIN: PackRequest, FINALIZE: FinalizeRequest}
EXTRAS = {"plain": {}, "pruned": {"search": {"strategy": "random", "max_trials": 4, "pruning": {
              "strategy": "successive_halving", "min_fraction": 1 / 3, "reduction_factor": 3}}},
          "deadline": {"budget": {"deadline_minutes": 15}}, "core_hours": {"budget": {"max_core_hours": 0.5}}}


def _work(deps, batch_id: str) -> tuple[list, bool]:
    """(the requests a batch has run or been handed, in order; whether it was told to exit)."""
    request = deps.launcher.requests[batch_id]
    first = REQUESTS[request.labels["zygarde-kind"]].from_json(request.args[1])
    work, told_to_exit = [first], False
    if getattr(first, "handoff_prefix", None):
        handed = sorted(deps.blobs.list(first.handoff_prefix), key=lambda uri: int(uri.rsplit("/", 1)[1][:-5]))
        for uri in handed:
            handoff = Handoff.from_json(deps.blobs.read_bytes(uri))
            if handoff.main == EXIT:
                told_to_exit = True
                break
            work.append(REQUESTS[KINDS[handoff.main]].from_json(json.dumps(handoff.request)))
    return work, told_to_exit


def _members(request) -> list[tuple[str, int, str]]:
    """(trial_id, attempt, result_uri) of one request's trials."""
    if isinstance(request, PackRequest):
        return [(t.trial_id, t.attempt, t.result_uri) for t in request.trials]
    return [(PREPARE if isinstance(request, PrepareRequest) else FINALIZE, request.attempt, request.result_uri)]


def _runs_ended(trial) -> int:
    """Attempts of a trial that ran and ended, from its conditions."""
    states = [c.state for c in trial.conditions]
    return sum(1 for a, b in zip(states, states[1:]) if a == "RUNNING" and b != "RUNNING")


class Jobs(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.deps = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(),
                         publisher=MemoryPublisher(), clock=Clock(), verifier=verifier(),
                         settings=dataclasses.replace(SETTINGS, max_concurrent_batches=CAP, batch_startup_seconds=20,
                                                      pack_concurrency=2, handoff_seconds=600))
        for owner in (OWNER, OTHER):
            self.deps.blobs.write_bytes(DATA_URI.replace(OWNER, owner), CSV)
        self.jobs: dict[str, str] = {}  # job id -> owner
        self.written: list[str] = []  # result and idle objects, for duplicate deliveries
        self.kinds: Counter = Counter()  # what happened, for the run's statistics
        self.idle: list[str] = []  # idle reports written, their notifications not delivered yet

    # --- the batches, as a Spark batch behaves ------------------------------------------------------
    def _current(self, batch_id: str):
        work, told_to_exit = _work(self.deps, batch_id)
        return work[-1], len(work), told_to_exit

    def _live(self) -> list[tuple[str, str, int, str]]:
        """(batch_id, trial_id, attempt, result_uri) of running batches' current work not reported yet."""
        out = []
        for batch_id in self.deps.launcher.running:
            request, _, _ = self._current(batch_id)
            out += [(batch_id, t, a, uri) for t, a, uri in _members(request) if not self.deps.blobs.exists(uri)]
        return sorted(out)

    def _waiting(self, batch_id: str) -> bool:
        """Whether the batch has done its current work and waits for more."""
        request, _, _ = self._current(batch_id)
        return bool(getattr(request, "handoff_prefix", None)) and \
            all(self.deps.blobs.exists(uri) for _, _, uri in _members(request))

    def _work_done(self, batch_id: str) -> None:
        """The batch's current work has all reported: it exits, or reports that it waits (its report's
        notification comes later: an_idle_report_arrives)."""
        request, handed, _ = self._current(batch_id)
        if not getattr(request, "handoff_prefix", None):
            self.deps.launcher.finish(batch_id, "SUCCEEDED")
            return
        uri = idle_object(request.idle_prefix, handed)
        if not self.deps.blobs.exists(uri):
            self.deps.blobs.write_bytes(uri, IdleReport(request.job_id, handed).to_json().encode())
            self.idle.append(uri.removeprefix("gs://bkt/"))

    def _follow_handoffs(self) -> None:
        """A batch told to exit ends; one handed work runs it (its members are then live)."""
        for batch_id in list(self.deps.launcher.running):
            if self._current(batch_id)[2]:
                self.deps.launcher.finish(batch_id, "SUCCEEDED")
                self.kinds["told to exit"] += 1

    def _deliver(self, name: str, notify: bool = True) -> None:
        self.written.append(name)
        if notify:  # else the notification is lost: the reconciler must find the result or the batch's end
            edge.on_trial_result(PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": name,
                                                       "eventType": "OBJECT_FINALIZE"}), self.deps)
        self._follow_handoffs()

    def _ensemble(self, request, wins: bool) -> dict | None:
        """What a finalisation reports of its ensemble candidates: the first two won, or the winner alone."""
        candidates = list(getattr(request, "ensemble", ()))
        if len(candidates) < 2:
            return None
        best = self.deps.repo.get_trial(request.job_id, candidates[0].trial_id).objective or 0.0
        wins = wins and best < 1.0  # an AUC of 1 cannot be beaten, and a registered ensemble beats the best
        members = candidates[:2] if wins else candidates[:1]
        self.kinds["ensemble registered" if wins else "ensemble not better"] += 1
        return {"status": "registered" if wins else "not_better", "metric": "areaUnderROC", "direction": "maximize",
                "rounds": 25, "validation_score": (best + 1.0) / 2 if wins else best,
                "best_single_trial_id": candidates[0].trial_id,
                "best_single_score": best, "candidates": len(candidates), "selected_on": "validation",
                "members": [{"trial_id": c.trial_id, "algorithm": c.algorithm, "count": 1,
                             "weight": 1 / len(members)} for c in members]}

    def _result(self, job_id: str, trial_id: str, attempt: int, ok: bool, auc: float, request=None,
                ensemble_wins: bool = True):
        if trial_id == PREPARE:
            parts = {p: data_prefix(self.deps.settings, job_id) + p for p in ("train", "validation", "test")}
            return PrepareResult(job_id, attempt, "SUCCEEDED", report={"schema": [{"name": "f1"}, {"name": "y"}]},
                                 rows={"train": 60, "validation": 20, "test": 20}, parts=parts) if ok else \
                PrepareResult(job_id, attempt, "FAILED", error="one class", error_kind="data")
        if trial_id == FINALIZE:
            return FinalizeResult(job_id, attempt, "SUCCEEDED" if ok else "FAILED", {"areaUnderROC": 0.8},
                                  error=None if ok else "boom", error_kind=None if ok else "runtime",
                                  ensemble=self._ensemble(request, ensemble_wins) if ok else None)
        kept = predictions_uri(self.deps.settings, job_id, trial_id, attempt) if ok else None
        return TrialResult(job_id, trial_id, attempt, "SUCCEEDED" if ok else "FAILED",
                           {"areaUnderROC": auc, "train_seconds": 1.0} if ok else {},
                           error=None if ok else "boom", error_kind=None if ok else "runtime",
                           validation_predictions_uri=kept)

    # --- what happens ---------------------------------------------------------------------------
    @rule(n=st.integers(1, 3), owner=st.sampled_from([OWNER, OTHER]), packing=st.sampled_from(["auto", "auto", "off"]),
          max_parallel=st.integers(1, 3), attempts=st.integers(1, 2), extra=st.sampled_from(sorted(EXTRAS)))
    def submit(self, n, owner, packing, max_parallel, attempts, extra):
        if len(self.jobs) >= 4:
            return
        job_id = f"job-{len(self.jobs)}"
        spec = {"job_id": job_id, "owner": owner, "task": "binary_classification", "packing": packing,
                "dataset": {"uri": DATA_URI.replace(OWNER, owner), "format": "csv", "target": "y"},
                "candidates": LEARNERS[:n], "max_parallel": max_parallel, "max_attempts": attempts, **EXTRAS[extra]}
        self.jobs[job_id] = owner
        self.kinds[extra] += 1
        edge.submit_job(job_message(spec, f"m-{job_id}"), self.deps)

    @rule(data=st.data(), ok=st.booleans(), notify=st.booleans(), ensemble_wins=st.booleans())
    def a_trial_reports(self, data, ok, notify, ensemble_wins):
        live = self._live()
        if not live:
            return
        batch_id, trial_id, attempt, uri = data.draw(st.sampled_from(live))
        job_id = self.deps.launcher.requests[batch_id].labels["zygarde-job"]
        result = self._result(job_id, trial_id, attempt, ok, data.draw(st.floats(0.5, 1.0)),
                              self._current(batch_id)[0], ensemble_wins)
        self.deps.blobs.write_bytes(uri, result.to_json().encode())
        self._deliver(uri.removeprefix("gs://bkt/"), notify)
        if batch_id in self.deps.launcher.running and not any(b == batch_id for b, *_ in self._live()):
            self._work_done(batch_id)

    @rule(data=st.data(), notify=st.booleans())
    def an_idle_report_arrives(self, data, notify):
        if self.idle:
            name = self.idle.pop(data.draw(st.integers(0, len(self.idle) - 1)))
            self.kinds["idle reported" if notify else "idle report lost"] += 1
            self._deliver(name, notify)

    @rule(data=st.data())
    def a_notification_comes_again(self, data):
        if self.written:
            self._deliver(data.draw(st.sampled_from(self.written)))

    @rule(data=st.data())
    def a_waiting_batch_runs_out_of_time(self, data):
        waiting = sorted(b for b in self.deps.launcher.running if self._waiting(b))
        if waiting:
            self.deps.launcher.finish(data.draw(st.sampled_from(waiting)), "SUCCEEDED")
            self.kinds["wait ran out"] += 1

    @rule(data=st.data())
    def a_batch_dies(self, data):
        running = sorted(self.deps.launcher.running)
        if running:
            self.deps.launcher.finish(data.draw(st.sampled_from(running)), "FAILED", "the driver was lost")

    @rule(minutes=st.integers(0, 5))
    def the_reconciler_ticks(self, minutes):
        self.deps.clock.t += timedelta(minutes=minutes)
        edge.reconcile(self.deps)
        self._follow_handoffs()

    @rule(data=st.data())
    def an_owner_cancels(self, data):
        if self.jobs:
            job_id = data.draw(st.sampled_from(sorted(self.jobs)))
            edge.submit_job(cancel_message(job_id, self.jobs[job_id], f"c-{job_id}"), self.deps)
            self._follow_handoffs()

    # --- what must always hold ------------------------------------------------------------------
    @invariant()
    def no_trial_runs_twice_at_once(self):
        counts = Counter((self.deps.launcher.requests[b].labels["zygarde-job"], t) for b, t, _, _ in self._live())
        assert all(n == 1 for n in counts.values()), counts

    @invariant()
    def neither_the_cap_nor_max_parallel_is_exceeded_waiting_batches_included(self):
        running = self.deps.launcher.running
        assert len(running) <= CAP, running
        for job_id, n in Counter(self.deps.launcher.batches[b].labels["zygarde-job"] for b in running).items():
            assert n <= self.deps.repo.get_job(job_id).spec["max_parallel"], (job_id, n)
        assert len(self.deps.repo.capacity_holders()) <= CAP

    @invariant()
    def every_attempt_that_ran_is_kept_for_the_budgets(self):
        for job_id in self.jobs:
            for t in self.deps.repo.list_trials(job_id):
                assert len(t.runs) == _runs_ended(t), (t.trial_id, t.runs, [c.state for c in t.conditions])

    def teardown(self):
        """Every job ends once its batches do their work, and then none of its batches lives."""
        for _ in range(200):
            live = self._live()
            if not live and all(self.deps.repo.get_job(j).state.is_finished() for j in self.jobs):
                break
            for batch_id, trial_id, attempt, uri in live:
                if batch_id not in self.deps.launcher.running or self.deps.blobs.exists(uri):
                    continue
                job_id = self.deps.launcher.requests[batch_id].labels["zygarde-job"]
                result = self._result(job_id, trial_id, attempt, True, 0.7, self._current(batch_id)[0])
                self.deps.blobs.write_bytes(uri, result.to_json().encode())
                self._deliver(uri.removeprefix("gs://bkt/"))
                if batch_id in self.deps.launcher.running and not any(b == batch_id for b, *_ in self._live()):
                    self._work_done(batch_id)
            while self.idle:
                self._deliver(self.idle.pop(0))
            for batch_id in list(self.deps.launcher.running):  # a waiting batch's time runs out
                if self._waiting(batch_id):
                    self.deps.launcher.finish(batch_id, "SUCCEEDED")
            self.deps.clock.t += timedelta(minutes=3)
            edge.reconcile(self.deps)
            self._follow_handoffs()
        handed = sum(1 for name in self.deps.blobs.list("gs://bkt/artifacts/") if "/handoff/" in name)
        event(f"warm handoffs: {'some' if handed else 'none'}")
        for kind in sorted(self.kinds):
            event(f"seen: {kind}")
        states = {j: self.deps.repo.get_job(j).state for j in self.jobs}
        assert all(s.is_finished() for s in states.values()), states
        self.deps.clock.t += timedelta(minutes=5)
        edge.reconcile(self.deps)
        self._follow_handoffs()
        assert self.deps.launcher.running == []
        assert self.deps.repo.active_trials() == [] and self.deps.repo.capacity_holders() == {}
        assert all(t.state is not TrialState.PAUSED for j in self.jobs for t in self.deps.repo.list_trials(j))
        for job_id in self.jobs:
            self._registered_what_the_finalisation_chose(job_id)

    def _registered_what_the_finalisation_chose(self, job_id: str) -> None:
        """A registered version is the ensemble exactly when the job's finalisation reported one registered:
        its members (succeeded trials that kept predictions), its weights, its own leaderboard row."""
        job = self.deps.repo.get_job(job_id)
        if job.model_version is None:
            return
        [record] = [r for r in self.deps.repo.model_versions(job.model_name) if r["job_id"] == job_id]
        ensemble = self.deps.repo.get_trial(job_id, FINALIZE).outputs.get("ensemble") or {}
        rows = job_view(self.deps.repo, job_id).leaderboard()
        if ensemble.get("status") != "registered":
            assert record["algorithm"] != "ensemble" and rows[0].trial_id == job.best_trial_id, (record, ensemble)
            return
        event("a job registered an ensemble")
        members = [m["trial_id"] for m in ensemble["members"]]
        assert record["algorithm"] == "ensemble" and record["ensemble"] == ensemble
        assert [m["trial_id"] for m in record["params"]["members"]] == members
        trials = {t.trial_id: t for t in self.deps.repo.list_trials(job_id)}
        assert all(trials[m].state is TrialState.SUCCEEDED and trials[m].outputs.get("validation_predictions_uri")
                   for m in members), members
        assert members[0] == job.best_trial_id  # the candidates come best first, the winner first
        assert rows[0].trial_id == "ensemble" and [m["trial_id"] for m in rows[0].members] == members


TestJobs = Jobs.TestCase
TestJobs.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


def test_result_names_parse_back():  # the machine relies on it to re-notify
    assert parse_result_object_name("results/job-0/t0001/attempt-2.json") == ("job-0", "t0001", 2)
