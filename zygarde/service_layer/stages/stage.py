"""A stage definition: what one kind of batch work is (its entry point, request and result, the locations
a result may name, what its success records, whether its batch may wait for more of the job's work),
and what every stage shares: reading and checking a result (a failure retried only when transient:
job_aggregate.failure), building the batch or the handoff with the stage's time limit (claimed with the
trials from the work's predicted cost) and the batch's ttl to match (domain/time_limits.py)."""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any

from zygarde.config import Settings
from zygarde.domain import time_limits
from zygarde.domain.contracts import Handoff
from zygarde.domain.decisions import StageOutcome
from zygarde.domain.job_aggregate import failure
from zygarde.domain.messages import Retry
from zygarde.domain.model import StageKind, Trial
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import locations
from zygarde.service_layer.ports import BatchRequest

@dataclass(frozen=True)
class NotThisAttempt:
    """A result that names other ids or locations than the attempt's own: never trusted."""

    problem: str


class Stage(abc.ABC):
    kind: StageKind
    main: str  # the Spark entry point, spark_jobs/{main}
    result_type: type
    waits_for_more: bool  # its batch may wait for more of the job's work after it (warm handoffs)

    @abc.abstractmethod
    def request(self, trials: list[Trial], spec: JobSpec, settings: Settings, owner: str,
                shared: dict[str, Any]) -> Any:
        """The entry point's request for these LAUNCHING trials (one stage, or one pack) of `owner`'s job;
        `shared`: the fields every stage's request has (shared_fields)."""

    def properties(self, trials: list[Trial]) -> dict[str, str]:
        """The Spark properties its batch needs beside the runtime's defaults."""
        return {}

    def labels(self, trials: list[Trial]) -> dict[str, str]:
        return {"zygarde-trial": locations.label(trials[0].trial_id)}

    def batch_ids(self, job_id: str, trials: list[Trial], capacity_slot: int) -> tuple[str | None, str]:
        """(pack id, batch id) of a new batch for these WAITING trials' next attempt."""
        [trial] = trials
        return None, locations.batch_id_for(job_id, trial.trial_id, trial.attempt + 1)

    def takes_handoffs(self, spec: JobSpec, settings: Settings) -> bool:
        """Whether a batch running this stage of this job waits for more of its work when done."""
        return self.waits_for_more and settings.handoff_seconds > 0 and spec.packing != "off"

    @abc.abstractmethod
    def result_locations(self, trial: Trial, spec: JobSpec, settings: Settings) -> dict[str, str]:
        """Every location a result of this attempt may name, derived here and never taken from the result."""

    def result_ids(self, trial: Trial) -> dict[str, Any]:
        return {"job_id": trial.job_id, "attempt": trial.attempt}

    @abc.abstractmethod
    def succeeded(self, trial: Trial, result: Any, expected: dict[str, str], spec: JobSpec,
                  settings: Settings) -> StageOutcome:
        """What a successful result of this stage records."""

    # --- shared by every stage ------------------------------------------------------------------
    def outcome(self, trial: Trial, raw: bytes, uri: str, spec: JobSpec, settings: Settings) -> StageOutcome | NotThisAttempt:
        """The meaning of the running attempt's result object: unreadable (retried), not its own, a failure
        (retried only when transient), or what its success records."""
        try:
            result = self.result_type.from_json(raw)
            if not isinstance(getattr(result, "metrics", {}), dict):
                raise TypeError("metrics is not an object")
        except (ValueError, TypeError, AttributeError) as exc:  # the batch wrote something else: retry it
            return StageOutcome(False, Reason.RESULT_UNREADABLE, f"the result {uri} cannot be read: {exc}",
                                Retry.IF_ATTEMPTS_LEFT)
        expected = self.result_locations(trial, spec, settings)
        problem = _not_this_attempt(result, self.result_ids(trial), expected)
        if problem is not None:
            return NotThisAttempt(problem)
        if result.status != "SUCCEEDED":
            return failure(result.error_kind, result.error or "failed")
        return self.succeeded(trial, result, expected, spec, settings)

    def handoff_fields(self, trial: Trial, settings: Settings) -> dict[str, Any]:
        """The request fields that make its batch wait for more work, when it was claimed to."""
        if not self.waits_for_more or trial.handoff is None or not trial.batch_id or settings.handoff_seconds <= 0:
            return {}
        return {"handoff_prefix": locations.handoff_prefix(settings, trial.job_id, trial.batch_id),
                "handoff_seconds": float(settings.handoff_seconds),
                "idle_prefix": locations.idle_prefix(settings, trial.job_id, trial.batch_id)}

    @staticmethod
    def time_limit(trials: list[Trial]) -> int:
        """The stage's time limit in seconds, claimed with its trials (0: none, as for trials claimed before
        limits existed)."""
        return int(max((t.time_limit_seconds or 0 for t in trials), default=0))

    def shared_fields(self, trials: list[Trial], settings: Settings) -> dict[str, Any]:
        """The request fields of every stage: the wait for more work (when claimed to), the time limit."""
        return {**self.handoff_fields(trials[0], settings), "time_limit_seconds": float(self.time_limit(trials))}

    @staticmethod
    def batch_ttl(time_limit: int, takes_handoffs: bool, settings: Settings) -> int | None:
        """Dataproc's ttl for a batch whose first stage has this limit: the limit and a margin, more for a
        batch that waits for more work (None without a limit: the launcher's ceiling)."""
        if not time_limit:
            return None
        return time_limits.batch_ttl(time_limit, time_limits.seconds(settings.batch_ttl), takes_handoffs)

    def batch_properties(self, trials: list[Trial], plan: dict[str, Any] | None = None) -> dict[str, str]:
        """The Spark properties of its batch: its learners' (properties), and the size the job's plan chose
        (job_plans.batch_properties) over them; every stage of a job alike, so handoffs stay warm."""
        from zygarde.service_layer import job_plans

        return {**self.properties(trials), **job_plans.batch_properties(plan)}

    def batch_request(self, trials: list[Trial], spec: JobSpec, owner: str, settings: Settings,
                      plan: dict[str, Any] | None = None) -> BatchRequest:
        from zygarde.service_layer import job_plans

        settings = job_plans.job_settings(settings, plan)
        first, shared = trials[0], self.shared_fields(trials, settings)
        request = self.request(trials, spec, settings, owner, shared)
        return BatchRequest(
            batch_id=first.batch_id, main_python_file_uri=settings.code_uri(self.main),
            args=("--request", request.to_json()), python_file_uris=(settings.code_uri("zygarde.zip"),),
            labels={"zygarde": "trial", "zygarde-job": locations.label(first.job_id),
                    "zygarde-owner": locations.label(owner), "zygarde-kind": str(self.kind), **self.labels(trials)},
            properties=self.batch_properties(trials, plan),
            ttl_seconds=self.batch_ttl(self.time_limit(trials), "handoff_prefix" in shared, settings))

    def handoff(self, trials: list[Trial], spec: JobSpec, owner: str, settings: Settings,
                plan: dict[str, Any] | None = None) -> Handoff:
        """The same work, for a batch that waits for it."""
        from zygarde.service_layer import job_plans

        settings = job_plans.job_settings(settings, plan)
        request = self.request(trials, spec, settings, owner, self.shared_fields(trials, settings))
        return Handoff(main=self.main, request=dataclasses.asdict(request))


def _not_this_attempt(result: Any, ids: dict[str, Any], expected: dict[str, str]) -> str | None:
    """Why a parsed result is not the running attempt's own (ids, or a location the control plane did
    not derive), or None."""
    named = {"model_uri": getattr(result, "model_uri", None), "package_uri": getattr(result, "package_uri", None),
             "manifest_uri": getattr(result, "manifest_uri", None),
             "validation_predictions_uri": getattr(result, "validation_predictions_uri", None)}
    parts = getattr(result, "parts", None)
    if parts is not None and not isinstance(parts, dict):
        return "parts is not an object"
    named.update({f"parts.{k}": v for k, v in (parts or {}).items()})
    wrong = [f"{k}={getattr(result, k)!r} (expected {v!r})" for k, v in ids.items()
             if type(getattr(result, k)) is not type(v) or getattr(result, k) != v]
    wrong += [f"{k}={v!r} (expected {expected.get(k)!r})" for k, v in named.items()
              if v is not None and v != expected.get(k)]
    return ", ".join(wrong) or None
