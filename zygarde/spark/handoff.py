"""A warm batch's wait for more of its job's work (contracts.Handoff).

When a batch's request names a handoff_prefix, the batch does not exit once its work is done: it reports
that it waits ({idle_prefix}idle-{n}.json, an IdleReport, which the bucket's notification takes to the
control plane), then polls for {handoff_prefix}{n}.json (n = 1, 2, ...) up to handoff_seconds, and runs
what it finds in the same Spark session (no new batch, JVM or session to start), then waits for the next.
A handoff whose main is "exit" ends the wait at once. The control plane writes the handoff; the batch
only reads it, and writes its idle report.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

from zygarde.domain.contracts import EXIT, Handoff, IdleReport, handoff_object, idle_object
from zygarde.spark import hadoop_fs

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def _executors() -> dict[str, tuple[type, Callable[[Any, Any], Any]]]:
    """Entry point name -> (its request type, its execute). Imported when work arrives."""
    from zygarde.domain.contracts import FinalizeRequest, PackRequest, PrepareRequest
    from zygarde.spark import pack_runner, package, prepare

    return {"train_pack.py": (PackRequest, pack_runner.execute), "finalize_model.py": (FinalizeRequest, package.execute),
            "prepare_data.py": (PrepareRequest, prepare.execute)}


def report_idle(spark, request: Any, n: int, ids: str) -> None:
    """Write the idle report for handoff `n`, when the request names where (best effort: without it the
    batch still waits, and the reconciler frees its slots once it has gone)."""
    prefix = getattr(request, "idle_prefix", None)
    if not prefix:
        return
    try:
        hadoop_fs.write_bytes(spark, idle_object(prefix, n), IdleReport(request.job_id, n).to_json().encode())
    except Exception as exc:  # noqa: BLE001 - the wait goes on without it
        log.warning("idle report not written %s handoff=%d: %s", ids, n, str(exc).splitlines()[0][:200] if str(exc) else exc)


def next_work(spark, prefix: str, n: int, wait_seconds: float, *, sleep=time.sleep,
              clock=time.monotonic) -> Handoff | None:
    """The nth handoff under `prefix`, once it exists; None when none comes within `wait_seconds`."""
    uri = handoff_object(prefix, n)
    deadline = clock() + wait_seconds
    while True:
        if hadoop_fs.exists(spark, uri):
            return Handoff.from_json(hadoop_fs.read_bytes(spark, uri))
        if clock() >= deadline:
            return None
        sleep(POLL_SECONDS)


def serve(spark, request: Any, ids: str, executors: dict | None = None) -> list[str]:
    """Run the work handed to this batch after `request`'s own, until none comes in time or it is told to
    exit. Returns the statuses of the handed work's results. Raises only if a result cannot be written."""
    statuses: list[str] = []
    n = 1
    while getattr(request, "handoff_prefix", None) and getattr(request, "handoff_seconds", 0) > 0:
        started = time.monotonic()
        report_idle(spark, request, n, ids)
        work = next_work(spark, request.handoff_prefix, n, request.handoff_seconds)
        waited = time.monotonic() - started
        if work is None:
            log.info("no handoff came %s handoff=%d waited_seconds=%.1f: the batch exits", ids, n, waited)
            break
        if work.main == EXIT:
            log.info("told to exit %s handoff=%d waited_seconds=%.1f", ids, n, waited)
            break
        known = executors if executors is not None else _executors()
        try:
            request_type, execute = known[work.main]
            request = request_type.from_json(json.dumps(work.request))
        except (KeyError, ValueError, TypeError) as exc:  # nothing to report to: the reconciler retries it
            log.error("unreadable handoff %s handoff=%d main=%s: %s", ids, n, work.main, exc)
            break
        log.info("handoff received %s handoff=%d main=%s waited_seconds=%.1f", ids, n, work.main, waited)
        result = execute(spark, request)
        statuses.append(result.status)
        n += 1
    return statuses
