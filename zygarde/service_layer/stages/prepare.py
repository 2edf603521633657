"""Prepare: validate the raw dataset once per job, write its data report and the train / validation /
test parts (spark_jobs/prepare_data.py). Its batch may wait for the job's first pack."""
from __future__ import annotations

from typing import Any

from zygarde.config import Settings
from zygarde.domain.contracts import DATA_PARTS, PrepareRequest, PrepareResult
from zygarde.domain.decisions import StageOutcome
from zygarde.domain.model import StageKind, Trial
from zygarde.domain.reasons import Reason
from zygarde.domain.report_record import report_for_record
from zygarde.domain.spec import JobSpec
from zygarde.service_layer.locations import data_prefix, trial_uris
from zygarde.service_layer.stages.stage import Stage


class PrepareStage(Stage):
    kind = StageKind.PREPARE
    main = "prepare_data.py"
    result_type = PrepareResult
    waits_for_more = True

    def request(self, trials: list[Trial], spec: JobSpec, settings: Settings, handoff: dict[str, Any]) -> PrepareRequest:
        [trial] = trials
        _, result_uri = trial_uris(settings, trial.job_id, trial.trial_id, trial.attempt)
        return PrepareRequest(
            job_id=trial.job_id, attempt=trial.attempt, dataset_uri=spec.dataset.uri,
            dataset_format=spec.dataset.format, target=spec.dataset.target, task=spec.task, seed=spec.seed,
            validation_fraction=spec.validation_fraction, test_fraction=spec.data.test_fraction,
            output_prefix=data_prefix(settings, trial.job_id), result_uri=result_uri,
            dataset_options=dict(spec.dataset.options), include_columns=spec.data.include_columns,
            exclude_columns=list(spec.data.exclude_columns), row_filter=spec.data.row_filter,
            expectations=dict(spec.data.expectations), min_rows=spec.data.min_rows,
            group_by=list(spec.data.group_by), **handoff)

    def result_locations(self, trial: Trial, spec: JobSpec, settings: Settings) -> dict[str, str]:
        data = data_prefix(settings, trial.job_id)
        return {f"parts.{part}": data + part for part in DATA_PARTS}

    def succeeded(self, trial: Trial, result: PrepareResult, expected: dict[str, str], spec: JobSpec,
                  settings: Settings) -> StageOutcome:
        rows = ", ".join(f"{k} {v}" for k, v in sorted(result.rows.items()))
        report = report_for_record(result.report, data_prefix(settings, trial.job_id) + "report.json")
        outputs = {"report": report, "parts": {k.removeprefix("parts."): v for k, v in expected.items()},
                   "rows": result.rows, "fingerprint": result.fingerprint}
        return StageOutcome(True, Reason.DATA_PREPARED, f"data prepared: {rows}", changes={"outputs": outputs})
