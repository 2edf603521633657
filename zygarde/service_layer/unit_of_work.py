"""The unit of work: a job decision applied to the store. Each trial change is a transaction on that
trial's document, guarded by the state (attempt, rung) it was decided from, so a replayed event or a
decision taken on a stale snapshot changes nothing; when the event's own change is refused, nothing
else of the decision applies. What follows is returned as messages: the decision's commands, the batches
that lost their work (SettleBatch), and, when trials wait again, the job's place in the ready queue."""
from __future__ import annotations

from zygarde.domain.decisions import Decision
from zygarde.domain.messages import Message, PlaceWork, SettleBatch
from zygarde.domain.model import ACTIVE, Job, TrialState
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.scheduling_board import ReadyJob


def apply(deps: Deps, job: Job, decision: Decision) -> list[Message]:
    now = deps.now()
    ended_batches: list[str] = []
    waiting = False
    for change in decision.changes:
        updated = deps.repo.update_trial(job.job_id, change.trial_id, lambda t, c=change: c.apply(t, now))
        if updated is None:
            if change.premise:
                log.info("decision dropped, its trial changed meanwhile job_id=%s trial_id=%s", job.job_id,
                         change.trial_id)
                return []
            continue
        log.info("trial %s job_id=%s trial_id=%s attempt=%d reason=%s", updated.state.value.lower(), job.job_id,
                 updated.trial_id, updated.attempt, change.reason)
        waiting |= updated.state is TrialState.WAITING
        if change.expect & ACTIVE and not updated.state.is_active() and updated.batch_id:
            ended_batches.append(updated.batch_id)
    follow: list[Message] = [*decision.commands, *(SettleBatch(job.job_id, b) for b in dict.fromkeys(ended_batches))]
    if waiting:
        follow += work_is_ready(deps, job)
    return follow


def work_is_ready(deps: Deps, job: Job) -> list[Message]:
    """Put the job in the ready queue (its owner's running trials as the hint) and ask for placement."""
    deps.repo.mark_ready(ReadyJob(job.job_id, job.owner, job.created_at, deps.repo.owner_running(job.owner)))
    return [PlaceWork()]
