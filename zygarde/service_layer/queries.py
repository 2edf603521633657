"""Read-side views of jobs for the CLI and the web app (no state changes here)."""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

from zygarde.domain import budgets
from zygarde.domain.job_ending import registered_ensemble
from zygarde.domain.model import FINALIZE, PREPARE, TRAIN, Job, JobState, Trial, TrialState
from zygarde.domain.registry import is_model_name
from zygarde.service_layer.ports import JobRepository


def trials_progress(so_far: int, done: int, until: str | None, finished: bool) -> str:
    """A job's trials in words, the same on the web, the CLI and the client: "12 trials so far, until
    14:30 UTC" for a running job with a deadline (its search runs until then, its trial cap is no total),
    else "5/8 trials done"."""
    if until and not finished:
        return f"{so_far} trial{'s' * (so_far != 1)} so far, until {until}"
    return f"{done}/{so_far} trials done"


ENSEMBLE = "ensemble"  # the leaderboard row (trial id and algorithm) of a registered ensemble


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int | None
    trial_id: str
    algorithm: str
    params: dict
    state: str
    objective: float | None
    duration_seconds: float | None
    attempt: int
    model_uri: str | None
    reason: str  # the last condition's message
    rung: int = 0  # successive halving: the rung run (or last run), 0 when the job does not prune
    train_fraction: float = 1.0  # the fraction of the train rows fitted on at that rung
    members: tuple[dict, ...] = ()  # the ensemble's row: {"trial_id", "algorithm", "weight", "count"} each

    @property
    def fidelity(self) -> str:
        """"rung 1 (33%)" for a trial fitted on part of the train rows, else ""."""
        return f"rung {self.rung} ({self.train_fraction * 100:.3g}%)" if self.train_fraction < 1.0 or self.rung else ""


@dataclass(frozen=True)
class JobView:
    job: Job
    trials: list[Trial]  # training trials
    metric: str | None
    direction: str | None
    prepare: Trial | None = None
    finalize: Trial | None = None

    @property
    def stage(self) -> str:
        """What the job is doing besides its trials, in words ("" while it trains)."""
        if self.prepare is not None and not self.prepare.state.is_finished():
            return "preparing the data (report, checks, train/validation/test split)"
        if self.finalize is not None and not self.finalize.state.is_finished():
            return "scoring the winner on the test split and packaging it"
        return ""

    @property
    def data_report(self) -> dict:
        return dict(self.prepare.outputs.get("report") or {}) if self.prepare else {}

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(t.state.value for t in self.trials)
        return {s.value: c.get(s.value, 0) for s in TrialState}

    @property
    def finished_trials(self) -> int:
        return sum(1 for t in self.trials if t.state.is_finished())

    @property
    def until(self) -> str | None:
        """A job with a deadline: when it falls ("14:30 UTC"); None without one."""
        return budgets.deadline_clock(self.job)

    @property
    def progress_text(self) -> str:
        return trials_progress(len(self.trials), self.finished_trials, self.until, self.job.state.is_finished())

    @property
    def ensemble(self) -> dict | None:
        """The registered ensemble's section of the finalisation (members, weights, validation score)."""
        return registered_ensemble(self.finalize.outputs) if self.finalize is not None else None

    def ensemble_row(self) -> LeaderboardRow | None:
        """The registered ensemble as a row of its own (trial "ensemble", rank set by leaderboard())."""
        ensemble = self.ensemble
        if ensemble is None:
            return None
        members = tuple({k: m.get(k) for k in ("trial_id", "algorithm", "weight", "count")}
                        for m in ensemble["members"])
        f = self.finalize
        return LeaderboardRow(None, ENSEMBLE, ENSEMBLE, {"members": [dict(m) for m in members]}, f.state.value,
                              ensemble.get("validation_score"), f.duration_seconds, f.attempt, None,
                              f.conditions[-1].message if f.conditions else "", members=members)

    @property
    def best(self) -> Trial | None:
        return next((t for t in self.trials if t.trial_id == self.job.best_trial_id), None)

    def leaderboard(self) -> list[LeaderboardRow]:
        """Succeeded trials best first (only those fitted on all the train rows are ranked), then
        trials scored at a lower rung (PAUSED, PRUNED, or promoted and going on), highest rung and best
        score first, shown with the score of their last rung, then the others by index. A row's rung is
        the one its trial runs (or last ran)."""
        sign = -1.0 if self.direction == "maximize" else 1.0
        done = sorted((t for t in self.trials if t.state is TrialState.SUCCEEDED and t.objective is not None
                       and t.train_fraction >= 1.0), key=lambda t: (sign * t.objective, t.index))
        rung_scored = sorted((t for t in self.trials if t not in done and t.rung_scores),
                             key=lambda t: (-len(t.rung_scores), sign * t.rung_scores[-1], t.index))
        rest = [t for t in self.trials if t not in done and t not in rung_scored]
        rows = []
        for t in done + rung_scored + rest:
            objective = t.rung_scores[-1] if t in rung_scored else t.objective
            rows.append(LeaderboardRow(0 if t in done else None, t.trial_id, t.algorithm, dict(t.params),
                                       t.state.value, objective, t.duration_seconds, t.attempt, t.model_uri,
                                       t.conditions[-1].message if t.conditions else "", t.rung, t.train_fraction))
        ensemble = self.ensemble_row()
        if ensemble is not None and ensemble.objective is not None:  # ranked with the trials, ahead of equals
            at = next((i for i, r in enumerate(rows) if r.rank is None or sign * r.objective >= sign * ensemble.objective),
                      len(rows))
            rows.insert(at, dataclasses.replace(ensemble, rank=0))
        ranked = iter(range(1, len(rows) + 1))
        return [dataclasses.replace(r, rank=next(ranked)) if r.rank is not None else r for r in rows]


def job_view(repo: JobRepository, job_id: str) -> JobView | None:
    job = repo.get_job(job_id)
    if job is None:
        return None
    if job.state is JobState.REJECTED:
        return JobView(job, [], None, None)
    from zygarde.service_layer.job_specs import job_spec

    spec = job_spec(job)
    trials = repo.list_trials(job_id)
    stages = {t.kind: t for t in trials if t.kind != TRAIN}
    return JobView(job, [t for t in trials if t.kind == TRAIN], spec.objective, spec.direction,
                   stages.get(PREPARE), stages.get(FINALIZE))


def recent_jobs(repo: JobRepository, owner: str | None = None, limit: int = 50) -> list[Job]:
    return repo.list_jobs(owner=owner, limit=limit)


@dataclass(frozen=True)
class ModelVersionRow:
    version: int
    job_id: str
    trial_id: str
    algorithm: str
    params: dict
    metric: str | None
    validation: float | None  # the metric on the validation split (what chose the winner)
    test: float | None  # the metric on the held-out test split, scored once
    package_uri: str | None
    registered_at: str | None
    # global feature importance (spark/importance.py): {"status", "native", "columns": [{"column",
    # "permutation"?, "native"?}] most important first, "permutation": {...}} or {"status", "reason"}; None
    # for versions registered before models carried it
    importance: dict | None = None
    # per-row attributions served online: {"status": "available", "method", "output"} or {"status",
    # "reason"} (an ensemble's: none, and why); None for versions registered before models carried them
    explanations: dict | None = None


def model_versions(repo: JobRepository, name: str) -> list[ModelVersionRow]:
    """The registered versions of a model, oldest first (none for a string that names no model). Who may
    read them is the caller's to check (model_access)."""
    rows = []
    for record in repo.model_versions(name) if is_model_name(name) else []:
        validation, test = record.get("validation_metrics") or {}, record.get("test_metrics") or {}
        metric = record.get("metric") or next(iter(test or validation), None)
        rows.append(ModelVersionRow(
            version=int(record["version"]), job_id=record.get("job_id", ""), trial_id=record.get("trial_id", ""),
            algorithm=record.get("algorithm", ""), params=dict(record.get("params") or {}), metric=metric,
            validation=validation.get(metric), test=test.get(metric), package_uri=record.get("package_uri"),
            registered_at=record.get("registered_at"), importance=record.get("importance"),
            explanations=record.get("explanations")))
    return rows
