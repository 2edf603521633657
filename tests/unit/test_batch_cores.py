"""A batch's properties -> its local[N] (zygarde.local.batch_cores), and the runner using it, with a
fake spark-submit that records its argv (no JVM)."""
from __future__ import annotations

import json
import time

import pytest

from zygarde.local.batch_cores import local_cores
from zygarde.local.batch_runner import BatchRecord, LocalBatchRunner, now_rfc3339
from zygarde.local.dataproc_server import main as server_main

NO_DA = {"spark.dynamicAllocation.enabled": "false"}


@pytest.mark.parametrize("props, cpus, max_cores, expected", [
    ({}, 64, None, 8),                                                       # Dataproc's 2 x 4
    (None, 64, None, 8),
    ({}, 2, None, 2),                                                        # 8 asked, 2-core machine
    ({**NO_DA, "spark.executor.instances": "1", "spark.executor.cores": "1"}, 2, None, 1),
    ({**NO_DA, "spark.executor.instances": "3", "spark.executor.cores": "2"}, 64, None, 6),
    ({**NO_DA, "spark.executor.instances": "2", "spark.executor.cores": "4"}, 2, None, 2),  # XGBoost's batch
    ({"spark.executor.cores": "1"}, 64, None, 2),                             # 2 initial executors
    ({"spark.executor.cores": "1", "spark.executor.instances": "1"}, 64, None, 1),
    ({"spark.executor.cores": "1", "spark.dynamicAllocation.initialExecutors": "5"}, 64, None, 5),
    ({"spark.executor.cores": "1", "spark.executor.instances": "1",
      "spark.dynamicAllocation.minExecutors": "3"}, 64, None, 3),             # Spark takes the largest
    ({**NO_DA, "spark.executor.cores": "1", "spark.dynamicAllocation.initialExecutors": "5"}, 64, None, 2),
    ({"spark.executor.cores": 3, "spark.executor.instances": 1}, 64, None, 3),  # ints, not strings
    ({"spark.driver.cores": "16"}, 64, None, 8),  # the driver runs no tasks
    ({}, 64, 3, 3),                                                          # max_cores_per_batch
    ({}, 2, 16, 2),
    ({}, 64, 0, 1),
    ({}, 0, None, 1),
])
def test_cores_from_properties(props, cpus, max_cores, expected):
    got = local_cores(props, max_cores=max_cores, cpus=cpus)
    assert (got.cores, got.master) == (expected, f"local[{expected}]")


@pytest.mark.parametrize("key, value", [
    ("spark.executor.cores", "abc"), ("spark.executor.cores", "0"), ("spark.executor.cores", "-2"),
    ("spark.executor.cores", "2.5"), ("spark.executor.instances", "many"),
    ("spark.dynamicAllocation.initialExecutors", "0"), ("spark.task.cpus", "x"),
])
def test_bad_values_fall_back_to_the_dataproc_default_with_a_note(key, value):
    got = local_cores({key: value}, cpus=64)
    assert (got.cores, got.requested, got.executors, got.executor_cores) == (8, 8, 2, 4)
    assert any(key in note and repr(value) in note for note in got.notes), got.notes
    assert key in got.describe()


def test_bad_boolean_keeps_dynamic_allocation_on():
    got = local_cores({"spark.dynamicAllocation.enabled": "maybe", "spark.executor.cores": "1",
                       "spark.dynamicAllocation.initialExecutors": "3"}, cpus=64)
    assert got.cores == 3 and "taken as true" in got.notes[0]
    assert local_cores({"spark.dynamicAllocation.enabled": " FALSE ", "spark.executor.cores": "1",
                        "spark.dynamicAllocation.initialExecutors": "3"}, cpus=64).cores == 2


def test_caps_and_task_cpus_are_explained():
    capped = local_cores({}, max_cores=3, cpus=64)
    assert capped.requested == 8 and "capped at 3" in capped.describe()
    assert capped.describe().startswith("local[3]: 8 cores asked for (2 executors x 4 cores)")
    one = local_cores({**NO_DA, "spark.executor.instances": "1", "spark.executor.cores": "1"}, cpus=2)
    assert one.describe() == "local[1]: 1 core asked for (1 executor x 1 core)" and one.notes == ()
    wide = local_cores({"spark.task.cpus": "4"}, cpus=2)      # local[2] could not run a 4-cpu task
    assert wide.cores == 4 and "spark.task.cpus=4" in wide.describe()
    assert local_cores({"spark.task.cpus": "2"}, cpus=64).cores == 8


# ---- the runner ---------------------------------------------------------------------------------
@pytest.fixture
def fake_submit(tmp_path):
    script = tmp_path / "spark-submit"
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > argv.txt\n')
    script.chmod(0o755)
    (tmp_path / "main.py").write_text("print('hi')\n")
    return script


def run_batch(runner: LocalBatchRunner, tmp_path, batch_id: str, properties: dict) -> BatchRecord:
    spec = {"pysparkBatch": {"mainPythonFileUri": str(tmp_path / "main.py")},
            "runtimeConfig": {"properties": properties}}
    record = BatchRecord(batch_id=batch_id, project="p", location="l", uuid="u", operation_id=batch_id,
                         create_time=now_rfc3339(), spec=spec)
    runner.submit(record)
    deadline = time.monotonic() + 20
    while not record.is_terminal and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.state == "SUCCEEDED", record.state_message
    return record


def argv_master(runner: LocalBatchRunner, batch_id: str) -> str:
    argv = (runner.batches_dir / batch_id / "work" / "argv.txt").read_text().splitlines()
    return argv[argv.index("--master") + 1]


def test_runner_runs_each_batch_on_its_cores_and_records_it(tmp_path, fake_submit):
    runner = LocalBatchRunner(tmp_path / "state", spark_submit=str(fake_submit), max_cores_per_batch=2)
    one = run_batch(runner, tmp_path, "one-core", {**NO_DA, "spark.executor.instances": "1",
                                                   "spark.executor.cores": "1", "spark.master": "yarn"})
    assert argv_master(runner, "one-core") == "local[1]" and one.master == "local[1]"
    running = [h["stateMessage"] for h in one.history if h["state"] == "RUNNING"]
    assert running == [("Batch is staging and starting the driver on local[1]: 1 core asked for "
                        "(1 executor x 1 core).")]
    assert "spark.master=yarn" not in json.loads((runner.batches_dir / "one-core" / "command.json").read_text())
    assert json.loads((runner.batches_dir / "one-core" / "batch.json").read_text())["master"] == "local[1]"

    run_batch(runner, tmp_path, "eight-cores", {})
    assert argv_master(runner, "eight-cores") == "local[2]"
    bad = run_batch(runner, tmp_path, "bad-cores", {"spark.executor.cores": "abc"})
    assert bad.master == "local[2]" and "'abc' is not a positive integer" in bad.history[-1]["stateMessage"]


def test_server_master_overrides_every_batch(tmp_path, fake_submit):
    runner = LocalBatchRunner(tmp_path / "state", spark_submit=str(fake_submit), master="local[*]")
    record = run_batch(runner, tmp_path, "override", {"spark.executor.cores": "1"})
    assert argv_master(runner, "override") == "local[*]"
    assert "local[*] (the server's --master)" in record.history[-1]["stateMessage"]


@pytest.mark.parametrize("value", ["0", "abc"])
def test_server_rejects_a_bad_max_cores(value, capsys):
    with pytest.raises(SystemExit):
        server_main(["--state-dir", "x", "--max-cores-per-batch", value])
    assert "expected a positive integer" in capsys.readouterr().err
