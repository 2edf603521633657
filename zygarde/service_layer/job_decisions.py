"""Deciding for a job: load the snapshot its rules need, ask the job aggregate, apply the decision.

A snapshot is light (the job and the event's trials) unless the rules need every trial of the job
(job_aggregate.needs_whole_job): so a result reads a handful of documents, and the job's trials are read
whole only when it may end, when rung populations may change, or when a budget counts every batch."""
from __future__ import annotations

import dataclasses
from typing import Any

from zygarde.domain import pruning
from zygarde.domain.decisions import JobSnapshot
from zygarde.domain.job_aggregate import decide, needs_whole_job
from zygarde.domain.messages import Message, ReviewJob
from zygarde.domain.model import UNFINISHED, Trial, TrialState
from zygarde.service_layer import unit_of_work
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.job_specs import job_spec


def decide_and_apply(deps: Deps, job_id: str, event: Any, focus: list[Trial] = ()) -> list[Message]:
    """Decide `event` for the job from a snapshot holding at least `focus`, apply it, return what follows."""
    job = deps.repo.get_job(job_id)
    if job is None:
        return []
    spec = job_spec(job)
    light = JobSnapshot(job, spec, tuple(focus), deps.clock(), deps.settings.batch_startup_seconds, whole=False)
    ids = {t.trial_id for t in focus}
    unfinished = deps.repo.list_trials(job_id, UNFINISHED, limit=len(ids) + 1)
    paused = pruning.rungs_of(spec) is not None and isinstance(event, ReviewJob) and \
        bool(deps.repo.list_trials(job_id, [TrialState.PAUSED], limit=1))
    snapshot = light
    if needs_whole_job(light, event, others_unfinished=any(t.trial_id not in ids for t in unfinished),
                       any_paused=paused):
        snapshot = dataclasses.replace(light, trials=tuple(deps.repo.list_trials(job_id)), whole=True)
    return unit_of_work.apply(deps, job, decide(snapshot, event))
