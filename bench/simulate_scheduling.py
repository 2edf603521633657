"""Scheduling at scale in virtual time: the real message bus on in-memory ports, batches that take simulated
time, failures injected. Reports trials lost, trials run twice, fairness, utilisation, and what the store
is asked per event and per message delivered to it (repository reads and the documents they return).

    .venv/bin/python bench/simulate_scheduling.py --users 100 --trials-per-user 100 --cap 200
    .venv/bin/python bench/simulate_scheduling.py --users 1000 --packing auto

Each batch runs its work (a stage, or a pack of trials fitting `pack_concurrency` at a time, each trial
lasting a log-normal number of minutes) and writes one result per trial; a batch that waits for more (a
packed job's, with warm handoffs) then reports idle and is handed the job's next work, told to exit, or
ends when its wait runs out. 1% of batches die without a result, 1% of notifications are lost (the
reconciler's tick, every 5 minutes, recovers both), 5% are delivered twice.
"""
from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryJobRepository, MemoryPublisher  # noqa: E402,I001
from zygarde.adapters.auth import GoogleTokenVerifier  # noqa: E402
from zygarde.config import Settings, jobs_audience  # noqa: E402
from zygarde.domain.contracts import (EXIT, FinalizeRequest, FinalizeResult, Handoff, IdleReport, PackRequest,  # noqa: E402
                                      PrepareRequest, PrepareResult, TrialResult, handoff_object, idle_object)
from zygarde.domain.identity import token_attributes  # noqa: E402
from zygarde.domain.model import JobState, TrialState  # noqa: E402
from zygarde.local.identity import TokenIssuer  # noqa: E402
from zygarde.service_layer import edge  # noqa: E402
from zygarde.service_layer.deps import Deps  # noqa: E402
from zygarde.service_layer.edge import PubSubMessage  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
KINDS = {"prepare": PrepareRequest, "train": PackRequest, "finalize": FinalizeRequest}
MAINS = {"prepare_data.py": PrepareRequest, "train_pack.py": PackRequest, "finalize_model.py": FinalizeRequest}


class VirtualClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class CountingRepository(MemoryJobRepository):
    """Counts what a Firestore repository would bill: calls, and documents read (gets, query results; an
    aggregation counts as one)."""

    READS = ("get_job", "list_jobs", "get_trial", "list_trials", "batch_trials", "active_trials", "slot_holders",
             "capacity_holders", "model_versions", "free_capacity", "owner_running", "ready_jobs")

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.docs_read = 0
        self.by_method: Counter = Counter()  # method -> documents read

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name in CountingRepository.READS:
            def counted(*args, **kwargs):
                self.calls += 1
                out = attr(*args, **kwargs)
                docs = len(out) if isinstance(out, (list, dict)) else 1
                self.docs_read += docs
                self.by_method[name] += docs
                return out
            return counted
        return attr


class SimLauncher(MemoryBatchLauncher):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.started: dict[str, datetime] = {}
        self.ended: dict[str, datetime] = {}
        self.created: list[str] = []  # batches created since the simulation last looked

    def create(self, request) -> None:
        super().create(request)
        self.started[request.batch_id] = self.clock.now
        self.created.append(request.batch_id)

    def finish(self, batch_id: str, state: str, message: str = "") -> None:
        super().finish(batch_id, state, message)
        self.ended.setdefault(batch_id, self.clock.now)


class SimBlobs(MemoryBlobStore):
    def __init__(self) -> None:
        super().__init__()
        self.handoffs: list[str] = []  # handoff objects written since the simulation last looked

    def write_bytes(self, uri, data, content_type="application/octet-stream", if_generation_match=None) -> int:
        generation = super().write_bytes(uri, data, content_type, if_generation_match)
        if "/handoff/" in uri:
            self.handoffs.append(uri)
        return generation


class Simulation:
    def __init__(self, users: int, trials_per_user: int, cap: int, max_parallel: int, seed: int, packing: str,
                 p_die: float, p_drop: float, p_dup: float) -> None:
        self.rng, self.clock, self.events = random.Random(seed), VirtualClock(), []
        self.users, self.trials_per_user, self.max_parallel, self.packing = users, trials_per_user, max_parallel, packing
        self.p_die, self.p_drop, self.p_dup = p_die, p_drop, p_dup
        self.issuer = TokenIssuer.generate("https://issuer.sim")  # each user signs their job, as on the jobs topic
        settings = Settings(project="sim", region="r", bucket="bkt", max_concurrent_batches=cap,
                            token_issuers=(self.issuer.issuer,))
        self.deps = Deps(CountingRepository(), SimLauncher(self.clock), SimBlobs(), MemoryPublisher(), settings,
                         self.clock, GoogleTokenVerifier(settings.audiences, settings.token_issuers,
                                                         certs=self.issuer.certs()))
        self.seen: set[tuple[str, int]] = set()  # (batch, handoff) whose work was scheduled
        self.counted: dict[str, float] = defaultdict(float)  # trial result uri -> written once
        self.results_written: Counter = Counter()  # (job, trial) -> successful results written
        self.messages = 0  # messages delivered to the control plane (a job, a notification, a tick)

    def push(self, when: datetime, key: str, kind: str) -> None:
        heapq.heappush(self.events, (when, key, kind))

    # --- a batch, as Spark runs it --------------------------------------------------------------
    def work_of(self, batch_id: str, n: int):
        """The request a batch runs as its nth piece of work (0: the one it was created with)."""
        request = self.deps.launcher.requests[batch_id]
        first = KINDS[request.labels["zygarde-kind"]].from_json(request.args[1])
        if n == 0:
            return first
        handoff = Handoff.from_json(self.deps.blobs.read_bytes(handoff_object(first.handoff_prefix, n)))
        return None if handoff.main == EXIT else MAINS[handoff.main].from_json(json.dumps(handoff.request))

    def start(self, batch_id: str, n: int) -> None:
        """The batch begins its nth work: it ends after its trials' time (pack_concurrency at a time)."""
        if (batch_id, n) in self.seen:
            return
        self.seen.add((batch_id, n))
        request = self.work_of(batch_id, n)
        trials = len(request.trials) if isinstance(request, PackRequest) else 1
        lanes = [0.0] * min(trials, max(1, self.deps.settings.pack_concurrency))
        for _ in range(trials):
            lanes[lanes.index(min(lanes))] += self.rng.lognormvariate(1.6, 0.6)
        self.push(self.clock.now + timedelta(minutes=max(lanes)), batch_id, f"done:{n}")

    def done(self, batch_id: str, n: int) -> None:
        """Its nth work is done: one result per trial, then it exits, or reports idle and waits."""
        if self.deps.launcher.get(batch_id).is_terminal:
            return
        if self.rng.random() < self.p_die:
            self.deps.launcher.finish(batch_id, "FAILED", "simulated executor loss")
            return
        request = self.work_of(batch_id, n)
        for uri, result in self.results(request):
            self.deps.blobs.write_bytes(uri, result.to_json().encode())
            self.notify(uri)
        if not request.handoff_prefix:
            self.deps.launcher.finish(batch_id, "SUCCEEDED")
            return
        idle = idle_object(request.idle_prefix, n + 1)
        self.deps.blobs.write_bytes(idle, IdleReport(request.job_id, n + 1).to_json().encode())
        self.notify(idle)
        self.push(self.clock.now + timedelta(seconds=self.deps.settings.handoff_seconds), batch_id, f"wait:{n + 1}")

    def waited(self, batch_id: str, n: int) -> None:
        """Its wait for handoff n has run out, unless the work came (or it was told to exit)."""
        if not self.deps.launcher.get(batch_id).is_terminal and (batch_id, n) not in self.seen:
            self.deps.launcher.finish(batch_id, "SUCCEEDED")

    def follow(self) -> None:
        """New batches start their work; waiting batches take handed work at once, or end when told to exit."""
        launcher, blobs = self.deps.launcher, self.deps.blobs
        while launcher.created:
            self.start(launcher.created.pop(0), 0)
        while blobs.handoffs:
            uri = blobs.handoffs.pop(0)
            batch_id, n = uri.rsplit("/", 2)[1], int(uri.rsplit("/", 1)[1][:-5])
            if launcher.get(batch_id).is_terminal or (batch_id, n) in self.seen:
                continue
            if self.work_of(batch_id, n) is None:
                self.seen.add((batch_id, n))
                launcher.finish(batch_id, "SUCCEEDED")
            else:
                self.start(batch_id, n)

    def results(self, request):
        if isinstance(request, PrepareRequest):
            parts = {p: f"{request.output_prefix}{p}" for p in ("train", "validation", "test")}
            yield request.result_uri, PrepareResult(request.job_id, request.attempt, "SUCCEEDED", parts=parts,
                                                    rows={"train": 10_000, "validation": 2_000, "test": 2_000})
        elif isinstance(request, FinalizeRequest):
            yield request.result_uri, FinalizeResult(request.job_id, request.attempt, "SUCCEEDED", {"areaUnderROC": 0.8},
                                                     package_uri=request.package_uri,
                                                     manifest_uri=request.package_uri + "manifest.json")
        else:
            for t in request.trials:
                self.results_written[(request.job_id, t.trial_id)] += 1
                yield t.result_uri, TrialResult(request.job_id, t.trial_id, t.attempt, "SUCCEEDED",
                                                {"areaUnderROC": self.rng.random()}, model_uri=t.model_uri)

    def notify(self, uri: str) -> None:
        if self.rng.random() < self.p_drop:
            return  # the notification is lost: the reconciler must recover it
        msg = PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": uri.removeprefix("gs://bkt/"),
                                    "eventType": "OBJECT_FINALIZE"})
        for _ in range(2 if self.rng.random() < self.p_dup else 1):
            self.messages += 1
            edge.on_trial_result(msg, self.deps)

    # --- the run ----------------------------------------------------------------------------------
    def run(self) -> dict:
        deps = self.deps
        for u in range(self.users):  # users arrive over the first 10 virtual minutes
            deps.blobs.write_bytes(f"gs://bkt/datasets/user{u:04d}/d.csv", b"x,y\n1,0\n")  # the owner's folder
            self.push(START + timedelta(seconds=self.rng.uniform(0, 600)), f"user{u:04d}", "submit")
        self.push(START + timedelta(minutes=5), "tick", "tick")
        wall, events, finished = time.perf_counter(), 0, 0
        while self.events and finished < self.users:
            when, key, kind = heapq.heappop(self.events)
            self.clock.now, events = when, events + 1
            if kind == "submit":
                spec = {"job_id": f"job-{key}", "owner": key, "packing": self.packing,
                        "dataset": {"uri": f"gs://bkt/datasets/{key}/d.csv", "format": "csv", "target": "y"},
                        "task": "binary_classification", "max_parallel": self.max_parallel, "max_attempts": 3,
                        "candidates": [{"algorithm": "logistic_regression",
                                        "params": {"regParam": [i / 1000 for i in range(self.trials_per_user)]}}]}
                self.messages += 1
                token = self.issuer.mint(key, jobs_audience("sim"), issued_at=when.timestamp())
                edge.submit_job(PubSubMessage(json.dumps(spec).encode(), token_attributes(token), key,
                                              when.isoformat()), deps)
            elif kind == "tick":
                self.messages += 1
                edge.reconcile(deps)
                if self.events:
                    self.push(when + timedelta(minutes=5), "tick", "tick")
            elif kind.startswith("done:"):
                self.done(key, int(kind[5:]))
            else:
                self.waited(key, int(kind[5:]))
            self.follow()
            if kind.startswith("done:") or kind == "tick":
                finished = sum(1 for j in deps.repo.jobs.values() if j.state.is_finished())
        return self.report(time.perf_counter() - wall, events)

    def report(self, wall: float, events: int) -> dict:
        deps = self.deps
        trials = [t for job_id in deps.repo.jobs for t in deps.repo.list_trials(job_id) if t.kind == "train"]
        busy: dict[str, float] = defaultdict(float)  # owner -> batch-seconds
        last = START
        for batch_id, started in deps.launcher.started.items():
            ended = deps.launcher.ended.get(batch_id, self.clock.now)
            busy[deps.launcher.batches[batch_id].labels["zygarde-owner"]] += (ended - started).total_seconds()
            last = max(last, ended)
        shares = list(busy.values())
        makespan = (last - START).total_seconds()
        jain = sum(shares) ** 2 / (len(shares) * sum(s * s for s in shares)) if shares else 0.0
        return {
            "users": self.users, "trials": len(trials), "packing": self.packing, "cap": deps.settings.max_concurrent_batches,
            "events": events,
            "jobs_succeeded": sum(1 for j in deps.repo.jobs.values() if j.state is JobState.SUCCEEDED),
            "trials_lost": sum(1 for t in trials if not t.state.is_finished()),
            "trials_failed": sum(1 for t in trials if t.state is TrialState.FAILED),
            "trials_run_twice": sum(1 for t in trials if self.results_written[(t.job_id, t.trial_id)] > 1),
            "batches_created": len(deps.launcher.batches),
            "warm_handoffs": sum(1 for _, n in self.seen if n > 0),
            "fairness_jain_batch_time": round(jain, 4),
            "slot_utilisation": round(sum(shares) / (deps.settings.max_concurrent_batches * makespan), 4) if makespan else 0.0,
            "virtual_hours": round(makespan / 3600, 2),
            "messages": self.messages,
            "repository_reads_per_event": round(deps.repo.calls / events, 1),
            "documents_read_per_event": round(deps.repo.docs_read / events, 1),
            "repository_reads_per_message": round(deps.repo.calls / self.messages, 1),
            "documents_read_per_message": round(deps.repo.docs_read / self.messages, 1),
            "documents_read_per_message_by_method": {k: round(v / self.messages, 1)
                                                     for k, v in deps.repo.by_method.most_common()},
            "wall_seconds": round(wall, 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--trials-per-user", type=int, default=100)
    parser.add_argument("--cap", type=int, default=200)
    parser.add_argument("--max-parallel", type=int, default=10)
    parser.add_argument("--packing", choices=["off", "auto"], default="off",
                        help="off: a batch per trial (the recorded baselines); auto: packs and warm handoffs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--p-die", type=float, default=0.01, help="share of batches that die without a result")
    parser.add_argument("--p-drop", type=float, default=0.01, help="share of notifications lost")
    parser.add_argument("--p-dup", type=float, default=0.05, help="share of notifications delivered twice")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args()
    result = Simulation(args.users, args.trials_per_user, args.cap, args.max_parallel, args.seed, args.packing,
                        args.p_die, args.p_drop, args.p_dup).run()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
