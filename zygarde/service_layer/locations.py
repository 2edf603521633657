"""Where a job's things live, derived here and never taken from a batch: batch ids, an attempt's model
and result objects, the prepared data, the model package, a batch's handoff and idle objects."""
from __future__ import annotations

import hashlib
import json
import re

from zygarde.config import Settings, prefix
from zygarde.domain.contracts import idle_prefix_name, result_object_name
from zygarde.domain.model import Trial

PACK_PREFIX = "pack-"


def label(value: str) -> str:
    """A value as a Dataproc label (lower case, at most 63 of [a-z0-9_-])."""
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


def batch_id_for(job_id: str, trial_id: str, attempt: int) -> str:
    """zyg-{job}-{trial}-a{n}: derived from job, trial and attempt, so a duplicate launch is refused by the API."""
    return f"zyg-{job_id}-{trial_id}-a{attempt}"


def pack_id_for(job_id: str, members: list[tuple[str, int]], capacity_slot: int) -> str:
    """Derived from the job, its trials with their attempts and the capacity slot: two handlers racing
    for the same trials make two distinct packs of what each claimed."""
    digest = hashlib.sha256(json.dumps([job_id, sorted(members), capacity_slot]).encode()).hexdigest()
    return PACK_PREFIX + digest[:10]


def batch_id_for_pack(job_id: str, pack_id: str, members: list[Trial]) -> str:
    """zyg-{job}-p{hash}-a{n}: at most 59 characters (Dataproc allows 63); a pack of one trial (a job that
    does not pack) keeps the name of its trial: zyg-{job}-{trial}-a{n}."""
    attempt = max(t.attempt + 1 for t in members)
    if len(members) == 1:
        return batch_id_for(job_id, members[0].trial_id, attempt)
    return f"zyg-{job_id}-p{pack_id.removeprefix(PACK_PREFIX)}-a{attempt}"


def trial_uris(settings: Settings, job_id: str, trial_id: str, attempt: int) -> tuple[str, str]:
    """(model_uri, result_uri) of one attempt."""
    base = f"gs://{settings.bucket}/"
    model = f"{base}{prefix('artifacts')}{job_id}/{trial_id}/attempt-{attempt}/model"
    return model, base + result_object_name(job_id, trial_id, attempt)


def predictions_uri(settings: Settings, job_id: str, trial_id: str, attempt: int, out_of_fold: bool = False) -> str:
    """Where an attempt keeps its validation predictions (one Parquet file) for the ensemble selection; a
    k-fold job's (out_of_fold) its out-of-fold predictions."""
    name = "oof_predictions" if out_of_fold else "validation_predictions"
    return f"gs://{settings.bucket}/{prefix('artifacts')}{job_id}/{trial_id}/attempt-{attempt}/{name}.parquet"


def data_prefix(settings: Settings, job_id: str) -> str:
    """Where the job's prepared data lives: report.json and the train / validation / test parts."""
    return f"gs://{settings.bucket}/{prefix('artifacts')}{job_id}/data/"


def package_uri(settings: Settings, model_name: str, job_id: str) -> str:
    return f"gs://{settings.bucket}/{prefix('models')}{model_name}/{job_id}/"


def handoff_prefix(settings: Settings, job_id: str, batch_id: str) -> str:
    """Where a waiting batch looks for its next work: {prefix}{n}.json (contracts.Handoff)."""
    return f"gs://{settings.bucket}/{prefix('artifacts')}{job_id}/handoff/{batch_id}/"


def idle_prefix(settings: Settings, job_id: str, batch_id: str) -> str:
    """Where a batch reports that it waits: {prefix}idle-{n}.json, under results/ (so the bucket's
    notification routes it to the result handler)."""
    return f"gs://{settings.bucket}/{idle_prefix_name(job_id, batch_id)}"
