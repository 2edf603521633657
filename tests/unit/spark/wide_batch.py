"""The wide-export preparations of test_hostile_files, as one batch process (its own JVM), started in
the background as soon as the tests are collected: it runs while the unit tests without Spark (one
core's worth of Python) run on the other core, and the wide tests then only read its results.

    start(items)        # from tests/conftest.py, once collection is done: only if a wide test is selected
    results()           # (exit code, stderr, {(columns, target): (frame, values, result path)}), waiting
    stop()              # at the end of the session: kill what is left, remove the files
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

WIDE = [(10_000, "first"), (10_000, "last"), (20_000, "last")]
TEST = "test_ten_and_twenty_thousand_columns_prepare"
DRIVER_PORT = 18580
TIMEOUT = 1200
_state: dict = {}


def _frame(columns: int, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A wide sensor export: 24 rows, a gap every third row in sensor_00005, a balanced binary target."""
    rng = np.random.default_rng(columns)
    n = 24
    values = rng.normal(size=(n, columns)).round(3)
    values[::3, 5] = np.nan
    frame = pd.DataFrame(values, columns=[f"sensor_{i:05d}" for i in range(columns)])
    frame.insert(0 if target == "first" else columns, "churned", np.where(np.arange(n) % 2 == 0, "yes", "no"))
    return frame, values


def start(items=None) -> None:
    """Write the exports and start the batch process, once; with `items`, only if a wide test is among them."""
    if _state or (items is not None and not any(TEST in item.nodeid for item in items)):
        return
    from tests.unit.spark.fake_gcs import batch_command
    from zygarde.domain.contracts import PrepareRequest

    root = Path(tempfile.mkdtemp(prefix="zy-wide-"))
    cases, requests = {}, []
    for columns, target in WIDE:
        frame, values = _frame(columns, target)
        path, out = root / f"wide_{columns}_{target}.csv", root / f"{columns}-{target}"
        frame.to_csv(path, index=False)
        request = PrepareRequest(job_id="job-wide", attempt=1, dataset_uri=str(path), dataset_format="csv",
                                 target="churned", task="binary_classification", seed=11, validation_fraction=0.2,
                                 test_fraction=0.15, min_rows=10, output_prefix=f"{out}/data/",
                                 result_uri=f"{out}/result.json")
        cases[(columns, target)] = (frame, values, out / "result.json")
        requests.append(request.to_json())
    command, env = batch_command("prepare_data.py", *requests, conf={"spark.driver.memory": "4g"},
                                 driver_port=DRIVER_PORT)
    stderr = open(root / "stderr.txt", "w+")  # noqa: SIM115 - read back in results()
    proc = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parents[3], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=stderr)
    _state.update(root=root, cases=cases, proc=proc, stderr=stderr)


def results() -> tuple[int, str, dict]:
    """Wait for the batch process (started now if it was not): its exit code, stderr and the cases."""
    start()
    proc = _state["proc"]
    try:
        code = proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    _state["stderr"].seek(0)
    return code, _state["stderr"].read(), _state["cases"]


def stop() -> None:
    """Kill the batch process if it still runs (its tests were not reached) and remove its files."""
    if not _state:
        return
    proc = _state["proc"]
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    _state["stderr"].close()
    shutil.rmtree(_state["root"], ignore_errors=True)
    _state.clear()


__all__ = ["WIDE", "results", "start", "stop"]
