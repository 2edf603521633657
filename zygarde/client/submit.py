"""`Client.train`: the data made a Parquet dataset under datasets/{owner}/, the job spec built around it,
checked as `zygarde submit` checks it (service_layer.submission: the spec, the model name, the dataset),
and only then the data written and the spec published to the jobs topic, signed with the user's
identity token. Bad input raises the same SpecError / DatasetError, with the same one-sentence reasons
naming the field, that the submit function would record, and writes nothing."""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from zygarde.client import data as datasets
from zygarde.domain.errors import SpecError

if TYPE_CHECKING:
    from zygarde.client.connection import Connection
    from zygarde.client.jobs import Job

log = logging.getLogger("zygarde.client")

GIVEN_BY_ARGUMENTS = {"dataset": "the data and target arguments", "owner": "your identity token"}
TASKS = ("binary_classification", "multiclass_classification", "regression")


def _task(task: str | None, staged: "datasets.Staged", target: Any) -> str | None:
    """The task given, else the one the target's values suggest (as the web form suggests it); None when
    they are not known here."""
    if task is not None or staged.target_values is None:
        return task
    from zygarde.service_layer.catalog import suggest_task

    suggested = suggest_task(staged.target_values)
    log.info("task not given: %s, from the %d distinct values of %r", suggested, len(staged.target_values), target)
    return suggested


def job_document(owner: str, job_id: str, staged: "datasets.Staged", target: Any, task: str | None,
                 deadline_minutes: float | None, spec: dict[str, Any]) -> dict[str, Any]:
    """The job spec document, as a user would write it for `zygarde submit`."""
    doc: dict[str, Any] = {"job_id": job_id, "owner": owner,
                           "dataset": {"uri": staged.uri, "format": staged.format, "target": target}}
    if staged.options:
        doc["dataset"]["options"] = dict(staged.options)
    doc["task"] = task
    doc.update(spec)
    if deadline_minutes is not None:
        budget = doc.get("budget") if isinstance(doc.get("budget"), dict) else {}
        doc["budget"] = {**budget, "deadline_minutes": deadline_minutes}
    return doc


def train(conn: "Connection", data: Any, target: Any, task: str | None, deadline_minutes: float | None,
          spec: dict[str, Any]) -> "Job":
    from zygarde.client.jobs import Job
    from zygarde.service_layer import submission
    from zygarde.web.jobform import new_job_id

    given = [(key, f"is set by {why}, not by a keyword argument") for key, why in GIVEN_BY_ARGUMENTS.items()
             if key in spec]
    if given:
        raise SpecError(given)
    deps, me = conn.deps, conn.identity
    kind = datasets.kind_of(data)
    staged = datasets.stage(data, target if isinstance(target, str) else None, me.key, deps.settings.bucket,
                            stem=spec.get("name") if isinstance(spec.get("name"), str) else None)
    task = _task(task, staged, target)
    if task is None and (kind == "uri" or target in staged.columns or not isinstance(target, str)):
        raise SpecError([("task", f"cannot be told from the data here: pass task= one of {', '.join(TASKS)}")])
    explicit_id = spec.pop("job_id", None)
    hint = spec.get("name") if isinstance(spec.get("name"), str) else str(target)
    job_id = explicit_id if explicit_id is not None else new_job_id(hint)
    # an unknown task is only possible here for a target missing from the data: the dataset check says so
    doc = job_document(me.key, job_id, staged, target, task or TASKS[0], deadline_minutes, spec)
    try:
        raw = json.dumps(doc).encode()
    except (TypeError, ValueError) as exc:
        raise SpecError([("", f"the job's fields must be JSON values (numbers, strings, lists, objects): {exc}")]) \
            from None
    parsed = submission.parse(raw)
    existing = deps.repo.get_job(job_id) if explicit_id is not None else None
    if existing is not None:
        if existing.owner != me.key or existing.spec != parsed.model_dump(mode="json"):
            raise SpecError([("job_id", f"job id {job_id} is already used by another job (submitted "
                                        f"{existing.created_at[:19]}): choose another job_id, or leave it out")])
        return Job(conn, job_id)  # the same job again: nothing to do
    submission.check_model_name(parsed, job_id, deps.repo)
    submission.check_dataset(parsed, staged.blobs(deps.blobs), deps.settings.bucket)
    if task is None:
        raise SpecError([("task", f"cannot be told from the data here: pass task= one of {', '.join(TASKS)}")])
    staged.write(deps.blobs)
    message_id = conn.publish(raw)
    log.info("job submitted job_id=%s message_id=%s dataset=%s", job_id, message_id, staged.uri)
    return Job(conn, job_id, message_id)
