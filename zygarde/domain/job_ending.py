"""How a job ends, decided from its snapshot: the winner (the best trial fitted on all the train rows;
when a budget ended the search before any was, the best scored on a fraction, refitted on all), its
finalisation, its registration and the job's end; or the job stopped early (its data rejected, a budget
spent with nothing to show, a cancel) with its unfinished trials and their batches cancelled. Pure."""
from __future__ import annotations

from zygarde.domain import pruning, search
from zygarde.domain.decisions import Decision, JobSnapshot, TrialChange
from zygarde.domain.messages import CancelBatch, EndJob, Finalize, RegisterModel
from zygarde.domain.model import ACTIVE, JobState, StageKind, Trial, TrialState, best_trial
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JobSpec


def winner(train: list[Trial], spec: JobSpec, problem: str | None) -> tuple[Trial | None, bool]:
    """(the trial to finalise, whether it is partial): the best trial fitted on the whole train part;
    when a budget ended the search before any was, the best scored at a fraction (refitted on all)."""
    best = best_trial(train, spec.direction)
    if best is None and problem is not None:
        partial = pruning.best_partial(train, spec.direction)
        return partial, partial is not None
    return best, False


def score(trial: Trial) -> float | None:
    return trial.objective if trial.objective is not None else (trial.rung_scores[-1] if trial.rung_scores else None)


def cancel_unfinished(trials: list[Trial], reason: Reason, message: str) -> Decision:
    """Cancel the waiting, paused and active ones of `trials`, and the batches of the active ones."""
    changes, commands = [], []
    for t in trials:
        if t.state.is_finished():
            continue
        changes.append(TrialChange(t.trial_id, TrialState.CANCELLED, reason, message, expect=frozenset({t.state}),
                                   attempt=t.attempt))
        if t.state in ACTIVE and t.batch_id:
            commands.append(CancelBatch(t.job_id, t.batch_id))
    return Decision(tuple(changes), tuple(dict.fromkeys(commands)))


def end_job(s: JobSnapshot, state: JobState, reason: Reason, message: str, best: Trial | None = None) -> EndJob:
    """The job's end, with the best trial so far (or `best`)."""
    best = best or best_trial(s.train(), s.spec.direction)
    changes = {"best_trial_id": best.trial_id, "best_objective": score(best)} if best else {}
    if state is JobState.FAILED:
        changes["error"] = message
    return EndJob(s.job.job_id, state, reason, message, changes)


def stop_job(s: JobSnapshot, reason: Reason, message: str, state: JobState) -> Decision:
    """End a running job early: its unfinished trials cancelled (their batches too), the best so far kept."""
    return cancel_unfinished(list(s.trials), reason, message) + Decision(commands=(end_job(s, state, reason, message),))


def finish(s: JobSnapshot, problem: str | None) -> Decision:
    """Once every planned training trial has finished (or a budget `problem` ended the search): queue the
    winner's finalisation; when that is done, register the model version and end the job."""
    train, finalize = s.train(), s.trial(StageKind.FINALIZE)
    if not all(t.state.is_finished() for t in train) or (
            problem is None and len(train) < search.planned_trial_count(s.spec)):
        return Decision()
    best, partial = winner(train, s.spec, problem)
    if best is None:
        first = next((t.error for t in train if t.error), "no trial succeeded")
        return Decision(commands=(end_job(s, JobState.FAILED, Reason.ALL_TRIALS_FAILED,
                                          f"all {len(train)} trials failed; first error: {first}"),))
    if finalize is None:
        return Decision(commands=(Finalize(s.job.job_id, best.trial_id, refit=partial),))
    if not finalize.state.is_finished():
        return Decision()
    if finalize.state is not TrialState.SUCCEEDED:
        return Decision(commands=(end_job(s, JobState.FAILED, Reason.FINALIZATION_FAILED,
                                          f"the winner {best.trial_id} could not be packaged: {finalize.error}"),))
    return Decision(commands=(_registration(s, best, partial, problem, finalize),))


def registered_ensemble(outputs: dict) -> dict | None:
    """The finalisation's ensemble section when the ensemble was packaged instead of the single winner."""
    ensemble = outputs.get("ensemble") or None
    return ensemble if ensemble and ensemble.get("status") == "registered" and ensemble.get("members") else None


def _registration(s: JobSnapshot, best: Trial, partial: bool, problem: str | None, finalize: Trial) -> RegisterModel:
    spec = s.spec
    name = spec.name or s.job.job_id
    test_metrics = dict(finalize.outputs.get("test_metrics") or {})
    on_test = test_metrics.get(spec.objective)
    fitted = (f" with {pruning.percent(best.train_fraction)} (none finished on all of them in time), refitted on "
              f"all of them" if partial else "")
    ensemble = registered_ensemble(finalize.outputs)
    if ensemble is not None:
        members = ", ".join(f"{m['trial_id']} ({m['algorithm']}) {m['weight']:.3g}" for m in ensemble["members"])
        if ensemble.get("selected_on") == "out_of_fold":  # k-fold: both scored on the out-of-fold predictions
            versus = (f"{ensemble['validation_score']:.6g} out of fold, better than the best single trial "
                      f"{ensemble.get('best_single_trial_id')} {ensemble.get('best_single_score', float('nan')):.6g}")
        else:
            versus = (f"{ensemble['validation_score']:.6g} on validation, better than the best trial {best.trial_id} "
                      f"({best.algorithm}) {score(best):.6g}")
        message = (f"ensemble of {len(ensemble['members'])} trials ({members}) {spec.objective}={versus}"
                   + (f", {on_test:.6g} on test" if on_test is not None else "") + f"; registered as {name} v")
    else:
        message = (f"best trial {best.trial_id} ({best.algorithm}) {spec.objective}={score(best):.6g} on validation"
                   + fitted + (f", {on_test:.6g} on test" if on_test is not None else "") + f"; registered as {name} v")
    state, reason = JobState.SUCCEEDED, Reason.MODEL_REGISTERED
    if problem is not None:  # the search was cut short, but the user still gets the best model found in time
        done = sum(t.state is TrialState.SUCCEEDED for t in s.train())
        state, reason, message = JobState.BUDGET_EXHAUSTED, Reason.BUDGET_EXHAUSTED, f"{problem} after {done} trials; {message}"
    record = {**finalize.outputs, "algorithm": best.algorithm, "params": best.params, "trial_id": best.trial_id,
              "metric": spec.objective, "validation_metrics": best.metrics}
    if ensemble is not None:  # the version is the ensemble: its members and weights, its validation score
        record.update(algorithm="ensemble", params={"members": [
            {k: m.get(k) for k in ("trial_id", "algorithm", "weight", "count")} for m in ensemble["members"]]},
            validation_metrics={spec.objective: ensemble["validation_score"]})
    return RegisterModel(s.job.job_id, name, s.job.owner, record, state, reason, message,
                         {"best_trial_id": best.trial_id, "best_objective": score(best), "model_name": name,
                          "test_metrics": test_metrics})
