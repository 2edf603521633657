"""A fake-gcs-server for the Spark tests that read and write gs:// (one bucket, memory backend)."""
from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator


def http(method: str, url: str, data: bytes | None = None) -> bytes:
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/octet-stream"} if data else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


@contextlib.contextmanager
def running_fake_gcs(port: int, bucket: str) -> Iterator[str]:
    """Start fake-gcs-server on 127.0.0.1:`port` with `bucket` created; yields its base URL."""
    from zygarde.local.processes import fake_gcs_binary

    host = f"127.0.0.1:{port}"
    proc = subprocess.Popen([str(fake_gcs_binary()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
                             "-port", str(port), "-public-host", host, "-log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://{host}"
    try:
        for _ in range(100):
            try:
                http("GET", f"{base}/storage/v1/b")
                break
            except OSError:
                time.sleep(0.1)
        http("POST", f"{base}/storage/v1/b?project=test", json.dumps({"name": bucket}).encode())
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
