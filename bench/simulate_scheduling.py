"""Scheduling at scale in virtual time: the real handlers on in-memory ports, batches that take
simulated time, failures injected. Reports trials lost, trials run twice, fairness, utilisation.

    .venv/bin/python bench/simulate_scheduling.py --users 100 --trials-per-user 100 --cap 200
"""
from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryJobRepository, MemoryPublisher  # noqa: E402,I001
from zygarde.adapters.auth import GoogleTokenVerifier  # noqa: E402
from zygarde.config import Settings, jobs_audience  # noqa: E402
from zygarde.domain.identity import token_attributes  # noqa: E402
from zygarde.local.identity import TokenIssuer  # noqa: E402
from zygarde.domain.contracts import TrialResult  # noqa: E402
from zygarde.domain.model import JobState, TrialState  # noqa: E402
from zygarde.service_layer import handlers  # noqa: E402
from zygarde.service_layer.deps import Deps  # noqa: E402
from zygarde.service_layer.handlers import Message  # noqa: E402
from zygarde.service_layer.launching import trial_uris  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class VirtualClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class SimLauncher(MemoryBatchLauncher):
    """Each created batch ends after a seeded random duration (minutes of virtual time)."""

    def __init__(self, clock: VirtualClock, rng: random.Random, events: list) -> None:
        super().__init__()
        self.clock, self.rng, self.events = clock, rng, events
        self.started: dict[str, datetime] = {}

    def create(self, request) -> None:
        super().create(request)
        duration = timedelta(minutes=self.rng.lognormvariate(1.6, 0.6))
        self.started[request.batch_id] = self.clock.now
        heapq.heappush(self.events, (self.clock.now + duration, request.batch_id, "end"))

    def cancel(self, batch_id: str) -> None:
        super().cancel(batch_id)


class CountingRepository(MemoryJobRepository):
    """Counts what a Firestore repository would bill: calls, and documents read (gets and query results)."""

    READS = ("get_job", "list_jobs", "get_trial", "list_trials", "active_trials", "slot_holders",
             "capacity_holders", "model_versions")

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.docs_read = 0

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name in CountingRepository.READS:
            def counted(*args, **kwargs):
                self.calls += 1
                out = attr(*args, **kwargs)
                self.docs_read += len(out) if isinstance(out, (list, dict)) else 1
                return out
            return counted
        return attr


def run(users: int, trials_per_user: int, cap: int, max_parallel: int, seed: int, p_die: float,
        p_drop: float, p_dup: float) -> dict:
    rng = random.Random(seed)
    clock, events = VirtualClock(), []
    issuer = TokenIssuer.generate("https://issuer.sim")  # each user signs their job, as on the jobs topic
    settings = Settings(project="sim", region="r", bucket="bkt", max_concurrent_batches=cap,
                        token_issuers=(issuer.issuer,))
    deps = Deps(CountingRepository(), SimLauncher(clock, rng, events), MemoryBlobStore(), MemoryPublisher(),
                settings, clock, GoogleTokenVerifier(settings.audiences, settings.token_issuers, certs=issuer.certs()))
    for u in range(users):  # users arrive over the first 10 virtual minutes
        deps.blobs.write_bytes(f"gs://bkt/datasets/user{u:03d}/d.csv", b"x,y\n1,0\n")  # the owner's folder
        heapq.heappush(events, (START + timedelta(seconds=rng.uniform(0, 600)), f"user{u:03d}", "submit"))
    heapq.heappush(events, (START + timedelta(minutes=5), "tick", "tick"))
    busy = defaultdict(float)  # owner -> slot-seconds
    wall = time.perf_counter()
    finished_jobs, n_events, last_end = 0, 0, START
    while events and finished_jobs < users:
        when, key, kind = heapq.heappop(events)
        clock.now, n_events = when, n_events + 1
        if kind == "submit":
            spec = {"job_id": f"job-{key}", "owner": key,
                    "dataset": {"uri": f"gs://bkt/datasets/{key}/d.csv", "format": "csv", "target": "y"},
                    "task": "binary_classification", "max_parallel": max_parallel, "max_attempts": 3,
                    "candidates": [{"algorithm": "logistic_regression",
                                    "params": {"regParam": [i / 1000 for i in range(trials_per_user)]}}]}
            token = issuer.mint(key, jobs_audience("sim"), issued_at=when.timestamp())
            handlers.submit_job(Message(json.dumps(spec).encode(), token_attributes(token), key, when.isoformat()), deps)
        elif kind == "tick":
            handlers.on_cluster_idle(deps)
            heapq.heappush(events, (when + timedelta(minutes=5), "tick", "tick"))
        else:
            batch = deps.launcher.batches[key]
            if batch.is_terminal:  # cancelled meanwhile
                continue
            owner = batch.labels["zygarde-owner"]
            busy[owner] += (when - deps.launcher.started[key]).total_seconds()
            last_end = when
            job_id, trial_id = batch.labels["zygarde-job"], batch.labels["zygarde-trial"]
            attempt = int(key.rsplit("-a", 1)[1])
            if rng.random() < p_die:  # the batch dies: no result, the reconciler must notice
                deps.launcher.finish(key, "FAILED", "simulated executor loss")
                continue
            _, uri = trial_uris(deps.settings, job_id, trial_id, attempt)
            result = TrialResult(job_id, trial_id, attempt, "SUCCEEDED", {"areaUnderROC": rng.random()})
            deps.blobs.write_bytes(uri, result.to_json().encode())
            deps.launcher.finish(key, "SUCCEEDED")
            if rng.random() < p_drop:  # the notification is lost: the reconciler must recover it
                continue
            msg = Message(b"{}", {"bucketId": "bkt", "objectId": uri[len("gs://bkt/"):], "eventType": "OBJECT_FINALIZE"})
            for _ in range(2 if rng.random() < p_dup else 1):
                handlers.on_trial_result(msg, deps)
        finished_jobs = sum(1 for j in deps.repo.jobs.values() if j.state.is_finished())
    wall = time.perf_counter() - wall
    return report(deps, busy, users, trials_per_user, cap, wall, n_events, last_end)


def report(deps, busy, users, trials_per_user, cap, wall, n_events, last_end) -> dict:
    trials = [t for job_id in deps.repo.jobs for t in deps.repo.list_trials(job_id)]
    succeeded_batches = defaultdict(int)
    for b in deps.launcher.batches.values():
        if b.state == "SUCCEEDED":
            succeeded_batches[(b.labels["zygarde-job"], b.labels["zygarde-trial"])] += 1
    shares = list(busy.values())
    jain = sum(shares) ** 2 / (len(shares) * sum(s * s for s in shares)) if shares else 0.0
    makespan = (last_end - START).total_seconds()
    return {
        "users": users, "trials": len(trials), "cap": cap, "events": n_events,
        "jobs_succeeded": sum(1 for j in deps.repo.jobs.values() if j.state is JobState.SUCCEEDED),
        "trials_lost": sum(1 for t in trials if not t.state.is_finished()),
        "trials_failed": sum(1 for t in trials if t.state is TrialState.FAILED),
        "trials_run_twice": sum(1 for n in succeeded_batches.values() if n > 1),
        "batches_created": len(deps.launcher.batches),
        "fairness_jain_slot_time": round(jain, 4),
        "slot_utilisation": round(sum(shares) / (cap * makespan), 4) if makespan else 0.0,
        "virtual_hours": round(makespan / 3600, 2),
        "repository_reads_per_event": round(deps.repo.calls / n_events, 1),
        "documents_read_per_event": round(deps.repo.docs_read / n_events, 1),
        "wall_seconds": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--trials-per-user", type=int, default=100)
    parser.add_argument("--cap", type=int, default=200)
    parser.add_argument("--max-parallel", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--p-die", type=float, default=0.01, help="share of batches that die without a result")
    parser.add_argument("--p-drop", type=float, default=0.01, help="share of result notifications lost")
    parser.add_argument("--p-dup", type=float, default=0.05, help="share of notifications delivered twice")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args()
    result = run(args.users, args.trials_per_user, args.cap, args.max_parallel, args.seed, args.p_die,
                 args.p_drop, args.p_dup)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
