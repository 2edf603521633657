"""`Job`: one training job, read through the service layer's queries (queries.job_view) as the CLI and the
web app read it; `wait()` follows it with a progress bar (tqdm.auto: a widget in Jupyter, a text bar in
a terminal)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zygarde.client.errors import NoModel, WaitTimeout

if TYPE_CHECKING:
    from zygarde.client.connection import Connection
    from zygarde.client.models import Model

log = logging.getLogger("zygarde.client")

SUBMITTED = "SUBMITTED"  # published, not yet recorded by the submit function


@dataclass(frozen=True)
class JobStatus:
    """A job's state and progress at one moment. `state` is SUBMITTED until the submit function records it."""

    job_id: str
    state: str
    finished: bool = False
    stage: str = ""  # "preparing the data", "scoring the winner ...", or "" while trials run
    done: int = 0  # trials ended (succeeded, failed, pruned, cancelled)
    total: int = 0  # trials so far
    counts: dict[str, int] = field(default_factory=dict)
    metric: str | None = None
    best: float | None = None
    best_trial: str | None = None
    error: str | None = None
    model: tuple[str, int] | None = None  # (name, version) once registered
    until: str | None = None  # a deadline job: when it falls, "HH:MM UTC" (queries.JobView.until)

    @property
    def detail(self) -> str:
        """One line: what the job is doing now."""
        if self.state == SUBMITTED:
            return "waiting for the job to be recorded"
        if self.finished:
            return self.state + (f": {self.error}" if self.error else "")
        if self.stage:
            return self.stage
        c = self.counts
        text = f"{self.state}: running {c.get('RUNNING', 0) + c.get('LAUNCHING', 0)}, waiting {c.get('WAITING', 0)}, " \
               f"ok {c.get('SUCCEEDED', 0)}, failed {c.get('FAILED', 0)}"
        if c.get("PAUSED") or c.get("PRUNED"):
            text += f", paused {c.get('PAUSED', 0)}, pruned {c.get('PRUNED', 0)}"
        return text

    def __str__(self) -> str:
        from zygarde.service_layer.queries import trials_progress

        trials = trials_progress(self.total, self.done, self.until, self.finished)
        best = f", best {self.metric} {self.best:.4f} ({self.best_trial})" if self.best is not None else ""
        model = f", registered as {self.model[0]} v{self.model[1]}" if self.model else ""
        return f"job {self.job_id}: {self.detail}; {trials}{best}{model}"


def status_of(job_id: str, view) -> JobStatus:
    """The JobStatus of a queries.JobView (None: not recorded yet)."""
    if view is None:
        return JobStatus(job_id, SUBMITTED)
    job = view.job
    stage = view.stage
    model = (job.model_name, int(job.model_version)) if job.model_version is not None else None
    return JobStatus(job_id, job.state.value, job.state.is_finished(), stage, view.finished_trials, len(view.trials),
                     view.counts, view.metric, job.best_objective, job.best_trial_id, job.error, model, view.until)


class Job:
    """A training job of the signed-in user. Cheap to make: every method reads its current state."""

    def __init__(self, conn: "Connection", job_id: str, message_id: str | None = None):
        self._conn, self.job_id, self.message_id = conn, job_id, message_id

    def __repr__(self) -> str:
        return f"Job({self.job_id!r})"

    def _view(self):
        from zygarde.service_layer.queries import job_view

        return job_view(self._conn.deps.repo, self.job_id)

    @property
    def spec(self) -> dict[str, Any]:
        """The job's spec as recorded ({} until it is)."""
        view = self._view()
        return dict(view.job.spec) if view is not None else {}

    def status(self) -> JobStatus:
        return status_of(self.job_id, self._view())

    def wait(self, timeout: float | None = None, poll: float = 2.0, progress: bool = True) -> JobStatus:
        """Follow the job until it ends (whatever its end: see the returned status) with a progress bar of
        its trials; WaitTimeout after `timeout` seconds (None: no limit)."""
        from tqdm.auto import tqdm

        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(total=1, desc=self.job_id, unit="trial", disable=not progress, dynamic_ncols=True)
        try:
            while True:
                status = self.status()
                if max(status.total, 1) != bar.total:
                    bar.reset(total=max(status.total, 1))
                bar.update(status.done - bar.n)
                bar.set_postfix_str(status.detail[:120], refresh=True)
                if status.finished:
                    log.info("%s", status)
                    return status
                if deadline is not None and time.monotonic() > deadline:
                    raise WaitTimeout(f"job {self.job_id} has not ended after {timeout:g} s ({status.detail})")
                time.sleep(poll)
        finally:
            bar.close()

    def leaderboard(self):
        """The trials as a pandas DataFrame, best first (as `zygarde status JOB` ranks them): rank, trial,
        algorithm, state, the job's metric (a pruned trial's score at its last rung), every other metric
        recorded, params, duration, attempt, rung and train fraction, the last condition's message, and for a
        registered ensemble's row (trial "ensemble") its members and weights."""
        import pandas as pd

        view = self._view()
        columns = ["rank", "trial_id", "algorithm", "state"]
        if view is None or not view.trials:
            return pd.DataFrame(columns=columns)
        metrics = {t.trial_id: t.metrics for t in view.trials}
        others = sorted({m for t in view.trials for m in t.metrics} - {view.metric})
        rows = []
        for r in view.leaderboard():
            row = {"rank": r.rank, "trial_id": r.trial_id, "algorithm": r.algorithm, "state": r.state,
                   view.metric: r.objective}
            row.update({m: metrics.get(r.trial_id, {}).get(m) for m in others})  # an ensemble: its score only
            row.update({"params": r.params, "duration_seconds": r.duration_seconds, "attempt": r.attempt,
                        "rung": r.rung, "train_fraction": r.train_fraction, "reason": r.reason,
                        "members": [dict(m) for m in r.members] or None})
            rows.append(row)
        frame = pd.DataFrame(rows)
        frame["rank"] = frame["rank"].astype("Int64")
        return frame

    def report(self) -> dict[str, Any]:
        """The data report (schema, column statistics, class balance, warnings, split); {} before the data
        is prepared."""
        view = self._view()
        return view.data_report if view is not None else {}

    def model(self) -> "Model":
        """The model version the job registered; NoModel while it runs or when it ended without one."""
        from zygarde.client.models import Model

        status = self.status()
        if status.model is None:
            why = "it has not ended yet: wait() for it" if not status.finished else \
                f"it ended {status.state}" + (f" ({status.error})" if status.error else "") + " without registering one"
            raise NoModel(f"job {self.job_id} has no registered model: {why}")
        return Model(self._conn, *status.model)
