"""How long a batch stage may run, from a simple prediction of its cost. Pure.

Each stage gets a time limit: SAFETY times its predicted seconds (plus a batch's start-up), never
under FLOOR_SECONDS nor over the ceiling (Settings.batch_ttl, ZYGARDE_BATCH_TTL: 4 hours by default).
The batch stops the stage at that limit itself (zygarde.spark.time_limit) and the failure says so;
Dataproc's ttl for the batch is the limit plus a margin (plus HANDOFF_ALLOWANCE_SECONDS for a batch
that takes more of its job's work), so a batch that hangs is ended by Dataproc too.

The predictions are rough on purpose (service_layer/ready_work.py makes them with each piece of work):
a preparation by its input's bytes, a pack of trials by the pack planner's seconds
(zygarde.domain.pack_planner: per learner, the data's shape and the params, corrected by the job's
finished trials), a finalisation by the winner's refit. The limit is put on the trials when they are
claimed; the stage definitions (service_layer/stages/) put it in the request and the ttl on the batch.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone

FLOOR_SECONDS = 600  # Dataproc Serverless's shortest ttl; a small stage on a loaded machine fits
SAFETY = 10.0  # a stage may take this many times its predicted cost (predictions are rough)
PREPARE_FIXED_SECONDS = 30.0  # a preparation's passes on a small file (report, duplicates, split, writes)
PREPARE_BYTES_PER_SECOND = 4 * 1024 * 1024  # a preparation's rate on a default batch (several passes)
FINALIZE_FIXED_SECONDS = 120.0  # test scoring, the ONNX export and its parity check, the package
TTL_MARGIN_SECONDS = 120  # a batch's ttl beyond its stage's limit: start-up, the result, the exit
HANDOFF_ALLOWANCE_SECONDS = 3600  # more ttl for a batch that waits for its job's next work
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text: str) -> float:
    """'14400s', '30m', '4h', '1d' -> seconds. Raises ValueError."""
    found = _DURATION.match((text or "").strip())
    if not found:
        raise ValueError(f"invalid duration {text!r}: use a number of seconds like '14400s'")
    return float(found.group(1)) * _UNIT[found.group(2)]


def stage_limit(predicted_seconds: float | None, ceiling_seconds: float) -> int:
    """The time limit of a stage predicted to take `predicted_seconds` (None: unknown -> the ceiling)."""
    ceiling = max(float(ceiling_seconds), FLOOR_SECONDS)
    if predicted_seconds is None or not math.isfinite(predicted_seconds):
        return int(ceiling)
    wanted = SAFETY * max(predicted_seconds, 0.0)
    return int(min(max(math.ceil(wanted), FLOOR_SECONDS), ceiling))


def batch_ttl(limit_seconds: int, ceiling_seconds: float, takes_handoffs: bool) -> int:
    """Dataproc's ttl for a batch whose first stage has this limit."""
    wanted = limit_seconds + TTL_MARGIN_SECONDS + (HANDOFF_ALLOWANCE_SECONDS if takes_handoffs else 0)
    return int(min(max(wanted, FLOOR_SECONDS), max(float(ceiling_seconds), FLOOR_SECONDS)))


def prepare_seconds(dataset_bytes: int | None) -> float | None:
    """A preparation's predicted seconds from its input's size (None: unknown)."""
    if dataset_bytes is None:
        return None
    return PREPARE_FIXED_SECONDS + max(dataset_bytes, 0) / PREPARE_BYTES_PER_SECOND


def finalize_seconds(refit_seconds: float) -> float:
    """A finalisation's predicted seconds: the winner's refit (0 when its model was kept) and the rest."""
    return FINALIZE_FIXED_SECONDS + max(refit_seconds, 0.0)


def time_left(ttl_seconds: int | None, since: datetime, now: datetime) -> float:
    """Seconds before a batch's ttl, counted from `since` (its claim, just before its creation), ends it,
    less TTL_MARGIN_SECONDS (a handed-off stage's result and the exit); unbounded for an unknown ttl."""
    if not ttl_seconds:
        return math.inf
    return ttl_seconds - (_utc(now) - _utc(since)).total_seconds() - TTL_MARGIN_SECONDS


def stopped_at_limit(limit_seconds: float | None, started_at: str | None, state: str, state_message: str,
                     ended_at: datetime | None) -> bool:
    """Whether an attempt with this limit, started at `started_at` (ISO 8601), whose batch ended `state`
    without a result, was stopped at its limit: Dataproc says its ttl ran out, or the batch ran at least
    the limit (the batch stops a stage itself at its limit, and exits if the stage ignores that)."""
    if state not in ("FAILED", "CANCELLED") or not limit_seconds:
        return False
    if "ttl" in (state_message or "").lower():
        return True
    if not started_at or ended_at is None:
        return False
    return (_utc(ended_at) - _utc(datetime.fromisoformat(started_at))).total_seconds() >= limit_seconds


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
