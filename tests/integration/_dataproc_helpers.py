"""Process helpers for the local Dataproc / Spark-on-fake-GCS tests: start, wait, stop, never leak.
fake-gcs-server is the session's (tests/conftest.py `emulator_set`)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL, the process (its own group when started with start_new_session)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def storage_client(url: str):
    """A storage client on fake-gcs-server at `url` (http://host:port)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test-project", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": url})


def start_dataproc_server(port: int, state_dir: Path, max_concurrent: int, env: dict[str, str]) -> subprocess.Popen:
    out = open(state_dir.parent / "dataproc_server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "zygarde.local.dataproc_server", "--host", "127.0.0.1",
                             "--port", str(port), "--state-dir", str(state_dir),
                             "--max-concurrent", str(max_concurrent)],
                            cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    try:
        wait_port(port, proc)
    except Exception:
        stop(proc)
        raise
    return proc


def stop_dataproc_server(proc: subprocess.Popen, state_dir: Path) -> None:
    """Stop the server (it stops its batches), then kill any batch JVM it left behind."""
    pids = [int(p.read_text()) for p in state_dir.glob("batches/*/pid") if p.read_text().strip()]
    stop(proc)
    for pid in pids:
        kill_group(pid)
