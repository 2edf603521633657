"""A fake-gcs-server for the Spark tests that read and write gs:// (one bucket, memory backend)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


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


def run_batch(base: str, script: str, request_json: str, *, driver_port: int, timeout: float) -> int:
    """spark_jobs/{script} in its own process and Spark session, reading and writing the fake GCS at `base`,
    as a Dataproc batch runs it: its exit code. After `timeout` seconds the script and its JVM are killed and
    subprocess.TimeoutExpired is raised. ZY_DEBUG=1 prints its stderr."""
    from zygarde.local.spark_gcs import spark_conf_for_emulator

    conf = spark_conf_for_emulator(base)
    code, stderr = run_script(script, request_json, conf=conf, driver_port=driver_port, timeout=timeout)
    if os.environ.get("ZY_DEBUG"):
        print(stderr)
    return code


def batch_command(script: str, *requests: str, conf: dict[str, str], driver_port: int) -> tuple[list[str], dict]:
    """The command and environment that run spark_jobs/{script} in its own process and local[2] JVM, as a
    batch starts. Several requests run in that one process and session, in order (batch_driver: as a
    warm batch takes stage after stage). `conf` adds Spark properties (`spark.jars` goes to --jars)."""
    conf = {"spark.ui.enabled": "false", "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.port": str(driver_port), "spark.blockManager.port": str(driver_port + 15),
            "spark.port.maxRetries": "10", "spark.sql.shuffle.partitions": "2", **conf}
    jars = conf.pop("spark.jars", "")
    args = ["--master", "local[2]"] + (["--jars", jars] if jars else [])
    args += [x for k, v in conf.items() for x in ("--conf", f"{k}={v}")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYSPARK_SUBMIT_ARGS": " ".join(args + ["pyspark-shell"])}
    if len(requests) == 1:
        return [sys.executable, str(ROOT / "spark_jobs" / script), "--request", requests[0]], env
    return [sys.executable, "-m", "tests.unit.spark.batch_driver", script, *requests], env


def run_script(script: str, *requests: str, conf: dict[str, str], driver_port: int,
               timeout: float) -> tuple[int, str]:
    """batch_command's process, waited for: (exit code, stderr). After `timeout` seconds the script and
    its JVM are killed and subprocess.TimeoutExpired is raised."""
    command, env = batch_command(script, *requests, conf=conf, driver_port=driver_port)
    proc = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and its JVM
        proc.wait()
        raise
    return proc.returncode, stderr
