"""Each launch's time limit and Dataproc ttl, from the stage's predicted cost (zygarde.domain.time_limits):
a preparation by its dataset's bytes, training by the pack planner's predicted seconds (corrected by
the job's finished trials), a finalisation by the winner's refit. The limit goes into the stage's
request (the batch enforces it) and onto the trial (the reconciler recognises a batch stopped at it);
the ttl onto the batch (Dataproc ends it) and its `zygarde-ttl` label (a warm batch gets only work
that fits in what is left of it)."""
from __future__ import annotations

from zygarde.domain import packing, time_limits
from zygarde.domain.model import FINALIZE, PREPARE, Trial, TrialState
from zygarde.domain.spec import JobSpec
from zygarde.service_layer.deps import Deps, log

TTL_LABEL = "zygarde-ttl"
GLOB_CHARS = "*?[{"


def ceiling(deps: Deps) -> float:
    """The longest any stage may run: Settings.batch_ttl (ZYGARDE_BATCH_TTL)."""
    return time_limits.seconds(deps.settings.batch_ttl)


def dataset_bytes(deps: Deps, uri: str) -> int | None:
    """The bytes under a dataset's URI (a glob: under its literal prefix), None when unknown."""
    base = uri[:min(uri.index(c) for c in GLOB_CHARS if c in uri)] if any(c in uri for c in GLOB_CHARS) else uri
    try:
        sizes = deps.blobs.sizes(base)
    except Exception as exc:  # noqa: BLE001 - an estimate only: unknown means the ceiling
        log.warning("dataset size unknown uri=%s error=%s", uri, exc)
        return None
    if not sizes or any(v is None for v in sizes.values()):
        return None
    return sum(int(v) for v in sizes.values())


def data_shape(prepare: Trial | None) -> packing.DataShape:
    """The prepared train part's rows and feature columns, from the preparation's record."""
    outputs = prepare.outputs if prepare is not None else {}
    rows = int((outputs.get("rows") or {}).get("train") or 0)
    report = outputs.get("report") or {}
    schema = report.get("schema") or []
    truncated = report.get("truncated") or {}
    columns = int(truncated.get("columns") or len(schema) or 1)
    return packing.DataShape(rows=max(rows, 1), features=max(columns - 1, 1))


def _predicted(trial: Trial, shape: packing.DataShape) -> float:
    if trial.train_fraction < 1.0:  # a successive halving rung fits on a sample of the rows
        shape = packing.DataShape(rows=max(1, round(shape.rows * trial.train_fraction)), features=shape.features)
    return packing.predict_seconds(trial.algorithm, trial.params, shape)


def trial_costs(waiting: list[Trial], finished: list[Trial], shape: packing.DataShape) -> list[packing.TrialCost]:
    """Each waiting trial's predicted seconds, corrected by what the job's finished trials took."""
    seen = [packing.Observation(t.algorithm, _predicted(t, shape), float(t.metrics["train_seconds"]))
            for t in finished if t.state in (TrialState.SUCCEEDED, TrialState.PRUNED) and t.metrics.get("train_seconds")]
    return [packing.TrialCost(t.trial_id, t.index, _predicted(t, shape) * packing.correction(seen, t.algorithm))
            for t in waiting]


def training_seconds(deps: Deps, job_id: str, trials: list[Trial], concurrency: int) -> float:
    """The predicted wall seconds of these training trials in one batch, `concurrency` at a time."""
    everything = deps.repo.list_trials(job_id)
    shape = data_shape(next((t for t in everything if t.kind == PREPARE), None))
    finished = [t for t in everything if t.kind not in (PREPARE, FINALIZE) and t.state.is_finished()]
    costs = trial_costs(trials, finished, shape)
    return packing.wall_seconds([c.seconds for c in costs], max(1, concurrency))


def stage_limit(deps: Deps, trial: Trial, spec: JobSpec) -> int:
    """The time limit of one trial's attempt (a preparation, a finalisation or an unpacked trial)."""
    top = ceiling(deps)
    if trial.kind == PREPARE:
        return time_limits.stage_limit(time_limits.prepare_seconds(dataset_bytes(deps, spec.dataset.uri)), top)
    if trial.kind == FINALIZE:
        refit = trial.params.get("refit") or {}
        seconds = 0.0
        if refit:
            shape = _shape(deps, trial.job_id)
            seconds = packing.predict_seconds(refit.get("algorithm", ""), dict(refit.get("params") or {}), shape)
        return time_limits.stage_limit(time_limits.finalize_seconds(seconds), top)
    return time_limits.stage_limit(training_seconds(deps, trial.job_id, [trial], 1), top)


def pack_limit(deps: Deps, trials: list[Trial], predicted_seconds: float | None = None) -> int:
    """The time limit of a pack (its planner's predicted seconds when known)."""
    if predicted_seconds is None:
        predicted_seconds = training_seconds(deps, trials[0].job_id, trials, deps.settings.pack_concurrency)
    return time_limits.stage_limit(predicted_seconds, ceiling(deps))


def batch_ttl(deps: Deps, limit: int, takes_handoffs: bool) -> int:
    return time_limits.batch_ttl(limit, ceiling(deps), takes_handoffs)


def _shape(deps: Deps, job_id: str) -> packing.DataShape:
    return data_shape(deps.repo.get_trial(job_id, PREPARE))


def stopped_at_limit(trial: Trial, state: str, state_message: str, ended_at) -> bool:
    """Whether an attempt whose batch ended `state` without a result was stopped at its time limit:
    Dataproc says its ttl ran out, or the batch ran at least the attempt's limit (the batch stops a
    stage itself at its limit, and exits if the stage ignores that)."""
    from datetime import datetime, timezone

    if state not in ("FAILED", "CANCELLED") or not trial.time_limit_seconds or trial.state is not TrialState.RUNNING:
        return False
    if "ttl" in (state_message or "").lower():
        return True
    if not trial.started_at or ended_at is None:
        return False
    started = datetime.fromisoformat(trial.started_at)
    started = started if started.tzinfo else started.replace(tzinfo=timezone.utc)
    ended_at = ended_at if ended_at.tzinfo else ended_at.replace(tzinfo=timezone.utc)
    return (ended_at - started).total_seconds() >= trial.time_limit_seconds
