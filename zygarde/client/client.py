"""`zygarde.Client`: Zygarde from Python (a notebook, a pipeline), with the same rules as every other
way in. It finds its settings and the user's identity as the CLI does (zygarde.client.connection),
changes state only by publishing signed messages to the jobs topic (a job, a cancel), and reads through
the service layer's queries and model_access.

    from zygarde import Client
    client = Client()
    job = client.train(df, target="diagnosis")
    job.wait()
    job.leaderboard()
    model = job.model()
    model.predict(df.head())
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from zygarde.client.connection import Connection, PredictHttp
from zygarde.client.errors import NotAllowed
from zygarde.client.jobs import Job
from zygarde.client.models import Model
from zygarde.config import Settings
from zygarde.service_layer.deps import Deps

log = logging.getLogger("zygarde.client")


class Client:
    """A connection to Zygarde as the signed-in user.

    settings: where Zygarde runs (default: from the environment, as the CLI reads it: `eval "$(zygarde
    local env)"` for the local cloud; on Google Cloud ZYGARDE_PROJECT and ZYGARDE_BUCKET with Application
    Default Credentials). deps, tokens, predict_http: replacements for the real adapters, the identity
    token source and the predict service (tests)."""

    def __init__(self, settings: Settings | None = None, *, deps: Deps | None = None,
                 tokens: Callable[[], str] | None = None, predict_http: PredictHttp | None = None):
        self._conn = Connection(settings, deps, tokens, predict_http=predict_http)

    def __repr__(self) -> str:
        return f"Client(project={self._conn.settings.project!r}, bucket={self._conn.settings.bucket!r})"

    @property
    def user(self) -> str:
        """The signed-in user's e-mail, as their identity token names it."""
        return self._conn.identity.email

    def train(self, data: Any, target: str, task: str | None = None, deadline_minutes: float | None = None,
              **spec: Any) -> Job:
        """Submit a training job and return it at once (`Job.wait()` follows it).

        data: a pandas DataFrame, a Spark DataFrame, a local CSV or Parquet file, or the gs:// URI of one
        of your datasets; it goes up as Parquet under datasets/{you}/. target: the column to predict.
        task: binary_classification, multiclass_classification or regression (default: suggested by the
        target's values). deadline_minutes: search until then (budget.deadline_minutes). spec: any other
        field of the job spec (README, "Submitting a job"): name, metric, candidates, search, data, seed,
        job_id... Without candidates, the task's default search space. Raises zygarde.ZygardeError
        (SpecError, DatasetError) with the reason the submit function would give, before anything is written."""
        from zygarde.client.submit import train

        return train(self._conn, data, target, task, deadline_minutes, dict(spec))

    def job(self, job_id: str) -> Job:
        """One of your jobs."""
        job = self._conn.deps.repo.get_job(job_id)
        me = self._conn.identity
        if job is None or job.owner != me.key:
            raise NotAllowed(f"there is no job {str(job_id)[:100]!r} of yours ({me.email})")
        return Job(self._conn, job_id)

    def jobs(self, limit: int = 50):
        """Your most recent jobs, newest first, as a pandas DataFrame: job_id, state, trials, best trial and
        score, registered model, created and finished times, and the reason of a job that failed."""
        import pandas as pd

        from zygarde.service_layer.queries import recent_jobs

        rows = [{"job_id": j.job_id, "state": j.state.value, "trials": j.trial_count, "best_trial": j.best_trial_id,
                 "best": j.best_objective, "model": f"{j.model_name}:{j.model_version}" if j.model_version else None,
                 "created_at": j.created_at, "finished_at": j.finished_at, "error": j.error}
                for j in recent_jobs(self._conn.deps.repo, owner=self._conn.identity.key, limit=limit)]
        return pd.DataFrame(rows, columns=["job_id", "state", "trials", "best_trial", "best", "model", "created_at",
                                           "finished_at", "error"])

    def model(self, name: str, version: int | None = None) -> Model:
        """A version (default: the latest) of a model you own or that is shared with you."""
        return Model(self._conn, name, version)

    def models(self):
        """The models you may use (yours and those shared with you), as a pandas DataFrame: name, owner,
        your role, latest version."""
        import pandas as pd

        from zygarde.service_layer import model_access
        from zygarde.service_layer.insights import Viewer, visible_models

        rows = [{"name": m.name, "owner": model_access.member_identity(m.owner) if m.owner else None,
                 "role": m.role, "latest_version": m.latest_version}
                for m in visible_models(self._conn.deps.repo, Viewer(self._conn.identity.key))]
        return pd.DataFrame(rows, columns=["name", "owner", "role", "latest_version"])

    def cancel(self, job_id: str) -> bool:
        """Ask for your job to be cancelled (its batches stop, its waiting trials never launch). False when it
        has already ended (nothing to cancel); asking again is harmless."""
        job = self.job(job_id)
        state = job.status()
        if state.finished:
            log.info("job %s has already ended (%s): nothing to cancel", job_id, state.state)
            return False
        message_id = self._conn.publish(json.dumps({"job_id": job_id}).encode(), action="cancel")
        log.info("cancel requested job_id=%s message_id=%s", job_id, message_id)
        return True

    def rerun(self, job_id: str) -> Job:
        """Submit your job again: the same spec (data, seed, search) under a new job id, the same model name."""
        from zygarde.domain.errors import SpecError
        from zygarde.web.jobform import new_job_id

        self.job(job_id)
        record = self._conn.deps.repo.get_job(job_id)
        if "dataset" not in record.spec:
            raise SpecError([("job_id", f"job {job_id} has no valid spec to run again ({record.state.value}: "
                                        f"{record.error or 'no spec recorded'})")])
        spec = {**record.spec, "name": record.spec.get("name") or job_id,
                "job_id": new_job_id(job_id.rsplit("-", 1)[0])}
        message_id = self._conn.publish(json.dumps(spec).encode())
        log.info("job submitted again job_id=%s from=%s message_id=%s", spec["job_id"], job_id, message_id)
        return Job(self._conn, spec["job_id"], message_id)
