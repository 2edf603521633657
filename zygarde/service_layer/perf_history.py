"""The installation's finished-trial history, which the performance model is refitted on (job_plans).

Each ended job leaves one object, gs://BUCKET/artifacts/_perf/{finished_at}-{job_id}.json (no job id
starts with "_"), holding its fits and its batches' start-ups as perf_records.dumps: shapes and seconds,
never data. Written once
per job by the JobEnded handler under a name of its own (a redelivery writes the same bytes; no object
is shared, so nothing contends); read at acceptance, the newest HISTORY_JOBS of them, each read once per
process (they never change)."""
from __future__ import annotations

import re
from weakref import WeakKeyDictionary

from zygarde.config import prefix
from zygarde.domain import perf_records, startup_reserve
from zygarde.domain.errors import NotFound, PermanentError
from zygarde.domain.model import PREPARE, TRAIN, Job, Trial, TrialState
from zygarde.domain.perf_records import Observation, TrialShape
from zygarde.domain.plan_timeline import DEFAULT_SIZE
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.ports import BlobStore

FOLDER = "_perf/"
HISTORY_JOBS = 100
SCORED = (TrialState.SUCCEEDED, TrialState.PAUSED, TrialState.PRUNED)
# per bucket store, object URI -> its fits (an object is written once: its name has the job's end in it)
_CACHE: WeakKeyDictionary[BlobStore, dict[str, list[Observation]]] = WeakKeyDictionary()


def folder(bucket: str) -> str:
    return f"gs://{bucket}/{prefix('artifacts')}{FOLDER}"


def object_uri(bucket: str, job: Job) -> str:
    stamp = re.sub(r"[^0-9T]", "", (job.finished_at or job.created_at))[:15]  # 20260101T000300: sorts by time
    return f"{folder(bucket)}{stamp}-{job.job_id}.json"


def newest(deps: Deps) -> tuple[str, ...]:
    """The history objects of the newest HISTORY_JOBS jobs, oldest first (none when they cannot be listed)."""
    try:
        return tuple(sorted(deps.blobs.list(folder(deps.settings.bucket)))[-HISTORY_JOBS:])
    except PermanentError as exc:
        log.warning("performance history not listed, the prior alone prices the job error=%s", str(exc)[:200])
        return ()


def history(deps: Deps, uris: tuple[str, ...] | None = None) -> list[Observation]:
    """The fits of the newest jobs (or of these objects), oldest first; what cannot be read is left out."""
    uris = newest(deps) if uris is None else uris
    out: list[Observation] = []
    cache = _CACHE.setdefault(deps.blobs, {})
    for uri in uris:
        if uri not in cache:
            try:
                cache[uri] = perf_records.loads(deps.blobs.read_bytes(uri).decode("utf-8"))
            except NotFound:
                continue
            except (PermanentError, ValueError, UnicodeDecodeError) as exc:
                log.warning("performance history object unreadable, left out uri=%s error=%s", uri, str(exc)[:200])
                cache[uri] = []
        out.extend(cache[uri])
    return out


def observations(job: Job, trials: list[Trial], pack_concurrency: int) -> list[Observation]:
    """The job's finished fits as the planner shapes trials (job_plans.workload): the prepared train
    part's rows, the dataset's columns less the target, the task cores a fit had in its batch; then
    its batches' start-ups (startup_reserve.measured)."""
    plan = job.plan or {}
    prepare = next((t for t in trials if t.kind == PREPARE), None)
    rows = int(((prepare.outputs.get("rows") if prepare else None) or {}).get("train") or 0)
    if rows < 1:
        return []
    features = max(1, int(plan.get("columns") or 2) - 1)
    if plan.get("sized"):
        cores = plan["executors"] * plan["executor_cores"] / max(1, int(plan["concurrency"]))
    else:
        packs = (job.spec.get("packing") or "auto") != "off"
        cores = DEFAULT_SIZE.task_cores / (max(1, pack_concurrency) if packs else 1)
    out = []
    for t in trials:
        seconds = t.metrics.get("train_seconds")
        if t.kind != TRAIN or t.state not in SCORED or not isinstance(seconds, (int, float)) or seconds <= 0:
            continue
        shape = TrialShape(t.algorithm, perf_records.cost_params(t.params), rows, features, cores, t.train_fraction)
        out.append(Observation.of_fit(shape, float(seconds)))
    return out + [Observation(perf_records.STARTUP, s) for s in startup_reserve.measured(trials)]


def record(deps: Deps, job: Job) -> None:
    """Keep an ended job's fits for the installation's history (nothing for a job without any)."""
    found = observations(job, deps.repo.list_trials(job.job_id), deps.settings.pack_concurrency)
    if found:
        deps.blobs.write_bytes(object_uri(deps.settings.bucket, job), perf_records.dumps(found).encode(),
                               "application/json")
        startups = sum(o.stage == perf_records.STARTUP for o in found)
        log.info("performance history kept job_id=%s fits=%d startups=%d", job.job_id, len(found) - startups, startups)
