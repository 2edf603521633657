"""CancelJob: the job ends CANCELLED, its batches are cancelled, its waiting trials never launch.

The topic carries no verified identity, so a cancel must name its requester (`requested_by`, an attribute
or a data field) and that must be the job's owner as recorded; any other cancel is refused: logged,
acknowledged, the job unchanged. A cancel of a job that ended otherwise changes nothing; a repeated one
completes what the first started."""
from __future__ import annotations

import json

from zygarde.domain.decisions import CancelRequested
from zygarde.domain.errors import MessageError
from zygarde.domain.messages import CancelAnswered, CancelJob, Message, PlaceWork
from zygarde.domain.model import JobState
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_decisions import decide_and_apply


def cancel_job(cmd: CancelJob, deps: Deps) -> list[Message]:
    try:
        data = json.loads(cmd.data)
        job_id = data["job_id"]
    except (ValueError, KeyError, TypeError):
        job_id = None
    if not isinstance(job_id, str) or not job_id:
        raise MessageError('a cancel message needs data {"job_id": "...", "requested_by": "..."}')
    given = [v for v in (cmd.attributes.get("requested_by"), data.get("requested_by")) if v is not None]
    job = deps.repo.get_job(job_id)
    if job is None:
        raise MessageError(f"cannot cancel job {job_id}: no such job")
    if not given or any(v != job.owner for v in given):
        why = "it names no requester (requested_by)" if not given else "the requester is not the job's owner"
        log.warning("cancel refused job_id=%s message_id=%s requested_by=%s: %s", job_id, cmd.message_id,
                    json.dumps(given)[:300], why)
        return [CancelAnswered(None)]
    if job.state.is_finished() and job.state is not JobState.CANCELLED:
        log.info("cancel ignored job_id=%s message_id=%s: the job already ended %s", job_id, cmd.message_id,
                 job.state.value)
        return [CancelAnswered(job_id)]
    follow = decide_and_apply(deps, job_id, CancelRequested(f"cancelled by its owner {job.owner}"))
    log.info("job cancelled job_id=%s message_id=%s", job_id, cmd.message_id)
    return [CancelAnswered(job_id), *follow, PlaceWork()]  # its capacity goes to other jobs
