"""Recording a batch's result object: checked to be the running attempt's own, then applied to
its trial (data prepared, trial scored, model packaged, or a failure, retried when it may pass)."""
from __future__ import annotations

from zygarde.domain import pruning
from zygarde.domain.contracts import FinalizeResult, PrepareResult, TrialResult
from zygarde.domain.errors import BatchNotFound, NotFound
from zygarde.domain.model import FINALIZE, PREPARE, Trial, TrialState
from zygarde.domain.report_record import report_for_record
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.launching import data_prefix, end_attempt, release_slots, result_locations
from zygarde.service_layer.lifecycle import maybe_finish_job, trial_ended
from zygarde.service_layer.scheduling import dispatch

RETRYABLE_ERROR_KINDS = frozenset({"runtime"})


def record_result(deps: Deps, job_id: str, trial_id: str, attempt: int, uri: str) -> None:
    trial = deps.repo.get_trial(job_id, trial_id)
    if trial is None:
        log.warning("result for an unknown trial job_id=%s trial_id=%s", job_id, trial_id)
        return
    if trial.attempt == attempt and trial.state.is_active():
        try:
            raw = deps.blobs.read_bytes(uri)
        except NotFound:
            log.warning("result object vanished job_id=%s trial_id=%s attempt=%d uri=%s", job_id, trial_id, attempt, uri)
            return
        _apply_result(deps, trial, raw, uri)
    else:
        log.info("result replayed or stale job_id=%s trial_id=%s attempt=%d state=%s",
                 job_id, trial_id, attempt, trial.state.value)
        if not trial.state.is_active():
            release_slots(deps, trial)
    maybe_finish_job(job_id, deps)
    dispatch(deps)


def _not_this_attempt(result, trial: Trial, expected: dict[str, str]) -> str | None:
    """Why a parsed result is not the running attempt's own (ids, or a location the control plane
    did not derive), or None."""
    ids = {"job_id": trial.job_id, "attempt": trial.attempt}
    if isinstance(result, TrialResult):
        ids["trial_id"] = trial.trial_id
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


def _batch_running(deps: Deps, trial: Trial) -> bool:
    try:
        return trial.batch_id is not None and not deps.launcher.get(trial.batch_id).is_terminal
    except BatchNotFound:
        return False


def _apply_result(deps: Deps, trial: Trial, raw: bytes, uri: str) -> None:
    parse = {PREPARE: PrepareResult, FINALIZE: FinalizeResult}.get(trial.kind, TrialResult)
    ctx = f"job_id={trial.job_id} trial_id={trial.trial_id} attempt={trial.attempt}"
    try:
        result = parse.from_json(raw)
        if not isinstance(getattr(result, "metrics", {}), dict):
            raise TypeError("metrics is not an object")
    except (ValueError, TypeError, AttributeError) as exc:  # the batch wrote something else: retry it
        trial_ended(deps, trial, False, "ResultUnreadable", f"the result {uri} cannot be read: {exc}", True)
        return
    job = deps.repo.get_job(trial.job_id)
    if job is None:  # an orphan trial: the reconciler sweeps it
        log.warning("result for a trial without its job %s uri=%s", ctx, uri)
        return
    spec = job_spec(job)
    expected = result_locations(deps.settings, trial, spec)
    problem = _not_this_attempt(result, trial, expected)
    if problem is not None:  # forged, or a batch that wrote another's result: never trusted
        if _batch_running(deps, trial):  # its own result may still come: wait for it
            log.warning("result ignored, not this attempt's %s uri=%s problem=%s", ctx, uri, problem)
            return
        log.warning("result rejected, not this attempt's %s uri=%s problem=%s", ctx, uri, problem)
        trial_ended(deps, trial, False, "ResultUnreadable", f"the result {uri} is not this attempt's: {problem}", True)
        return
    if result.status != "SUCCEEDED":
        reason = "DataError" if result.error_kind == "data" else "BatchFailed"
        trial_ended(deps, trial, False, reason, result.error or "failed", result.error_kind in RETRYABLE_ERROR_KINDS)
    elif isinstance(result, PrepareResult):
        rows = ", ".join(f"{k} {v}" for k, v in sorted(result.rows.items()))
        parts = {k.removeprefix("parts."): v for k, v in expected.items()}
        trial_ended(deps, trial, True, "DataPrepared", f"data prepared: {rows}", False,
                    outputs={"report": report_for_record(result.report,
                                                         data_prefix(deps.settings, trial.job_id) + "report.json"),
                             "parts": parts, "rows": result.rows,
                             "fingerprint": result.fingerprint})
    elif isinstance(result, FinalizeResult):
        trial_ended(deps, trial, True, "ModelPackaged", f"packaged at {expected['package_uri']}", False,
                    outputs={"test_metrics": result.test_metrics, "package_uri": expected["package_uri"],
                             "manifest_uri": expected["manifest_uri"], "online": result.online,
                             "importance": result.importance, "explanations": result.explanations})
    else:
        objective = spec.objective
        metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float))}
        rungs = pruning.rungs_of(spec)
        if objective in metrics and rungs is not None and trial.rung < rungs.last:
            # a lower rung: the score waits PAUSED for the job's rung decisions (maybe_finish_job makes them)
            score = metrics[objective]
            end_attempt(deps, trial, TrialState.PAUSED, "RungScored",
                        f"{objective}={score:.6g} at rung {trial.rung} ({pruning.percent(trial.train_fraction)})",
                        metrics=metrics, objective=score, rung_scores=[*trial.rung_scores, score])
        elif objective in metrics:
            extra = {"rung_scores": [*trial.rung_scores, metrics[objective]]} if rungs is not None else {}
            trial_ended(deps, trial, True, "TrainingSucceeded", f"{objective}={metrics[objective]:.6g}", False,
                        metrics=metrics, objective=metrics[objective], model_uri=expected.get("model_uri"), **extra)
        else:
            trial_ended(deps, trial, False, "MetricMissing", f"the result has no {objective}", False)
