"""BatchIdle: a batch has done its work and waits for more (results/{job}/{batch}/idle-{n}.json). It is
handed the job's next work that fits it (a pack, or the finalisation: a warm handoff, with no new batch
start-up), which takes over its slots, when its time limit fits in what is left of the batch's ttl; or it is
told to end now (a handoff whose main is "exit") and its
slots are freed. Its trials' own results are looked for first, as notifications may come out of order;
an idle report while its work still runs is not the batch's own and is ignored."""
from __future__ import annotations

import dataclasses
from datetime import datetime

from zygarde.domain import time_limits
from zygarde.domain.contracts import handoff_object
from zygarde.domain.messages import BatchIdle, Message, ResultWritten, ReviewJob, StartWork
from zygarde.domain.model import ACTIVE, UNFINISHED, JobState
from zygarde.service_layer.batch_slots import job_slot_of, tell_to_exit
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.locations import handoff_prefix, trial_uris
from zygarde.service_layer.pack_claims import claim_into_batch
from zygarde.service_layer.ready_work import next_work


def batch_idle(event: BatchIdle, deps: Deps) -> list[Message]:
    job_id, batch_id, n = event.job_id, event.batch_id, event.handoff
    if deps.blobs.exists(handoff_object(handoff_prefix(deps.settings, job_id, batch_id), n)):
        return []  # answered already (a replay)
    members = deps.repo.batch_trials(job_id, batch_id, ACTIVE)
    if members and not event.results_checked:  # its results may not have been delivered yet: look first
        return [*(ResultWritten(job_id, t.trial_id, t.attempt, trial_uris(deps.settings, job_id, t.trial_id, t.attempt)[1])
                  for t in members), dataclasses.replace(event, results_checked=True)]
    if members:
        log.warning("idle report ignored while the batch's work runs job_id=%s batch_id=%s handoff=%d trials=%s",
                    job_id, batch_id, n, ",".join(t.trial_id for t in members))
        return []
    slot, hold = job_slot_of(deps, job_id, batch_id)
    job = deps.repo.get_job(job_id)
    if hold is not None and job is not None and job.state is JobState.RUNNING:
        spec = job_spec(job)
        work = [w for w in next_work(deps, job, spec, 1)
                if w.stage.batch_properties(list(w.trials), job.plan) == dict(hold.properties)]
        left = time_limits.time_left(hold.ttl_seconds, datetime.fromisoformat(hold.claimed_at), deps.clock())
        if work and left < work[0].time_limit(deps.settings):
            log.info("idle batch has too little ttl left for the work job_id=%s batch_id=%s handoff=%d", job_id,
                     batch_id, n)
            work = []
        if work and claim_into_batch(deps, job, spec, work[0], slot, hold, n):
            return [StartWork(job_id, batch_id)]
        if not work and not event.reviewed and not deps.repo.list_trials(job_id, UNFINISHED, limit=1):
            # A running job with no unfinished trial is between decisions: another handler has recorded its last
            # result and is about to queue what follows (the finalisation). Review it here, then look again.
            return [ReviewJob(job_id), dataclasses.replace(event, reviewed=True)]
    return tell_to_exit(deps, job_id, batch_id, n)
