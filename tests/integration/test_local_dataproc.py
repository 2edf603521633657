"""The local Dataproc Batches endpoint, driven through DataprocBatchLauncher (the real REST client).

One server with --max-concurrent 1, so the queueing is observable. Scripts that do not need Spark
(sleep, raise) still go through spark-submit, which keeps them realistic and fairly quick.
"""
from __future__ import annotations

import io
import os
import signal
import time
import uuid

import pyarrow.parquet as pq
import pytest

from _dataproc_helpers import start_dataproc_server, stop_dataproc_server, storage_client
from zygarde.adapters.dataproc import DataprocBatchLauncher
from zygarde.domain.errors import BatchAlreadyExists, BatchNotFound, PermanentError
from zygarde.local.cloud import LocalPorts
from zygarde.service_layer.ports import BatchRequest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BUCKET = "local-dataproc"

SPARK_OK = """
import sys
from pyspark.sql import SparkSession
from helper_mod import double
spark = SparkSession.builder.getOrCreate()
df = spark.read.option("header", True).option("inferSchema", True).csv(sys.argv[1])
df.selectExpr("x", f"x * {double(1)} AS y").write.mode("overwrite").parquet(sys.argv[2])
spark.stop()
"""
FAILS = "raise ValueError('boom: no column named target')\n"
SLEEPS = "import time\ntime.sleep(600)\n"
MASTER = """
import sys
from pyspark.sql import SparkSession
sc = SparkSession.builder.getOrCreate().sparkContext
with open(sys.argv[1], "w") as out:
    out.write(f"{sc.master} {sc.defaultParallelism} {sc.parallelize(range(10), 3).count()}")
"""


@pytest.fixture(scope="module")
def env(emulator_set, tmp_path_factory):
    """The server, reading gs:// from the session's fake-gcs-server."""
    root = tmp_path_factory.mktemp("local-dataproc")
    dataproc_port = LocalPorts.free().dataproc  # in $ZYGARDE_TEST_PORT_RANGE
    state_dir = root / "state"
    server = None
    try:
        client = storage_client(emulator_set.storage_url)
        bucket = client.create_bucket(BUCKET)
        bucket.blob("code/ok.py").upload_from_string(SPARK_OK)
        bucket.blob("code/helper_mod.py").upload_from_string("def double(v):\n    return 2 * v\n")
        bucket.blob("data/in.csv").upload_from_string("x\n1\n2\n3\n")
        (root / "fails.py").write_text(FAILS)
        (root / "sleeps.py").write_text(SLEEPS)
        (root / "master.py").write_text(MASTER)
        server = start_dataproc_server(dataproc_port, state_dir, max_concurrent=1,
                                       env={"STORAGE_EMULATOR_HOST": emulator_set.storage_url})
        launcher = DataprocBatchLauncher("test-project", "us-central1", endpoint=f"http://127.0.0.1:{dataproc_port}",
                                         runtime_version="2.3", service_account=None, subnet=None, ttl="900s")
        yield {"launcher": launcher, "root": root, "state": state_dir, "bucket": bucket}
    finally:
        if server is not None:
            stop_dataproc_server(server, state_dir)


def wait_state(launcher, batch_id, states, timeout=120.0):
    deadline = time.monotonic() + timeout
    info = None
    while time.monotonic() < deadline:
        info = launcher.get(batch_id)
        if info.state in states:
            return info
        time.sleep(0.5)
    raise AssertionError(f"{batch_id} still {info.state if info else '?'} after {timeout}s, wanted {states}")


def wait_pid(state_dir, batch_id, timeout=30.0) -> int:
    path = state_dir / "batches" / batch_id / "pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.2)
    raise AssertionError(f"no pid file for {batch_id}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def ids(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_queue_duplicate_list_cancel_and_success(env):
    launcher, root, run = env["launcher"], env["root"], uuid.uuid4().hex[:8]
    long_id, ok_id = ids("long"), ids("ok")
    launcher.create(BatchRequest(long_id, str(root / "sleeps.py"), labels={"run": run, "kind": "long"}))
    wait_state(launcher, long_id, {"RUNNING"})
    launcher.create(BatchRequest(
        ok_id, f"gs://{BUCKET}/code/ok.py", args=(f"gs://{BUCKET}/data/in.csv", f"gs://{BUCKET}/out/{ok_id}"),
        python_file_uris=(f"gs://{BUCKET}/code/helper_mod.py",), labels={"run": run, "kind": "ok"},
        properties={"spark.sql.shuffle.partitions": "2"}))

    with pytest.raises(BatchAlreadyExists):
        launcher.create(BatchRequest(long_id, str(root / "sleeps.py")))

    assert launcher.get(ok_id).state == "PENDING"  # max-concurrent=1: the second batch waits for the first
    assert {b.batch_id for b in launcher.list({"run": run})} == {long_id, ok_id}
    assert [b.batch_id for b in launcher.list({"run": run, "kind": "ok"})] == [ok_id]
    assert launcher.list({"run": "nobody"}) == []

    pid = wait_pid(env["state"], long_id)
    launcher.cancel(long_id)
    assert wait_state(launcher, long_id, {"CANCELLED"}, timeout=30).state == "CANCELLED"
    assert not alive(pid)
    launcher.cancel(long_id)  # terminal: a no-op

    done = wait_state(launcher, ok_id, {"SUCCEEDED", "FAILED"}, timeout=150)
    assert done.state == "SUCCEEDED", done.state_message
    # it waited the whole time the first ran: its RUNNING began once the first had ended
    client = launcher.client
    long_ended = client.get_batch(name=launcher.batch_name(long_id)).state_time
    ok_history = client.get_batch(name=launcher.batch_name(ok_id)).state_history
    [ok_ran] = [h.state_start_time for h in ok_history if h.state.name == "RUNNING"]
    assert [h.state.name for h in ok_history][:2] == ["PENDING", "RUNNING"] and ok_ran >= long_ended
    parts = [b for b in env["bucket"].list_blobs(prefix=f"out/{ok_id}/") if b.name.endswith(".parquet")]
    rows = [r for b in parts for r in pq.read_table(io.BytesIO(b.download_as_bytes())).to_pylist()]
    assert sorted((r["x"], r["y"]) for r in rows) == [(1, 2), (2, 4), (3, 6)]


def test_failing_batch_reports_its_error(env):
    launcher, batch_id = env["launcher"], ids("fails")
    launcher.create(BatchRequest(batch_id, f"file://{env['root'] / 'fails.py'}"))
    info = wait_state(launcher, batch_id, {"SUCCEEDED", "FAILED"})
    assert info.state == "FAILED"
    assert "ValueError: boom: no column named target" in info.state_message


def test_killed_driver_makes_the_batch_fail(env):
    launcher, batch_id = env["launcher"], ids("killed")
    launcher.create(BatchRequest(batch_id, str(env["root"] / "sleeps.py")))
    wait_state(launcher, batch_id, {"RUNNING"})
    pid = wait_pid(env["state"], batch_id)
    os.kill(pid, signal.SIGKILL)
    info = wait_state(launcher, batch_id, {"FAILED", "SUCCEEDED", "CANCELLED"}, timeout=30)
    assert info.state == "FAILED" and "SIGKILL" in info.state_message


def test_batch_past_its_ttl_is_stopped(env):
    launcher = DataprocBatchLauncher("test-project", "us-central1", endpoint=env["launcher"].endpoint, ttl="3s")
    batch_id = ids("ttl")
    launcher.create(BatchRequest(batch_id, str(env["root"] / "sleeps.py")))
    info = wait_state(launcher, batch_id, {"FAILED", "SUCCEEDED"}, timeout=60)
    assert info.state == "FAILED" and "TTL of 3s" in info.state_message


def test_missing_main_file_fails_the_batch(env):
    launcher, batch_id = env["launcher"], ids("nofile")
    launcher.create(BatchRequest(batch_id, f"gs://{BUCKET}/code/absent.py"))
    info = wait_state(launcher, batch_id, {"FAILED", "SUCCEEDED"})
    assert info.state == "FAILED" and "absent.py does not exist" in info.state_message


def test_unknown_and_invalid_batches(env):
    launcher = env["launcher"]
    with pytest.raises(BatchNotFound):
        launcher.get("no-such-batch")
    launcher.cancel("no-such-batch")  # a no-op
    with pytest.raises(PermanentError, match="Invalid batch id"):
        launcher.create(BatchRequest("Bad_Id", "/tmp/x.py"))


def test_rest_shapes_operation_filter_and_delete(env):
    """What the raw client sees: the Operation, state filters and DELETE rules."""
    from google.api_core import exceptions as gexc
    from google.cloud import dataproc_v1

    launcher, batch_id = env["launcher"], ids("shape")
    launcher.create(BatchRequest(batch_id, str(env["root"] / "fails.py"), labels={"shape": "yes"}))
    client = launcher.client
    batch = client.get_batch(name=launcher.batch_name(batch_id))
    assert batch.runtime_config.version == "2.3"
    assert batch.environment_config.execution_config.ttl.total_seconds() == 900
    operation = client.get_operation({"name": batch.operation})
    assert operation.name.startswith("projects/test-project/regions/us-central1/operations/")
    metadata = dataproc_v1.BatchOperationMetadata.deserialize(operation.metadata.value)
    assert metadata.batch == launcher.batch_name(batch_id)
    assert metadata.operation_type == dataproc_v1.BatchOperationMetadata.BatchOperationType.BATCH
    if not launcher.get(batch_id).is_terminal:
        with pytest.raises(gexc.BadRequest, match="Cannot delete"):
            client.delete_batch(name=launcher.batch_name(batch_id))

    wait_state(launcher, batch_id, {"FAILED"})
    operation = client.get_operation({"name": batch.operation})
    assert operation.done
    assert dataproc_v1.Batch.deserialize(operation.response.value).state == dataproc_v1.Batch.State.FAILED
    found = list(client.list_batches(request={"parent": launcher.parent,
                                              "filter": 'state = FAILED AND labels.shape = "yes"'}))
    assert [b.name for b in found] == [launcher.batch_name(batch_id)]
    with pytest.raises(gexc.BadRequest, match="unsupported field"):
        list(client.list_batches(request={"parent": launcher.parent, "filter": "colour = blue"}))
    client.delete_batch(name=launcher.batch_name(batch_id))
    with pytest.raises(BatchNotFound):
        launcher.get(batch_id)


def test_batch_runs_with_the_cores_its_properties_ask_for(env):
    """1 executor x 1 core -> local[1]; no sizing properties -> Dataproc's 2 x 4 = 8 cores, capped by
    the machine. The job reports the master Spark ran with; the RUNNING state message names it too."""
    launcher, root = env["launcher"], env["root"]
    one, default = ids("one-core"), ids("default-cores")
    launcher.create(BatchRequest(one, str(root / "master.py"), args=(str(root / f"{one}.txt"),),
                                 properties={"spark.dynamicAllocation.enabled": "false",
                                             "spark.executor.instances": "1", "spark.executor.cores": "1"}))
    launcher.create(BatchRequest(default, str(root / "master.py"), args=(str(root / f"{default}.txt"),)))
    cores = min(8, os.cpu_count())
    expected = {one: (1, "1 core asked for (1 executor x 1 core)"),
                default: (cores, "8 cores asked for (2 executors x 4 cores)")}
    for batch_id, (n, why) in expected.items():
        info = wait_state(launcher, batch_id, {"SUCCEEDED", "FAILED"}, timeout=150)
        assert info.state == "SUCCEEDED", info.state_message
        assert (root / f"{batch_id}.txt").read_text().split() == [f"local[{n}]", str(n), "10"]
        batch = launcher.client.get_batch(name=launcher.batch_name(batch_id))
        running = [h.state_message for h in batch.state_history if h.state.name == "RUNNING"]
        assert len(running) == 1 and f"driver on local[{n}]: {why}" in running[0], running
