"""Runs local "Dataproc batches" as spark-submit processes: a queue bounded by max_concurrent,
the PENDING -> RUNNING -> SUCCEEDED/FAILED/CANCELLED state machine, one JSON file per batch.

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
import sys
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from zygarde.local.spark_gcs import gcs_connector_jar, spark_conf_for_emulator

log = logging.getLogger("zygarde.local.batch_runner")

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
_LOG4J_LINE = re.compile(r"^\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (INFO|WARN|DEBUG)\b")
_CANCEL_GRACE_SECONDS = 5.0
# Defaults for local runs; the batch's runtimeConfig.properties override them.
_LOCAL_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
}


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

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL


def _ttl_seconds(ttl: str | None) -> float | None:
    """'14400s' (protobuf Duration JSON) -> 14400.0."""
    if not ttl:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(ttl).strip())
    return float(match.group(1)) if match else None


def failure_message(log_path: Path, exit_code: int, max_lines: int = 15) -> str:
    """A readable reason from the exit code and the end of the driver log (log4j chatter removed)."""
    if exit_code < 0:
        name = signal.Signals(-exit_code).name if -exit_code in signal.valid_signals() else str(-exit_code)
        head = f"Driver process was killed by signal {name} (exit code {exit_code})"
    else:
        head = f"Job failed with exit code {exit_code}"
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    useful = [ln for ln in lines if ln.strip() and not _LOG4J_LINE.match(ln)
              and not ln.startswith(("\tat ", "WARNING: Using incubator modules"))]
    tail = useful[-max_lines:]
    errors = [ln for ln in tail if re.match(r"^[\w.]+(Error|Exception)\b.*", ln)]
    if errors:
        head = f"Job failed with message [{errors[-1].strip()[:300]}] (exit code {exit_code})"
    text = head + (". Driver output:\n" + "\n".join(tail) if tail else "")
    return text[-4000:]


class LocalBatchRunner:
    """Owns every batch record and process. Thread-safe."""

    def __init__(self, state_dir: str | Path, max_concurrent: int = 2, master: str = "local[2]",
                 spark_submit: str | None = None):
        self.state_dir = Path(state_dir)
        self.batches_dir = self.state_dir / "batches"
        self.batches_dir.mkdir(parents=True, exist_ok=True)
        self.max_concurrent = max(1, int(max_concurrent))
        self.master = master
        self.spark_submit = spark_submit or _default_spark_submit()
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
                self._transition(record, "RUNNING", "Batch is staging and starting the driver.")
            cmd, env = self._command(record, bdir)
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
            code = self._wait(record, proc)
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
                elif record.state_message.startswith("TTL"):
                    self._transition(record, "FAILED", record.state_message)
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

    def _wait(self, record: BatchRecord, proc: subprocess.Popen) -> int:
        ttl = _ttl_seconds(record.spec.get("environmentConfig", {}).get("executionConfig", {}).get("ttl"))
        try:
            return proc.wait(timeout=ttl)
        except subprocess.TimeoutExpired:
            with self._lock:
                record.state_message = f"TTL of {ttl:.0f}s exceeded; the batch was terminated."
            _terminate_group(proc, _CANCEL_GRACE_SECONDS)
            return proc.wait()

    def _command(self, record: BatchRecord, bdir: Path) -> tuple[list[str], dict[str, str]]:
        """Stage the files and build the spark-submit command line and environment."""
        from zygarde.local.staging import stage  # google-cloud-storage only when needed

        work = bdir / "work"
        work.mkdir(parents=True, exist_ok=True)
        pyspark = record.spec.get("pysparkBatch") or {}
        main = stage(pyspark["mainPythonFileUri"], work)
        py_files = [stage(u, work) for u in pyspark.get("pythonFileUris", [])]
        jars = [stage(u, work) for u in pyspark.get("jarFileUris", [])]
        files = [stage(u, work) for u in pyspark.get("fileUris", [])]

        conf = dict(_LOCAL_DEFAULTS)
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            conf.update(spark_conf_for_emulator(emulator, record.project))
        conf.update((record.spec.get("runtimeConfig") or {}).get("properties") or {})
        conf["spark.app.name"] = record.batch_id
        extra_jars = [j for j in conf.pop("spark.jars", "").split(",") if j]
        if emulator and gcs_connector_jar() not in extra_jars:
            extra_jars.append(gcs_connector_jar())
        cmd = [self.spark_submit, "--master", self.master]
        for key, value in sorted(conf.items()):
            cmd += ["--conf", f"{key}={value}"]
        if jars or extra_jars:
            cmd += ["--jars", ",".join(extra_jars + jars)]
        if py_files:
            cmd += ["--py-files", ",".join(py_files)]
        if files:
            cmd += ["--files", ",".join(files)]
        cmd += [main, *[str(a) for a in pyspark.get("args", [])]]

        env = dict(os.environ)
        env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
                   SPARK_LOCAL_IP="127.0.0.1", ZYGARDE_BATCH_ID=record.batch_id)
        (bdir / "command.json").write_text(json.dumps(cmd, indent=1))
        return cmd, env

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


def _default_spark_submit() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


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
