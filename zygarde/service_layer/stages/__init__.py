"""The three stages a job's batches run, each one definition: Prepare, TrainPack, Finalize."""
from __future__ import annotations

from zygarde.domain.model import StageKind, Trial
from zygarde.service_layer.stages.finalize import FinalizeStage
from zygarde.service_layer.stages.prepare import PrepareStage
from zygarde.service_layer.stages.stage import NotThisAttempt, Stage
from zygarde.service_layer.stages.train_pack import TrainPackStage

STAGES: dict[StageKind, Stage] = {StageKind.PREPARE: PrepareStage(), StageKind.TRAIN: TrainPackStage(),
                                  StageKind.FINALIZE: FinalizeStage()}
BY_MAIN: dict[str, Stage] = {stage.main: stage for stage in STAGES.values()}


def stage_of(trial: Trial) -> Stage:
    return STAGES[trial.kind]


__all__ = ["BY_MAIN", "STAGES", "NotThisAttempt", "Stage", "stage_of"]
