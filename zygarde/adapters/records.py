"""Job and trial snapshots <-> plain dicts (Firestore documents, JSON)."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from zygarde.domain.model import BatchRun, Condition, Job, JobState, StageKind, Trial, TrialState


def _conditions(raw: list[dict[str, str]] | None) -> tuple[Condition, ...]:
    return tuple(Condition(**c) for c in raw or ())


def trial_to_dict(trial: Trial) -> dict[str, Any]:
    data = dataclasses.asdict(trial)
    data["state"] = trial.state.value
    data["kind"] = str(trial.kind)
    data["conditions"] = [c.to_dict() for c in trial.conditions]
    data["runs"] = [dataclasses.asdict(r) for r in trial.runs]
    # stage outputs (data reports, ...) hold arrays of arrays, which Firestore cannot store: keep JSON text
    data["outputs"] = json.dumps(trial.outputs, sort_keys=True)
    return data


def trial_from_dict(data: dict[str, Any]) -> Trial:
    fields = {f.name for f in dataclasses.fields(Trial)}
    values = {k: v for k, v in data.items() if k in fields}
    values["state"] = TrialState(values["state"])
    values["kind"] = StageKind(values.get("kind") or StageKind.TRAIN)
    values["conditions"] = _conditions(values.get("conditions"))
    values["params"] = dict(values.get("params") or {})
    values["metrics"] = dict(values.get("metrics") or {})
    values["rung_scores"] = [float(v) for v in values.get("rung_scores") or ()]
    values["runs"] = tuple(BatchRun(**r) for r in values.get("runs") or ())
    outputs = values.get("outputs") or {}
    values["outputs"] = json.loads(outputs) if isinstance(outputs, str) else dict(outputs)
    return Trial(**values)


def job_to_dict(job: Job) -> dict[str, Any]:
    data = dataclasses.asdict(job)
    data["state"] = job.state.value
    data["conditions"] = [c.to_dict() for c in job.conditions]
    return data


def job_from_dict(data: dict[str, Any]) -> Job:
    fields = {f.name for f in dataclasses.fields(Job)}
    values = {k: v for k, v in data.items() if k in fields}
    values["state"] = JobState(values["state"])
    values["conditions"] = _conditions(values.get("conditions"))
    return Job(**values)
