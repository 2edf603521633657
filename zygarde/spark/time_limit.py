"""A stage's time limit, enforced inside its batch (request.time_limit_seconds; the control plane sets
it from the stage's predicted cost: zygarde.domain.time_limits).

When the limit passes, a watchdog thread cancels the session's Spark jobs (and any the stage starts
after), so the stage fails at once and writes its FAILED result with error_kind "time_limit" and a
sentence saying so (zygarde.spark.failures reads `exceeded`); that kind is never retried. A batch that
owns its session and is still inside the stage GRACE_SECONDS later exits with EXIT_CODE: a task that
ignores cancellation (a runaway expression) cannot hold the batch's slot. A batch whose stage hit its
limit takes no handed-off work. Dataproc's own ttl is the last resort beyond this.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable

log = logging.getLogger(__name__)

GRACE_SECONDS = 60.0
EXIT_CODE = 4
_POLL_SECONDS = 1.0
_state: dict[str, Any] = {"limit": None, "hit": False}


def exceeded() -> float | None:
    """The running stage's limit once it has passed (its Spark jobs are being cancelled), else None."""
    return _state["limit"] if _state["hit"] else None


def last_stage_hit() -> bool:
    """Whether the stage that ran last was stopped at its limit."""
    return bool(_state["hit"])


def run(spark, request: Any, execute: Callable[[Any, Any], Any], *, may_exit: bool) -> Any:
    """execute(spark, request) under request.time_limit_seconds (none when 0). `may_exit`: the batch
    owns its session, so it may end the process when the stage ignores cancellation."""
    limit = float(getattr(request, "time_limit_seconds", 0) or 0)
    _state.update(limit=limit or None, hit=False)
    if limit <= 0:
        return execute(spark, request)
    done = threading.Event()
    watchdog = threading.Thread(target=_watch, args=(spark, limit, done, may_exit), name="zygarde-time-limit",
                                daemon=True)
    watchdog.start()
    try:
        return execute(spark, request)
    finally:
        done.set()
        watchdog.join(timeout=5)
        _state["limit"] = None  # `exceeded` speaks of the running stage only; `last_stage_hit` remembers


def _watch(spark, limit: float, done: threading.Event, may_exit: bool) -> None:
    started = time.monotonic()
    if done.wait(limit):
        return
    _state["hit"] = True
    log.error("stage time limit reached limit_seconds=%.0f: cancelling its Spark jobs", limit)
    while not done.is_set():
        try:
            spark.sparkContext.cancelAllJobs()
        except Exception as exc:  # noqa: BLE001 - a session being torn down
            log.warning("could not cancel the stage's jobs: %s", str(exc).splitlines()[0] if str(exc) else exc)
        if may_exit and time.monotonic() - started > limit + GRACE_SECONDS:
            log.error("stage still running %.0f s past its time limit: the batch exits", GRACE_SECONDS)
            logging.shutdown()
            os._exit(EXIT_CODE)
        done.wait(_POLL_SECONDS)
