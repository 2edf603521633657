"""Read views for the web app: who may see a job, what a job cost, its live progress as JSON, the
series its charts plot, the registered models a user may see. No state changes here."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from zygarde.domain import budgets
from zygarde.domain.model import PREPARE, Job, Trial, TrialState
from zygarde.service_layer import model_access
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.ports import JobRepository
from zygarde.service_layer.queries import ENSEMBLE, JobView, job_view, model_versions

DEFAULT_CORES_PER_TRIAL = 12


@dataclass(frozen=True)
class Viewer:
    """Who is asking: the owner name their jobs and datasets carry, and whether they see everything."""

    owner: str
    admin: bool = False

    def may_see(self, job: Job) -> bool:
        return self.admin or job.owner == self.owner


def visible_job(repo: JobRepository, viewer: Viewer, job_id: str) -> JobView | None:
    """The job's view, or None when it does not exist or belongs to someone else (both look alike)."""
    job = repo.get_job(job_id)
    if job is None or not viewer.may_see(job):
        return None
    return job_view(repo, job_id)


def visible_jobs(repo: JobRepository, viewer: Viewer, limit: int = 100) -> list[Job]:
    return repo.list_jobs(owner=None if viewer.admin else viewer.owner, limit=limit)


def job_cost(view: JobView, price_per_dcu_hour: float, now: datetime | None = None) -> dict:
    """DCU-hours (each batch's runtime, at least the minute Dataproc Serverless bills, x the cores it
    is configured with, the size its plan chose or budget.cores_per_trial: 1 DCU per vCPU; a pack's
    batch counts once) and dollars."""
    now = now or datetime.now(timezone.utc)
    cores = int((view.job.spec.get("budget") or {}).get("cores_per_trial") or DEFAULT_CORES_PER_TRIAL)
    if (view.job.plan or {}).get("sized"):
        cores = budgets.batch_dcu(view.job, job_spec(view.job))
    stages = [t for t in (view.prepare, view.finalize) if t is not None]
    runtimes = budgets.batch_runtimes(view.trials + stages, now)
    batch_hours = sum(runtimes) / 3600
    dcu_hours = sum(budgets.billed_dcu_seconds(r, cores) for r in runtimes) / 3600
    return {"batch_hours": round(batch_hours, 4), "batches": len(runtimes), "cores_per_batch": cores,
            "dcu_hours": round(dcu_hours, 4), "dollars": round(dcu_hours * price_per_dcu_hour, 4),
            "price_per_dcu_hour": price_per_dcu_hour}


def plan_figures(job: Job) -> dict | None:
    """The job's plan as `status --format json` shows it, or None for a job without one."""
    plan = job.plan
    if not plan:
        return None
    return {"predicted_seconds": plan.get("predicted_seconds"), "predicted_dcu_hours": plan.get("predicted_dcu_hours"),
            "predicted_dollars": plan.get("predicted_dollars")}


def plan_line(job: Job, cost: dict) -> str | None:
    """"plan: about 6 minutes, about 0.30 DCU-hours, about $0.02"; once the job has ended, with the actual
    figures beside it: "...; actual: 7.5 minutes, 0.41 DCU-hours, $0.02". None without a plan."""
    plan = job.plan
    if not plan:
        return None
    line = f"plan: {plan.get('summary', '')}"
    if plan.get("infeasible"):
        line += " (no plan meets the job's limits)"
    if job.duration_seconds is not None:
        line += (f"; actual: {job.duration_seconds / 60:.1f} minutes, {cost['dcu_hours']:.2f} DCU-hours, "
                 f"${cost['dollars']:.2f}")
    return line


def age_seconds(job: Job, now: datetime | None = None) -> float:
    now = now or datetime.now(timezone.utc)
    return max(0.0, (now - datetime.fromisoformat(job.created_at)).total_seconds())


def progress(view: JobView, price_per_dcu_hour: float) -> dict:
    """Everything the job page refreshes while the job runs, JSON-ready."""
    job = view.job
    stage = view.stage
    cost = job_cost(view, price_per_dcu_hour)
    return {
        "job_id": job.job_id, "state": job.state.value, "finished": job.state.is_finished(), "stage": stage,
        "error": job.error, "counts": view.counts, "total": len(view.trials), "done": view.finished_trials,
        "until": view.until, "trials_text": view.progress_text,
        "metric": view.metric, "direction": view.direction, "best_trial": job.best_trial_id,
        "best": job.best_objective, "test_metrics": job.test_metrics, "cost": cost,
        "duration_seconds": job.duration_seconds, "plan": plan_figures(job),
        "plan_line": plan_line(job, cost),
        "model": {"name": job.model_name, "version": job.model_version} if job.model_version else None,
        "leaderboard": leaderboard_rows(view),
        "conditions": [c.to_dict() for c in job.conditions],
        "series": series(view),
    }


def leaderboard_rows(view: JobView) -> list[dict]:
    """The trials' rows in leaderboard order, with a registered ensemble's row at its rank."""
    rows = [leader_row(view, t) for t in _ranked(view)]
    ensemble = next((r for r in view.leaderboard() if r.trial_id == ENSEMBLE and r.members), None)
    if ensemble is not None:
        f = view.finalize
        row = {"rank": ensemble.rank, "trial_id": ENSEMBLE, "algorithm": ENSEMBLE, "params": ensemble.params,
               "members": [dict(m) for m in ensemble.members], "state": ensemble.state,
               "objective": ensemble.objective, "metrics": {view.metric: ensemble.objective} if view.metric else {},
               "duration": ensemble.duration_seconds, "attempt": ensemble.attempt, "started_at": f.started_at,
               "rung": 0, "train_fraction": 1.0, "rung_scores": [], "fidelity": "", "finished_at": f.finished_at,
               "error": None, "conditions": [f"{c.time[:19]} {c.state} {c.reason}: {c.message}" for c in f.conditions]}
        rows.insert(ensemble.rank - 1, row)
    return rows


def _ranked(view: JobView) -> list[Trial]:
    order = {row.trial_id: i for i, row in enumerate(view.leaderboard())}
    return sorted(view.trials, key=lambda t: order.get(t.trial_id, 1 << 30))


def leader_row(view: JobView, t: Trial) -> dict:
    rows = view.leaderboard()
    ranks = {row.trial_id: row.rank for row in rows}
    fidelity = {row.trial_id: row.fidelity for row in rows}
    shown = {row.trial_id: row.objective for row in rows}  # a rung's score for a trial scored on a sample
    return {"rank": ranks.get(t.trial_id), "trial_id": t.trial_id, "algorithm": t.algorithm, "params": t.params,
            "state": t.state.value, "objective": shown.get(t.trial_id, t.objective), "metrics": t.metrics,
            "duration": t.duration_seconds, "attempt": t.attempt, "started_at": t.started_at,
            "rung": t.rung, "train_fraction": t.train_fraction, "rung_scores": list(t.rung_scores),
            "fidelity": fidelity.get(t.trial_id, ""),
            "finished_at": t.finished_at, "error": t.error,
            "why": f"{t.conditions[-1].reason}: {t.conditions[-1].message}"  # why it was stopped (DeadlineReached...)
            if t.state is TrialState.CANCELLED and t.conditions else "",
            "conditions": [f"{c.time[:19]} {c.state} {c.reason}: {c.message}" for c in t.conditions]}


def series(view: JobView) -> dict:
    """The data of the job's charts: objective over time with the best so far, each algorithm's
    params and objectives, and each trial's run interval."""
    done = sorted((t for t in view.trials if t.state is TrialState.SUCCEEDED and t.objective is not None),
                  key=lambda t: t.finished_at or "")
    better = max if view.direction == "maximize" else min
    best_so_far, best = [], None
    for t in done:
        best = t.objective if best is None else better(best, t.objective)
        best_so_far.append(best)
    by_algorithm: dict[str, list[dict]] = {}
    for t in done:
        by_algorithm.setdefault(t.algorithm, []).append({"trial_id": t.trial_id, "params": t.params,
                                                         "objective": t.objective})
    timeline = [{"trial_id": t.trial_id, "algorithm": t.algorithm, "state": t.state.value, "start": t.started_at,
                 "end": t.finished_at} for t in view.trials if t.started_at]
    return {"objective": {"time": [t.finished_at for t in done], "value": [t.objective for t in done],
                          "trial": [t.trial_id for t in done], "best": best_so_far},
            "by_algorithm": by_algorithm, "timeline": timeline}


def visible_models(repo: JobRepository, viewer: Viewer, limit: int = 500) -> list[model_access.ModelSummary]:
    """The models the viewer may read (model_access): their own, those granted to them, and models named
    by their jobs that were registered before owners were recorded; every model for an administrator."""
    legacy = tuple(sorted({job.model_name for job in visible_jobs(repo, viewer, limit)
                           if job.model_name and job.model_version is not None}))
    return model_access.visible_models(repo, viewer.owner, viewer.admin, legacy)


def visible_versions(repo: JobRepository, viewer: Viewer, name: str) -> list:
    """Every version of model `name`, whoever's job registered it, when the viewer may read the model
    ([] otherwise, as for no model): each record's lineage, its online status (the registry's summary of
    the manifest's `online` section) and its data report's column stats."""
    if model_access.readable_model(repo, name, viewer.owner, viewer.admin) is None:
        return []
    records = {int(r["version"]): r for r in repo.model_versions(name)}
    out = []
    for row in model_versions(repo, name):
        job = repo.get_job(row.job_id)
        record = records.get(row.version, {})
        prepare = repo.get_trial(row.job_id, PREPARE) if job is not None else None
        fingerprint = record.get("dataset_fingerprint") or (prepare.outputs.get("fingerprint") if prepare else None)
        report = (prepare.outputs.get("report") if prepare else None) or {}
        out.append({"row": row, "owner": job.owner if job else record.get("registered_by"),
                    "job_visible": job is not None and viewer.may_see(job),
                    "dataset": (job.spec.get("dataset") or {}).get("uri") if job else None,
                    "fingerprint": fingerprint or {},
                    "test_metrics": record.get("test_metrics") or {},
                    "validation_metrics": record.get("validation_metrics") or {},
                    "manifest_uri": record.get("manifest_uri"), "online": record.get("online") or {},
                    "column_stats": report.get("columns") or {}})
    return out
