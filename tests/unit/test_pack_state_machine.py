"""A property-based state machine over the handlers with in-memory ports (Hypothesis).

Random interleavings of submissions, pack launches, results, duplicate and lost notifications,
dead batches, reconciler ticks and cancels must keep these invariants: no trial runs twice at
once, neither the capacity cap nor a job's max_parallel is exceeded, every job ends, and a
finished job has no live batch.
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
from zygarde.domain.contracts import (FinalizeRequest, FinalizeResult, Handoff, PackRequest, PrepareRequest,
                                      PrepareResult, TrialRequest, TrialResult, parse_result_object_name)
from zygarde.domain.model import FINALIZE, PREPARE
from zygarde.service_layer import handlers
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.handlers import Message
from zygarde.service_layer.launching import data_prefix

CAP = 3
OTHER = "bo@example.com"
LEARNERS = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1, 0.3]}},
            {"algorithm": "random_forest_classifier", "params": {"numTrees": [5, 10]}},
            {"algorithm": "naive_bayes", "params": {"smoothing": [0.5, 1.0]}}]


def _parse(main_or_kind: str, payload: str):
    kind = {"train_pack.py": "pack", "finalize_model.py": FINALIZE, "prepare_data.py": PREPARE}.get(main_or_kind,
                                                                                                   main_or_kind)
    if kind == "pack":
        return PackRequest.from_json(payload)
    return {PREPARE: PrepareRequest, FINALIZE: FinalizeRequest}.get(kind, TrialRequest).from_json(payload)


def _work(deps, batch_id: str) -> list:
    """The requests a batch has run or been handed: the one it was created with, then its handoffs."""
    request = deps.launcher.requests[batch_id]
    first = _parse(request.labels.get("zygarde-kind"), request.args[1])
    work = [first]
    if getattr(first, "handoff_prefix", None):
        for uri in sorted(deps.blobs.list(first.handoff_prefix)):
            handed = Handoff.from_json(deps.blobs.read_bytes(uri))
            work.append(_parse(handed.main, json.dumps(handed.request)))
    return work


def _members(deps, batch_id: str) -> list[tuple[str, int, str]]:
    """(trial_id, attempt, result_uri) of every trial a batch runs."""
    out = []
    for parsed in _work(deps, batch_id):
        if isinstance(parsed, PackRequest):
            out += [(t.trial_id, t.attempt, t.result_uri) for t in parsed.trials]
        else:
            kind = PREPARE if isinstance(parsed, PrepareRequest) else FINALIZE \
                if isinstance(parsed, FinalizeRequest) else None
            out.append((getattr(parsed, "trial_id", kind), parsed.attempt, parsed.result_uri))
    return out


def _waits_for_more(deps, batch_id: str) -> bool:
    return bool(getattr(_work(deps, batch_id)[-1], "handoff_prefix", None))


class PackedJobs(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.deps = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(),
                         publisher=MemoryPublisher(), clock=Clock(), verifier=verifier(),
                         settings=dataclasses.replace(SETTINGS, max_concurrent_batches=CAP, batch_startup_seconds=20,
                                                      pack_concurrency=2, handoff_seconds=600))
        for owner in (OWNER, OTHER):
            self.deps.blobs.write_bytes(DATA_URI.replace(OWNER, owner), CSV)
        self.jobs: dict[str, str] = {}  # job id -> owner
        self.written: list[str] = []  # result object names, for duplicate deliveries

    # --- what happens ---------------------------------------------------------------------------
    @rule(n=st.integers(1, 3), owner=st.sampled_from([OWNER, OTHER]), packing=st.sampled_from(["auto", "auto", "off"]),
          max_parallel=st.integers(1, 3), attempts=st.integers(1, 2))
    def submit(self, n, owner, packing, max_parallel, attempts):
        if len(self.jobs) >= 4:
            return
        job_id = f"job-{len(self.jobs)}"
        spec = {"job_id": job_id, "owner": owner, "task": "binary_classification", "packing": packing,
                "dataset": {"uri": DATA_URI.replace(OWNER, owner), "format": "csv", "target": "y"},
                "candidates": LEARNERS[:n], "max_parallel": max_parallel, "max_attempts": attempts}
        self.jobs[job_id] = owner
        handlers.submit_job(job_message(spec, f"m-{job_id}"), self.deps)

    def _live(self) -> list[tuple[str, str, int, str]]:
        """(batch_id, trial_id, attempt, result_uri) of running batches' trials that have not reported."""
        out = []
        for batch_id in self.deps.launcher.running:
            for trial_id, attempt, uri in _members(self.deps, batch_id):
                if not self.deps.blobs.exists(uri):
                    out.append((batch_id, trial_id, attempt, uri))
        return sorted(out)

    @rule(data=st.data(), ok=st.booleans(), notify=st.booleans())
    def a_trial_reports(self, data, ok, notify):
        live = self._live()
        if not live:
            return
        batch_id, trial_id, attempt, uri = data.draw(st.sampled_from(live))
        job_id = self.deps.launcher.requests[batch_id].labels["zygarde-job"]
        if trial_id == PREPARE:
            result = PrepareResult(job_id, attempt, "SUCCEEDED", report={"schema": [{"name": "f1"}, {"name": "y"}]},
                                   rows={"train": 60, "validation": 20, "test": 20},
                                   parts={p: data_prefix(self.deps.settings, job_id) + p
                                          for p in ("train", "validation", "test")}) if ok else \
                PrepareResult(job_id, attempt, "FAILED", error="one class", error_kind="data")
        elif trial_id == FINALIZE:
            result = FinalizeResult(job_id, attempt, "SUCCEEDED" if ok else "FAILED", {"areaUnderROC": 0.8},
                                    error=None if ok else "boom", error_kind=None if ok else "runtime")
        else:
            result = TrialResult(job_id, trial_id, attempt, "SUCCEEDED" if ok else "FAILED",
                                 {"areaUnderROC": data.draw(st.floats(0.5, 1.0)), "train_seconds": 1.0} if ok else {},
                                 error=None if ok else "boom", error_kind=None if ok else "runtime")
        self.deps.blobs.write_bytes(uri, result.to_json().encode())
        name = uri.removeprefix("gs://bkt/")
        self.written.append(name)
        if not _waits_for_more(self.deps, batch_id) and \
                all(self.deps.blobs.exists(u) for _, _, u in _members(self.deps, batch_id)):
            self.deps.launcher.finish(batch_id, "SUCCEEDED")  # the batch exits after its last result
        if notify:  # else the notification is lost: the reconciler must find the result
            self._notify(name)

    def _notify(self, name: str) -> None:
        handlers.on_trial_result(Message(b"{}", {"bucketId": "bkt", "objectId": name,
                                                 "eventType": "OBJECT_FINALIZE"}), self.deps)

    @rule(data=st.data())
    def a_notification_comes_again(self, data):
        if self.written:
            self._notify(data.draw(st.sampled_from(self.written)))

    @rule(data=st.data())
    def an_idle_batch_stops_waiting(self, data):
        idle = sorted(b for b in self.deps.launcher.running
                      if all(self.deps.blobs.exists(u) for _, _, u in _members(self.deps, b)))
        if idle:
            self.deps.launcher.finish(data.draw(st.sampled_from(idle)), "SUCCEEDED")

    @rule(data=st.data())
    def a_batch_dies(self, data):
        running = sorted(self.deps.launcher.running)
        if running:
            self.deps.launcher.finish(data.draw(st.sampled_from(running)), "FAILED", "the driver was lost")

    @rule(minutes=st.integers(0, 5))
    def the_reconciler_ticks(self, minutes):
        self.deps.clock.t += timedelta(minutes=minutes)
        handlers.on_cluster_idle(self.deps)

    @rule(data=st.data())
    def an_owner_cancels(self, data):
        if self.jobs:
            job_id = data.draw(st.sampled_from(sorted(self.jobs)))
            handlers.submit_job(cancel_message(job_id, self.jobs[job_id], f"c-{job_id}"), self.deps)

    # --- what must always hold ------------------------------------------------------------------
    @invariant()
    def no_trial_runs_twice_at_once(self):
        counts = Counter((self.deps.launcher.requests[b].labels["zygarde-job"], t) for b, t, _, _ in self._live())
        assert all(n == 1 for n in counts.values()), counts

    @invariant()
    def neither_the_cap_nor_max_parallel_is_exceeded(self):
        active = self.deps.repo.active_trials()
        batches = {(t.job_id, t.batch_id) for t in active}
        assert len(batches) <= CAP
        for job_id, n in Counter(job_id for job_id, _ in batches).items():
            spec = self.deps.repo.get_job(job_id).spec
            assert n <= spec["max_parallel"], (job_id, n)

    def teardown(self):
        """Every job ends once its batches do their work, and then none of its batches lives."""
        for _ in range(200):
            live = self._live()
            if not live and all(self.deps.repo.get_job(j).state.is_finished() for j in self.jobs):
                break
            for batch_id in sorted({b for b, *_ in live}):
                for _, trial_id, attempt, uri in [x for x in live if x[0] == batch_id]:
                    job_id = self.deps.launcher.requests[batch_id].labels["zygarde-job"]
                    result = (PrepareResult(job_id, attempt, "SUCCEEDED", report={}, rows={"train": 60},
                                            parts={p: data_prefix(self.deps.settings, job_id) + p
                                                   for p in ("train", "validation", "test")}) if trial_id == PREPARE
                              else FinalizeResult(job_id, attempt, "SUCCEEDED", {"areaUnderROC": 0.8})
                              if trial_id == FINALIZE
                              else TrialResult(job_id, trial_id, attempt, "SUCCEEDED", {"areaUnderROC": 0.7}))
                    self.deps.blobs.write_bytes(uri, result.to_json().encode())
                    self._notify(uri.removeprefix("gs://bkt/"))
                self.deps.launcher.finish(batch_id, "SUCCEEDED")
            for batch_id in list(self.deps.launcher.running):  # a warm batch's wait runs out
                self.deps.launcher.finish(batch_id, "SUCCEEDED")
            self.deps.clock.t += timedelta(minutes=3)
            handlers.on_cluster_idle(self.deps)
        handed = sum(1 for name in self.deps.blobs.list("gs://bkt/artifacts/") if "/handoff/" in name)
        event(f"warm handoffs: {'some' if handed else 'none'}")
        states = {j: self.deps.repo.get_job(j).state for j in self.jobs}
        assert all(s.is_finished() for s in states.values()), states
        self.deps.clock.t += timedelta(minutes=5)
        handlers.on_cluster_idle(self.deps)
        assert self.deps.launcher.running == []
        assert self.deps.repo.active_trials() == [] and self.deps.repo.capacity_holders() == {}


TestPackedJobs = PackedJobs.TestCase
TestPackedJobs.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])


def test_result_names_parse_back():  # the machine relies on it to re-notify
    assert parse_result_object_name("results/job-0/t0001/attempt-2.json") == ("job-0", "t0001", 2)
