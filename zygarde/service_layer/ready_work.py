"""What a job may launch now, as pieces of work (a stage, or a pack of training trials): its data
preparation first, then its training trials (asking an adaptive search for more when none waits), then its
finalisation. Reads the two stage documents and a bounded number of waiting trials, not the whole job.

Packs are sized by the pure planner (domain/pack_planner.py) from each trial's predicted seconds, corrected
by a sample of the job's finished trials, against the batch start-up cost; a job that does not pack runs
packs of one, in index order. Every piece of work carries its predicted seconds (a preparation's from its
dataset's bytes, a finalisation's from the winner's refit), from which its time limit follows
(domain/time_limits.py): the limit is claimed with its trials (pack_claims.py)."""
from __future__ import annotations

from dataclasses import dataclass

from zygarde.domain import budgets, pack_planner, search, time_limits
from zygarde.domain.model import FINISHED, Job, StageKind, Trial, TrialState
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import datasets, job_plans
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.stages import STAGES, Stage

MAX_PACK_SIZE = 16
CORRECTION_SAMPLE = 32  # finished trials read to correct the predictions


@dataclass(frozen=True)
class Work:
    """WAITING trials to launch together: one stage, or one pack."""

    stage: Stage
    trials: tuple[Trial, ...]
    predicted_seconds: float | None = None  # None: unknown (the limit is then the ceiling)

    def time_limit(self, settings) -> int:
        """The stage's time limit: a multiple of its predicted seconds, within the floor and Settings.batch_ttl."""
        return time_limits.stage_limit(self.predicted_seconds, time_limits.seconds(settings.batch_ttl))


def next_work(deps: Deps, job: Job, spec: JobSpec, batches: int) -> list[Work]:
    """Up to `batches` pieces of the job's work that may launch now, largest first."""
    prepare = deps.repo.get_trial(job.job_id, str(StageKind.PREPARE))
    if prepare is not None and prepare.state is not TrialState.SUCCEEDED:
        if prepare.state is not TrialState.WAITING:
            return []
        seconds = time_limits.prepare_seconds(dataset_bytes(deps, spec.dataset.uri))
        return [Work(STAGES[StageKind.PREPARE], (prepare,), seconds)]
    finalize = deps.repo.get_trial(job.job_id, str(StageKind.FINALIZE))
    if finalize is not None:
        if finalize.state is not TrialState.WAITING:
            return []
        refit = finalize.params.get("refit") or {}
        seconds = pack_planner.predict_seconds(refit["algorithm"], dict(refit.get("params") or {}),
                                               data_shape(prepare)) if refit else 0.0
        # an ensemble may refit every other candidate that kept no model (at most: the selection picks)
        for c in (finalize.params.get("ensemble") or [])[1:]:
            if c.get("model_uri") is None or spec.final_fit == "train_and_validation":
                seconds += pack_planner.predict_seconds(c["algorithm"], dict(c.get("params") or {}),
                                                        data_shape(prepare))
        return [Work(STAGES[StageKind.FINALIZE], (finalize,), time_limits.finalize_seconds(seconds))]
    packs = spec.packing != "off"
    concurrency = max(1, job_plans.pack_concurrency(job.plan, deps.settings.pack_concurrency))
    limit = batches * (MAX_PACK_SIZE if packs else 1) + 2
    ready = deps.repo.list_trials(job.job_id, [TrialState.WAITING], limit=limit)  # training trials only, now
    if not ready and search.is_adaptive(spec):
        ready = _ask(deps, job, spec, batches * concurrency if packs else batches)
    train = STAGES[StageKind.TRAIN]
    finished = deps.repo.list_trials(job.job_id, [TrialState.SUCCEEDED, TrialState.PRUNED], limit=CORRECTION_SAMPLE)
    costs = trial_costs(ready, finished, data_shape(prepare))
    if not packs:
        seconds = {c.trial_id: c.seconds for c in costs}
        return [Work(train, (t,), seconds[t.trial_id]) for t in sorted(ready, key=lambda t: t.index)[:batches]]
    plan = pack_planner.plan_packs(costs, free_batches=batches,
                                   startup_seconds=deps.settings.batch_startup_seconds,
                                   concurrency=concurrency, max_pack_size=MAX_PACK_SIZE)
    by_id = {t.trial_id: t for t in ready}
    return [Work(train, tuple(by_id[i] for i in p.trial_ids), p.predicted_seconds) for p in plan]


def data_shape(prepare: Trial | None) -> pack_planner.DataShape:
    """The prepared train part's rows and feature columns, from the preparation's record."""
    outputs = prepare.outputs if prepare is not None else {}
    rows = int((outputs.get("rows") or {}).get("train") or 0)
    report = outputs.get("report") or {}
    truncated = report.get("truncated") or {}
    columns = int(truncated.get("columns") or len(report.get("schema") or []) or 1)
    return pack_planner.DataShape(rows=max(rows, 1), features=max(columns - 1, 1))


def trial_costs(waiting: list[Trial], finished: list[Trial], shape: pack_planner.DataShape) -> list[pack_planner.TrialCost]:
    """Each waiting trial's predicted seconds, corrected by what the job's finished trials took."""
    seen = [pack_planner.Observation(t.algorithm, _predicted(t, shape), float(t.metrics["train_seconds"]))
            for t in finished if t.state in FINISHED and t.metrics.get("train_seconds")]
    return [pack_planner.TrialCost(t.trial_id, t.index, _predicted(t, shape) * pack_planner.correction(seen, t.algorithm))
            for t in waiting]


def dataset_bytes(deps: Deps, uri: str) -> int | None:
    """The bytes under a dataset's URI (a glob: under its literal prefix); None when unknown."""
    return datasets.total_bytes(deps.blobs, uri)


def _predicted(trial: Trial, shape: pack_planner.DataShape) -> float:
    if trial.train_fraction < 1.0:  # a successive halving rung fits on a sample of the rows
        shape = pack_planner.DataShape(rows=max(1, round(shape.rows * trial.train_fraction)), features=shape.features)
    return pack_planner.predict_seconds(trial.algorithm, trial.params, shape)


def _ask(deps: Deps, job: Job, spec: JobSpec, wanted: int) -> list[Trial]:
    """Adaptive search: new trials from the strategy (constant liar: each ask sees the ones asked before it
    as pending), each stored so that exactly one handler owns it. None once a budget is spent."""
    trials = deps.repo.list_trials(job.job_id)
    now = deps.clock()
    if budgets.deadline_problem(job, spec, now, deps.settings.batch_startup_seconds) or \
            budgets.core_hours_problem(spec, trials, now) or budgets.cost_problem(job, spec, trials, now):
        return []
    asked: list[Trial] = []
    for _ in range(wanted):
        trial = search.ask(spec, job.job_id, trials, deps.now())
        if trial is None or not deps.repo.add_trial(trial):
            break
        log.info("trial asked job_id=%s trial_id=%s algorithm=%s", job.job_id, trial.trial_id, trial.algorithm)
        asked.append(trial)
        trials.append(trial)
    return asked
