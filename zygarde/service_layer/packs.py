"""Packs: several waiting trials of one job trained in one batch (one Spark session, data read once).

A pack holds one capacity slot and one job slot, claimed under the pack's id; each of its trials
records the pack id, the batch id and the slots, and moves WAITING -> LAUNCHING on its own
document, so no trial ever runs twice at once. The slots are freed when the pack's last active
trial ends. The pack id is derived from the job, the trials with their attempts and the capacity
slot, and the batch id from the pack id: a duplicate launch is refused by the API, and two handlers
racing for the same trials make two distinct packs of what each claimed.

Packs are sized by the pure planner (zygarde.domain.packing) from each trial's predicted seconds,
corrected by the job's finished trials, against the batch start-up cost (Settings).
"""
from __future__ import annotations

import hashlib
import json
import random

from zygarde.domain import packing
from zygarde.domain.contracts import PackedTrial, PackRequest
from zygarde.domain.model import PREPARE, TRAIN, Job, Trial, TrialState
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import batch_properties, handoff, stage_limits
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.launching import PACK_HOLD_ATTEMPT, _label, data_prefix, start, trial_uris, ttl_fields
from zygarde.service_layer.stage_limits import data_shape, trial_costs  # noqa: F401 - data_shape: re-exported
from zygarde.service_layer.ports import BatchRequest

PACK_PREFIX = "pack-"
MAX_PACK_SIZE = 16


def pack_id_for(job_id: str, members: list[tuple[str, int]], capacity_slot: int) -> str:
    digest = hashlib.sha256(json.dumps([job_id, sorted(members), capacity_slot]).encode()).hexdigest()
    return PACK_PREFIX + digest[:10]


def batch_id_for_pack(job_id: str, pack_id: str, attempt: int) -> str:
    """zyg-{job}-p{hash}-a{n}: at most 59 characters (Dataproc allows 63)."""
    return f"zyg-{job_id}-p{pack_id.removeprefix(PACK_PREFIX)}-a{attempt}"


def is_pack_holder(holder_id: str) -> bool:
    return holder_id.startswith(PACK_PREFIX)


def uses_packs(spec: JobSpec) -> bool:
    return spec.packing != "off"


def claim_pack(deps: Deps, job: Job, spec: JobSpec, waiting: list[Trial], free_capacity: list[int],
               job_slots_held: set[int]) -> list[Trial]:
    """Plan packs of the job's waiting training trials, claim the largest and launch it. Returns the
    trials launched ([] when nothing could be claimed). Updates the lists and sets in place."""
    free_job_slots = [s for s in range(spec.max_parallel) if s not in job_slots_held]
    trials = deps.repo.list_trials(job.job_id)
    shape = data_shape(next((t for t in trials if t.kind == PREPARE), None))
    finished = [t for t in trials if t.kind == TRAIN and t.state.is_finished()]
    while waiting and free_capacity and free_job_slots:
        plan = packing.plan_packs(trial_costs(waiting, finished, shape),
                                  free_batches=min(len(free_capacity), len(free_job_slots)),
                                  startup_seconds=deps.settings.batch_startup_seconds,
                                  concurrency=max(1, deps.settings.pack_concurrency), max_pack_size=MAX_PACK_SIZE)
        if not plan:
            return []
        by_id = {t.trial_id: t for t in waiting}
        members = [by_id[i] for i in plan[0].trial_ids]
        cap_slot = free_capacity.pop(random.randrange(len(free_capacity)))
        pack_id = pack_id_for(job.job_id, [(t.trial_id, t.attempt + 1) for t in members], cap_slot)
        batch_id, handoff_n = batch_id_for_pack(job.job_id, pack_id, max(t.attempt + 1 for t in members)), 0
        limit = stage_limits.pack_limit(deps, members, plan[0].predicted_seconds)
        warm = handoff.warm_batch(deps, job.job_id, trials, _properties(members), limit)
        if warm:  # a batch of the job that has just finished its work takes this pack
            batch_id, handoff_n = warm
            trials = [t for t in trials if t.batch_id != batch_id]  # not offered twice in this dispatch
        holder = (pack_id, deps.now(), PACK_HOLD_ATTEMPT, batch_id)
        if not deps.repo.claim_capacity(cap_slot, job.job_id, *holder):
            continue  # another handler took it: try another capacity slot
        job_slot = free_job_slots.pop(0)
        if not deps.repo.claim_slot(job.job_id, job_slot, *holder):
            job_slots_held.add(job_slot)
            deps.repo.release_capacity(cap_slot, job.job_id, pack_id, PACK_HOLD_ATTEMPT)
            free_capacity.append(cap_slot)
            continue
        claimed = [c for t in members
                   if (c := _claim_member(deps, t, pack_id, batch_id, job_slot, cap_slot, handoff_n)) is not None]
        for t in members:
            waiting.remove(t)
        if not claimed:  # another handler launched all of them
            deps.repo.release_slot(job.job_id, job_slot, pack_id, PACK_HOLD_ATTEMPT)
            deps.repo.release_capacity(cap_slot, job.job_id, pack_id, PACK_HOLD_ATTEMPT)
            free_capacity.append(cap_slot)
            free_job_slots.insert(0, job_slot)
            continue
        job_slots_held.add(job_slot)
        log.info("pack planned job_id=%s pack_id=%s trials=%s predicted_seconds=%.1f", job.job_id, pack_id,
                 ",".join(t.trial_id for t in claimed), plan[0].predicted_seconds)
        launch_pack(claimed, spec, job.owner, deps, limit)
        again = [t for c in claimed if (t := deps.repo.get_trial(c.job_id, c.trial_id)) is not None
                 and t.state is TrialState.WAITING]
        if not again:
            return claimed
        # handed to a warm batch that exited meanwhile: they wait again (their slots freed); plan anew
        waiting.extend(again)
        trials = [t for t in trials if t.batch_id != batch_id]
        free_capacity.append(cap_slot)
        free_job_slots.insert(0, job_slot)
        job_slots_held.discard(job_slot)
    return []


def _claim_member(deps: Deps, trial: Trial, pack_id: str, batch_id: str, slot: int, cap_slot: int,
                  handoff_n: int) -> Trial | None:
    """WAITING -> LAUNCHING into the pack as the trial's next attempt; None if it is not waiting for it."""
    now, attempt = deps.now(), trial.attempt + 1

    def change(t: Trial) -> Trial | None:
        if t.state is not TrialState.WAITING or t.attempt + 1 != attempt:
            return None
        return t.transition(TrialState.LAUNCHING, "PackClaimed", f"pack {pack_id}, slot {slot}, capacity "
                            f"{cap_slot}, attempt {attempt}", now, slot=slot, capacity_slot=cap_slot,
                            attempt=attempt, batch_id=batch_id, pack_id=pack_id, handoff=handoff_n)

    return deps.repo.update_trial(trial.job_id, trial.trial_id, change)


def pack_batch_request(trials: list[Trial], spec: JobSpec, owner: str, deps: Deps, time_limit: int = 0) -> BatchRequest:
    """The batch of a pack; `time_limit` as in launching.batch_request."""
    settings = deps.settings
    first = trials[0]
    data = data_prefix(settings, first.job_id)
    waits = handoff.request_fields(settings, first)
    packed = []
    for t in sorted(trials, key=lambda t: t.index):
        model_uri, result_uri = trial_uris(settings, t.job_id, t.trial_id, t.attempt)
        packed.append(PackedTrial(trial_id=t.trial_id, attempt=t.attempt, algorithm=t.algorithm,
                                  params=dict(t.params), result_uri=result_uri,
                                  model_uri=model_uri if spec.keep_trial_models else None,
                                  train_fraction=t.train_fraction))
    request = PackRequest(job_id=first.job_id, pack_id=first.pack_id, task=spec.task, metric=spec.objective,
                          target=spec.dataset.target, seed=spec.seed, train_uri=data + "train",
                          validation_uri=data + "validation", trials=tuple(packed), k_folds=spec.data.k_folds,
                          group_by=list(spec.data.group_by), concurrency=max(1, settings.pack_concurrency),
                          time_limit_seconds=float(time_limit), **waits)
    labels = {"zygarde": "trial", "zygarde-job": _label(first.job_id), "zygarde-pack": _label(first.pack_id),
              "zygarde-owner": _label(owner), "zygarde-kind": "pack"}
    return BatchRequest(
        batch_id=first.batch_id, main_python_file_uri=settings.code_uri("train_pack.py"),
        args=("--request", request.to_json()), python_file_uris=(settings.code_uri("zygarde.zip"),),
        labels=labels, properties=_properties(trials), **ttl_fields(settings, time_limit, bool(waits), labels))


def _properties(trials: list[Trial]) -> dict[str, str]:
    properties: dict[str, str] = {}
    for t in trials:
        properties.update(batch_properties.for_algorithm(t.algorithm))
    return properties


def launch_pack(trials: list[Trial], spec: JobSpec, owner: str, deps: Deps, time_limit: int | None = None) -> list[Trial]:
    """Create the batch of a pack's LAUNCHING trials (or hand the pack to its warm batch) and record
    them RUNNING (launching.start). `time_limit`: the pack's (stage_limits.pack_limit when not given)."""
    first = trials[0]
    ctx = f"job_id={first.job_id} pack_id={first.pack_id}"
    limit = time_limit if time_limit is not None else stage_limits.pack_limit(deps, trials)
    return start(deps, trials, pack_batch_request(trials, spec, owner, deps, limit), ctx, limit)
