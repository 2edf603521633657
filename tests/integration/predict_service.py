"""The predict function served by functions-framework, as the local cloud and Cloud Functions run it."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from zygarde.packaging import REPO_ROOT


@contextlib.contextmanager
def running_predict_service(env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """Start the predict function on 127.0.0.1:`port` with `env`, its output in `log_path`; yields its URL
    once it answers (a readiness poll, not a fixed wait); stopped on exit."""
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "functions_framework", "--target", "predict", "--source",
                                 str(REPO_ROOT / "functions" / "main.py"), "--signature-type", "http",
                                 "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    requests.get(url + "/", timeout=1)
                    break
                except (requests.ConnectionError, requests.Timeout):
                    assert proc.poll() is None, log_path.read_text()[-2000:]
                    time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)
