"""Finalize: score the winner once on the test part and write its model package
(spark_jobs/finalize_model.py), fitting it again first when no trial model was kept. The best trials
that kept their validation predictions (up to domain.ensemble.MAX_CANDIDATES, the winner first) are
its ensemble candidates: the batch packages their ensemble instead when it beats the winner on
validation. The job's last stage: its batch never waits for more."""
from __future__ import annotations

from typing import Any

from zygarde.config import Settings
from zygarde.domain.contracts import MANIFEST_NAME, EnsembleCandidate, FinalizeRequest, FinalizeResult, RefitSpec
from zygarde.domain.ensemble import MAX_CANDIDATES
from zygarde.domain.decisions import StageOutcome
from zygarde.domain.model import TRAIN, StageKind, Trial, TrialState
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import batch_properties
from zygarde.service_layer.locations import data_prefix, package_uri, trial_uris
from zygarde.service_layer.stages.stage import Stage


class FinalizeStage(Stage):
    kind = StageKind.FINALIZE
    main = "finalize_model.py"
    result_type = FinalizeResult
    waits_for_more = False

    def request(self, trials: list[Trial], spec: JobSpec, settings: Settings, owner: str,
                shared: dict[str, Any]) -> FinalizeRequest:
        [trial] = trials
        _, result_uri = trial_uris(settings, trial.job_id, trial.trial_id, trial.attempt)
        data = data_prefix(settings, trial.job_id)
        return FinalizeRequest(
            job_id=trial.job_id, attempt=trial.attempt, model_uri=trial.params["model_uri"], test_uri=data + "test",
            task=spec.task, target=spec.dataset.target, metric=spec.objective,
            package_uri=package_uri(settings, spec.name or trial.job_id, trial.job_id), result_uri=result_uri,
            manifest=dict(trial.params["manifest"]), refit=_refit(trial, spec, data),
            ensemble=tuple(EnsembleCandidate.from_dict(c) for c in trial.params.get("ensemble") or ()),
            ordinal_columns=list(spec.data.ordinal_columns))

    def properties(self, trials: list[Trial]) -> dict[str, str]:
        refit = trials[0].params.get("refit")  # fitting the winner again needs its learner's properties
        properties = batch_properties.for_algorithm(refit.get("algorithm")) if refit else {}
        for candidate in trials[0].params.get("ensemble") or ():  # an ensemble's members may be refitted
            properties.update(batch_properties.for_algorithm(candidate["algorithm"]))
        return properties

    def result_locations(self, trial: Trial, spec: JobSpec, settings: Settings) -> dict[str, str]:
        package = package_uri(settings, spec.name or trial.job_id, trial.job_id)
        return {"package_uri": package, "manifest_uri": package + MANIFEST_NAME}

    def succeeded(self, trial: Trial, result: FinalizeResult, expected: dict[str, str], spec: JobSpec,
                  settings: Settings) -> StageOutcome:
        outputs = {"test_metrics": result.test_metrics, "package_uri": expected["package_uri"],
                   "manifest_uri": expected["manifest_uri"], "online": result.online,
                   "importance": result.importance, "explanations": result.explanations,
                   "ensemble": result.ensemble}
        return StageOutcome(True, Reason.MODEL_PACKAGED, f"packaged at {expected['package_uri']}",
                            changes={"outputs": outputs})


def finalize_trial(job_id: str, owner: str, spec_dict: dict, spec: JobSpec, best: Trial, prepare: Trial | None,
                   code_version: str, now: str, refit: bool = False, trials: list[Trial] | None = None) -> Trial:
    """The finalisation of `best` (refit: it was scored on a fraction of the rows, fit it on all), with
    the ensemble candidates among `trials` (the job's)."""
    manifest = {"job_id": job_id, "owner": owner, "trial_id": best.trial_id, "algorithm": best.algorithm,
                "params": best.params, "validation_metrics": best.metrics, "seed": spec.seed, "spec": spec_dict,
                "dataset_fingerprint": (prepare.outputs.get("fingerprint") if prepare else None) or {},
                "code_version": code_version, "metric": spec.objective}
    params: dict = {"model_uri": best.model_uri, "manifest": manifest}
    if best.model_uri is None or spec.final_fit == "train_and_validation" or refit:
        refit_params = dict(best.params)
        if "best_iteration" in best.metrics:  # XGBoost's early stop: the rounds to fit on train + validation
            refit_params["best_iteration"] = int(best.metrics["best_iteration"])
        params["refit"] = {"algorithm": best.algorithm, "params": refit_params}
        if spec.final_fit == "train_and_validation" or refit:
            params["model_uri"] = None
    candidates = ensemble_candidates(trials or [], best, spec) if spec.ensemble and not refit else []
    if len(candidates) >= 2:
        params["ensemble"] = candidates
    return Trial(job_id=job_id, trial_id=str(StageKind.FINALIZE), index=-1, algorithm=best.algorithm,
                 kind=StageKind.FINALIZE, params=params, created_at=now)


def _with_rounds(trial: Trial) -> dict:
    """A trial's params, with XGBoost's recorded early stop for a fit on train + validation."""
    params = dict(trial.params)
    if "best_iteration" in trial.metrics:
        params["best_iteration"] = int(trial.metrics["best_iteration"])
    return params


def ensemble_candidates(trials: list[Trial], best: Trial, spec: JobSpec) -> list[dict]:
    """The best succeeded training trials fitted on all the train rows that kept their validation
    predictions, best first (ties: lowest index), the winner first, at most MAX_CANDIDATES."""
    kept = [t for t in trials if t.kind == TRAIN and t.state is TrialState.SUCCEEDED and t.objective is not None
            and t.train_fraction >= 1.0 and t.outputs.get("validation_predictions_uri")]
    winner = next((t for t in kept if t.trial_id == best.trial_id), None)
    if winner is None:
        return []
    sign = -1.0 if spec.direction == "maximize" else 1.0
    ranked = [winner] + sorted((t for t in kept if t.trial_id != best.trial_id),
                             key=lambda t: (sign * t.objective, t.index))
    return [{"trial_id": t.trial_id, "algorithm": t.algorithm, "params": _with_rounds(t),
             "predictions_uri": t.outputs["validation_predictions_uri"], "model_uri": t.model_uri}
            for t in ranked[:MAX_CANDIDATES]]


def _refit(trial: Trial, spec: JobSpec, data: str) -> RefitSpec | None:
    """The winner to fit again: when its trial kept no model, or the job fits the final model on train +
    validation."""
    refit = trial.params.get("refit")
    if not refit:
        return None
    return RefitSpec(algorithm=refit["algorithm"], params=dict(refit["params"]), seed=spec.seed,
                     train_uri=data + "train", validation_uri=data + "validation",
                     on_train_and_validation=spec.final_fit == "train_and_validation")
