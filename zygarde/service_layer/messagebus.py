"""The message bus: one handler per message type (HANDLERS), each taking the message and its
dependencies and returning the messages it causes; the bus handles them, depth first, until none is left.
No handler calls another. Placing work (PlaceWork) runs once, after everything else a message caused.

The path of each message: docs/architecture.md."""
from __future__ import annotations

from collections import deque
from typing import Callable

from zygarde.domain.errors import PermanentError
from zygarde.domain.messages import (AttemptEnded, BatchIdle, CancelBatch, CancelJob, EndJob, Finalize, GrantAccess,
                                     JobEnded, JobFileWritten, Message, Outcome, PlaceWork, Reconcile, RegisterModel,
                                     ReleaseBatch, ReplanJob, ResultWritten, ResumeLaunches, ReviewJob, SettleBatch,
                                     StartWork, SubmitJob)
from zygarde.service_layer import (batch_idle, batch_slots, cancels, dispatch, grants, job_end, job_intake,
                                   plan_revision, reconcile, results, work_start)
from zygarde.service_layer.deps import Deps, log

Handler = Callable[[Message, Deps], list[Message]]

HANDLERS: dict[type[Message], Handler] = {
    # from outside
    SubmitJob: job_intake.submit_job,
    JobFileWritten: job_intake.submit_job_file,
    CancelJob: cancels.cancel_job,
    GrantAccess: grants.grant,
    ResultWritten: results.record_result,
    BatchIdle: batch_idle.batch_idle,
    Reconcile: reconcile.reconcile,
    JobEnded: job_end.job_ended,
    # a job's rules
    AttemptEnded: results.attempt_ended,
    ReviewJob: results.review_job,
    ReplanJob: plan_revision.replan_job,
    Finalize: job_end.queue_finalization,
    RegisterModel: job_end.register_model,
    EndJob: job_end.end_job,
    # batches and capacity
    PlaceWork: dispatch.place_work,
    StartWork: work_start.start_work,
    ResumeLaunches: work_start.resume_launches,
    SettleBatch: batch_slots.settle_batch,
    ReleaseBatch: batch_slots.release_batch,
    CancelBatch: batch_slots.cancel_batch,
}


def handle(message: Message, deps: Deps) -> list[Message]:
    """Handle `message` and everything it causes. Returns the trace: every message handled or answered,
    in order. The first message's errors propagate (the edge acknowledges or retries it); a permanent
    error of a message it caused is logged and the rest goes on (what it leaves undone, a redelivery or
    the reconciler finishes); a transient one propagates, so the first message is delivered again."""
    queue, trace, place = deque([message]), [], False
    while queue or place:
        if not queue:
            queue.append(PlaceWork())
            place = False
        msg = queue.popleft()
        trace.append(msg)
        if isinstance(msg, Outcome):
            continue
        try:
            caused = HANDLERS[type(msg)](msg, deps)
        except PermanentError as exc:
            if msg is message:
                raise
            log.error("%s failed, the rest goes on message=%r error=%r", type(msg).__name__, msg, str(exc))
            continue
        place |= any(isinstance(follow, PlaceWork) for follow in caused)  # once, after the rest
        # depth first: what a message causes is finished before the messages caused beside it
        queue.extendleft(reversed([follow for follow in caused if not isinstance(follow, PlaceWork)]))
    return trace
