"""A stage definition: what one kind of batch work is (its entry point, request and result, the locations
a result may name, what its success records, whether its batch may wait for more of the job's work),
and what every stage shares: reading and checking a result, building the batch or the handoff."""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any

from zygarde.config import Settings
from zygarde.domain.contracts import Handoff
from zygarde.domain.decisions import StageOutcome
from zygarde.domain.messages import Retry
from zygarde.domain.model import StageKind, Trial
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import locations
from zygarde.service_layer.ports import BatchRequest

RETRYABLE_ERROR_KINDS = frozenset({"runtime"})  # a failure of these kinds may pass on another attempt


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
    def request(self, trials: list[Trial], spec: JobSpec, settings: Settings, handoff: dict[str, Any]) -> Any:
        """The entry point's request for these LAUNCHING trials (one stage, or one pack)."""

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
        (retried when it may pass), or what its success records."""
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
            retry = Retry.IF_ATTEMPTS_LEFT if result.error_kind in RETRYABLE_ERROR_KINDS else Retry.NEVER
            reason = Reason.DATA_ERROR if result.error_kind == "data" else Reason.BATCH_FAILED
            return StageOutcome(False, reason, result.error or "failed", retry)
        return self.succeeded(trial, result, expected, spec, settings)

    def handoff_fields(self, trial: Trial, settings: Settings) -> dict[str, Any]:
        """The request fields that make its batch wait for more work, when it was claimed to."""
        if not self.waits_for_more or trial.handoff is None or not trial.batch_id or settings.handoff_seconds <= 0:
            return {}
        return {"handoff_prefix": locations.handoff_prefix(settings, trial.job_id, trial.batch_id),
                "handoff_seconds": float(settings.handoff_seconds),
                "idle_prefix": locations.idle_prefix(settings, trial.job_id, trial.batch_id)}

    def batch_request(self, trials: list[Trial], spec: JobSpec, owner: str, settings: Settings) -> BatchRequest:
        first = trials[0]
        request = self.request(trials, spec, settings, self.handoff_fields(first, settings))
        return BatchRequest(
            batch_id=first.batch_id, main_python_file_uri=settings.code_uri(self.main),
            args=("--request", request.to_json()), python_file_uris=(settings.code_uri("zygarde.zip"),),
            labels={"zygarde": "trial", "zygarde-job": locations.label(first.job_id),
                    "zygarde-owner": locations.label(owner), "zygarde-kind": str(self.kind), **self.labels(trials)},
            properties=self.properties(trials))

    def handoff(self, trials: list[Trial], spec: JobSpec, settings: Settings) -> Handoff:
        """The same work, for a batch that waits for it."""
        request = self.request(trials, spec, settings, self.handoff_fields(trials[0], settings))
        return Handoff(main=self.main, request=dataclasses.asdict(request))


def _not_this_attempt(result: Any, ids: dict[str, Any], expected: dict[str, str]) -> str | None:
    """Why a parsed result is not the running attempt's own (ids, or a location the control plane did
    not derive), or None."""
    named = {"model_uri": getattr(result, "model_uri", None), "package_uri": getattr(result, "package_uri", None),
             "manifest_uri": getattr(result, "manifest_uri", None)}
    parts = getattr(result, "parts", None)
    if parts is not None and not isinstance(parts, dict):
        return "parts is not an object"
    named.update({f"parts.{k}": v for k, v in (parts or {}).items()})
    wrong = [f"{k}={getattr(result, k)!r} (expected {v!r})" for k, v in ids.items()
             if type(getattr(result, k)) is not type(v) or getattr(result, k) != v]
    wrong += [f"{k}={v!r} (expected {expected.get(k)!r})" for k, v in named.items()
              if v is not None and v != expected.get(k)]
    return ", ".join(wrong) or None
