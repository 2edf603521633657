"""Runs local "Dataproc batches" as spark-submit processes: a queue bounded by max_concurrent,
the PENDING -> RUNNING -> SUCCEEDED/FAILED/CANCELLED state machine, one JSON file per batch.

Each batch runs on local[N], N from its properties (zygarde.local.batch_cores), unless the runner
has a `master` override; the RUNNING state message and batch.json's `master` record what it got.

Layout: STATE_DIR/batches/ID/{batch.json, driver.log, pid, work/}.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from zygarde.domain.batch_state import TERMINAL
from zygarde.local.batch_cores import local_cores
from zygarde.local.spark_submit import build_command, default_spark_submit, failure_message

log = logging.getLogger("zygarde.local.batch_runner")


_CANCEL_GRACE_SECONDS = 5.0


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class BatchExists(Exception):
    """The batch id is taken."""


@dataclass
class BatchRecord:
    """One batch as the local service knows it. `spec` keeps the request's Batch fields
    (pysparkBatch, labels, runtimeConfig, environmentConfig) in API camelCase."""

    batch_id: str
    project: str
    location: str
    uuid: str
    operation_id: str
    create_time: str
    spec: dict
    state: str = "PENDING"
    state_message: str = ""
    state_time: str = ""
    history: list[dict] = field(default_factory=list)
    cancel_requested: bool = False
    exit_code: int | None = None
    master: str = ""

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL


def _ttl_seconds(ttl: str | None) -> float | None:
    """'14400s' (protobuf Duration JSON) -> 14400.0."""
    if not ttl:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(ttl).strip())
    return float(match.group(1)) if match else None


class LocalBatchRunner:
    """Owns every batch record and process. Thread-safe. `master` (e.g. "local[*]") replaces the
    per-batch local[N] for every batch; `max_cores_per_batch` caps N (default: the machine's CPUs)."""

    def __init__(self, state_dir: str | Path, max_concurrent: int = 2, master: str | None = None,
                 spark_submit: str | None = None, max_cores_per_batch: int | None = None):
        self.state_dir = Path(state_dir)
        self.batches_dir = self.state_dir / "batches"
        self.batches_dir.mkdir(parents=True, exist_ok=True)
        self.max_concurrent = max(1, int(max_concurrent))
        self.master = master or None
        self.max_cores_per_batch = max_cores_per_batch
        self.spark_submit = spark_submit or default_spark_submit()
        self._lock = threading.RLock()
        self._records: dict[str, BatchRecord] = {}
        self._queue: list[str] = []
        self._procs: dict[str, subprocess.Popen] = {}
        self._active = 0
        self._closed = False
        self._load()

    # ---- queries -------------------------------------------------------------------------
    def get(self, batch_id: str) -> BatchRecord | None:
        with self._lock:
            return self._records.get(batch_id)

    def all(self) -> list[BatchRecord]:
        with self._lock:
            return list(self._records.values())

    def by_operation(self, operation_id: str) -> BatchRecord | None:
        with self._lock:
            return next((r for r in self._records.values() if r.operation_id == operation_id), None)

    # ---- commands ------------------------------------------------------------------------
    def submit(self, record: BatchRecord) -> BatchRecord:
        """Store and queue a new batch. Raises BatchExists."""
        with self._lock:
            if record.batch_id in self._records:
                raise BatchExists(record.batch_id)
            self._records[record.batch_id] = record
            record.state, record.state_time = "PENDING", record.create_time
            self._save(record)
            self._queue.append(record.batch_id)
            log.info("batch queued batch_id=%s", record.batch_id)
            self._dispatch()
            return record

    def cancel(self, batch_id: str) -> BatchRecord | None:
        """Cancel a pending or running batch; no-op when terminal. None if unknown."""
        with self._lock:
            record = self._records.get(batch_id)
            if record is None or record.is_terminal or record.cancel_requested:
                return record
            record.cancel_requested = True
            if batch_id in self._queue:
                self._queue.remove(batch_id)
                self._transition(record, "CANCELLED", "Batch was cancelled before it started.")
                return record
            self._transition(record, "CANCELLING", "Cancellation requested.")
            proc = self._procs.get(batch_id)
        if proc is not None:
            _terminate_group(proc, _CANCEL_GRACE_SECONDS)
        return record

    def delete(self, batch_id: str) -> None:
        """Forget a terminal batch and remove its files."""
        with self._lock:
            self._records.pop(batch_id, None)
        shutil.rmtree(self.batches_dir / batch_id, ignore_errors=True)

    def shutdown(self) -> None:
        """Stop every running process (used when the server exits)."""
        with self._lock:
            self._closed = True
            procs = list(self._procs.items())
            for batch_id in list(self._queue):
                self._transition(self._records[batch_id], "FAILED", "Local Dataproc server shut down.")
            self._queue.clear()
        for batch_id, proc in procs:
            log.info("stopping batch on shutdown batch_id=%s pid=%s", batch_id, proc.pid)
            _terminate_group(proc, 2.0, wait=True)
            with self._lock:
                self._transition(self._records[batch_id], "FAILED", "Local Dataproc server shut down.")

    # ---- internals -----------------------------------------------------------------------
    def _dispatch(self) -> None:
        with self._lock:
            while not self._closed and self._queue and self._active < self.max_concurrent:
                batch_id = self._queue.pop(0)
                self._active += 1
                threading.Thread(target=self._run, args=(batch_id,), name=f"batch-{batch_id}",
                                 daemon=True).start()

    def _run(self, batch_id: str) -> None:
        record = self._records[batch_id]
        bdir = self.batches_dir / batch_id
        try:
            with self._lock:
                if record.cancel_requested:
                    return
                record.master, why = self._master_for(record)
                self._transition(record, "RUNNING", f"Batch is staging and starting the driver on {why}.")
            cmd, env = build_command(record.spec, batch_id, record.project, bdir / "work",
                                     record.master, self.spark_submit)
            with self._lock:
                if record.cancel_requested:
                    self._transition(record, "CANCELLED", "Batch was cancelled.")
                    return
                with open(bdir / "driver.log", "ab") as out:
                    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            cwd=bdir / "work", start_new_session=True)
                self._procs[batch_id] = proc
                (bdir / "pid").write_text(str(proc.pid))
                log.info("batch started batch_id=%s pid=%s", batch_id, proc.pid)
            code, ttl_message = self._wait(record, proc)
            _kill_group(proc.pid, signal.SIGKILL)  # reap the Python driver and any stray children
            with self._lock:
                self._procs.pop(batch_id, None)
                (bdir / "pid").unlink(missing_ok=True)
                record.exit_code = code
                if record.cancel_requested:
                    self._transition(record, "CANCELLED", "Batch was cancelled.")
                elif self._closed:
                    self._transition(record, "FAILED", "Local Dataproc server shut down.")
                elif code == 0:
                    self._transition(record, "SUCCEEDED", "Batch completed successfully.")
                elif ttl_message:
                    self._transition(record, "FAILED", ttl_message)
                else:
                    self._transition(record, "FAILED", failure_message(bdir / "driver.log", code))
        except Exception as exc:  # staging or launch problem: the batch fails, the server lives
            log.warning("batch could not run batch_id=%s error=%s", batch_id, exc)
            with self._lock:
                if not record.is_terminal:
                    state = "CANCELLED" if record.cancel_requested else "FAILED"
                    self._transition(record, state, f"Batch could not start: {exc}")
        finally:
            with self._lock:
                self._active -= 1
                self._dispatch()

    def _master_for(self, record: BatchRecord) -> tuple[str, str]:
        """The batch's Spark master, and a phrase saying why."""
        if self.master:
            return self.master, f"{self.master} (the server's --master)"
        cores = local_cores((record.spec.get("runtimeConfig") or {}).get("properties"), self.max_cores_per_batch)
        log.info("batch cores batch_id=%s master=%s requested=%s notes=%s",
                 record.batch_id, cores.master, cores.requested, list(cores.notes))
        return cores.master, cores.describe()

    def _wait(self, record: BatchRecord, proc: subprocess.Popen) -> tuple[int, str]:
        """Exit code, and a message when the batch's executionConfig.ttl ran out and it was stopped."""
        ttl = _ttl_seconds(((record.spec.get("environmentConfig") or {}).get("executionConfig") or {}).get("ttl"))
        try:
            return proc.wait(timeout=ttl), ""
        except subprocess.TimeoutExpired:
            log.warning("batch ttl exceeded batch_id=%s ttl=%s", record.batch_id, ttl)
            _terminate_group(proc, _CANCEL_GRACE_SECONDS)
            return proc.wait(), f"The batch ran longer than its TTL of {ttl:.0f}s and was terminated."

    def _transition(self, record: BatchRecord, state: str, message: str) -> None:
        """Move to `state` (terminal states are final) and persist."""
        if record.is_terminal:
            return
        if record.state != state:
            record.history.append({"state": record.state, "stateMessage": record.state_message,
                                   "stateStartTime": record.state_time})
        record.state, record.state_message, record.state_time = state, message, now_rfc3339()
        log.info("batch state batch_id=%s state=%s", record.batch_id, state)
        self._save(record)

    def _save(self, record: BatchRecord) -> None:
        bdir = self.batches_dir / record.batch_id
        bdir.mkdir(parents=True, exist_ok=True)
        tmp = bdir / "batch.json.tmp"
        tmp.write_text(json.dumps(asdict(record), indent=1))
        os.replace(tmp, bdir / "batch.json")

    def _load(self) -> None:
        """Reload records after a restart; batches that were in flight are marked FAILED."""
        for path in sorted(self.batches_dir.glob("*/batch.json")):
            try:
                record = BatchRecord(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("skipping unreadable batch file path=%s error=%s", path, exc)
                continue
            self._records[record.batch_id] = record
            if not record.is_terminal:
                pid_file = path.parent / "pid"
                if pid_file.exists():
                    _kill_group(int(pid_file.read_text().strip() or 0), signal.SIGKILL)
                    pid_file.unlink(missing_ok=True)
                self._transition(record, "FAILED", "Local Dataproc server restarted while the batch was in flight.")


def _kill_group(pgid: int, sig: int) -> None:
    if pgid <= 0:
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate_group(proc: subprocess.Popen, grace: float, wait: bool = False) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds (in the background unless wait)."""
    _kill_group(proc.pid, signal.SIGTERM)

    def escalate() -> None:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        _kill_group(proc.pid, signal.SIGKILL)

    if wait:
        escalate()
    else:
        threading.Thread(target=escalate, daemon=True).start()
