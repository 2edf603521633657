"""TrainPack: several of a job's training trials in one batch and one Spark session
(spark_jobs/train_pack.py); a job that does not pack runs packs of one. Each trial writes its own
TrialResult. A trial saves its model only when the job keeps every trial's model, or does not pack (its
model then serves the finalisation, as before packing); otherwise the winner is fitted again at
finalisation. Its batch may wait for the job's next pack or its finalisation."""
from __future__ import annotations

from typing import Any

from zygarde.config import Settings
from zygarde.domain.algorithms import CLASSIFICATION, REGRESSION
from zygarde.domain.contracts import PackedTrial, PackRequest, TrialResult
from zygarde.domain.decisions import StageOutcome
from zygarde.domain.messages import Retry
from zygarde.domain.model import StageKind, Trial
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import batch_properties, locations
from zygarde.service_layer.locations import data_prefix, trial_uris
from zygarde.service_layer.stages.stage import Stage


def keeps_models(spec: JobSpec) -> bool:
    return spec.keep_trial_models or spec.packing == "off"


class TrainPackStage(Stage):
    kind = StageKind.TRAIN
    main = "train_pack.py"
    result_type = TrialResult
    waits_for_more = True

    def request(self, trials: list[Trial], spec: JobSpec, settings: Settings, owner: str,
                shared: dict[str, Any]) -> PackRequest:
        first, data = trials[0], data_prefix(settings, trials[0].job_id)
        packed = []
        for t in sorted(trials, key=lambda t: t.index):
            model_uri, result_uri = trial_uris(settings, t.job_id, t.trial_id, t.attempt)
            packed.append(PackedTrial(trial_id=t.trial_id, attempt=t.attempt, algorithm=t.algorithm,
                                      params=dict(t.params), result_uri=result_uri,
                                      model_uri=model_uri if keeps_models(spec) else None,
                                      train_fraction=t.train_fraction,
                                      predictions_uri=_predictions_uri(t, spec, settings)))
        return PackRequest(job_id=first.job_id, pack_id=first.pack_id or first.trial_id, task=spec.task,
                           metric=spec.objective, target=spec.dataset.target, seed=spec.seed,
                           train_uri=data + "train", validation_uri=data + "validation", trials=tuple(packed),
                           k_folds=spec.data.k_folds, group_by=list(spec.data.group_by),
                           ordinal_columns=list(spec.data.ordinal_columns),
                           concurrency=max(1, settings.pack_concurrency), **shared)

    def properties(self, trials: list[Trial]) -> dict[str, str]:
        properties: dict[str, str] = {}
        for t in trials:
            properties.update(batch_properties.for_algorithm(t.algorithm))
        return properties

    def batch_ids(self, job_id: str, trials: list[Trial], capacity_slot: int) -> tuple[str | None, str]:
        pack_id = locations.pack_id_for(job_id, [(t.trial_id, t.attempt + 1) for t in trials], capacity_slot)
        return pack_id, locations.batch_id_for_pack(job_id, pack_id, trials)

    def labels(self, trials: list[Trial]) -> dict[str, str]:
        return {"zygarde-pack": locations.label(trials[0].pack_id or trials[0].trial_id)}

    def result_locations(self, trial: Trial, spec: JobSpec, settings: Settings) -> dict[str, str]:
        out = {}
        if (predictions := _predictions_uri(trial, spec, settings)) is not None:
            out["validation_predictions_uri"] = predictions
        if keeps_models(spec):  # else no model kept: the winner is fitted again at finalisation
            out["model_uri"] = trial_uris(settings, trial.job_id, trial.trial_id, trial.attempt)[0]
        return out

    def result_ids(self, trial: Trial) -> dict[str, Any]:
        return {**super().result_ids(trial), "trial_id": trial.trial_id}

    def succeeded(self, trial: Trial, result: TrialResult, expected: dict[str, str], spec: JobSpec,
                  settings: Settings) -> StageOutcome:
        objective = spec.objective
        metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float))}
        if objective not in metrics:
            return StageOutcome(False, Reason.METRIC_MISSING, f"the result has no {objective}", Retry.NEVER)
        score = metrics[objective]
        changes = {"metrics": metrics, "objective": score, "model_uri": expected.get("model_uri")}
        if result.validation_predictions_uri:  # kept for the ensemble selection (checked: the derived location)
            changes["outputs"] = {**trial.outputs, "validation_predictions_uri": result.validation_predictions_uri}
        return StageOutcome(True, Reason.TRAINING_SUCCEEDED, f"{objective}={score:.6g}", score=score,
                            changes=changes)


def _predictions_uri(trial: Trial, spec: JobSpec, settings: Settings) -> str | None:
    """Where the attempt keeps its validation predictions (a k-fold job's: its out-of-fold predictions):
    supervised jobs only (the batch writes them only for a fit on all the train rows)."""
    if spec.task not in CLASSIFICATION and spec.task != REGRESSION:
        return None
    return locations.predictions_uri(settings, trial.job_id, trial.trial_id, trial.attempt,
                                     out_of_fold=spec.data.k_folds >= 2)
