"""What every tier shares: the order tests run in, and one emulator set per test session.

- Order: the unit tests without Spark, the Spark unit tests, integration, then e2e (a stable sort of
  what was collected), so that a broken unit fails in the first minute instead of the last.
- `emulator_set`: the Pub/Sub and Firestore emulators and fake-gcs-server, started once, on free ports
  of $ZYGARDE_TEST_PORT_RANGE (default 18200-18299), the first time a test needs them, and stopped at
  the end of the session, checking that nothing they started is left. Every user has a project (and
  bucket) of its own on them: the integration tests one per test, the e2e local cloud SHARED_PROJECT
  (the project and bucket fake-gcs-server sends its bucket notifications for).

    def test_x(emulator_set, tmp_path):
        cloud = emulator_set.tenant(tmp_path, "my-project", "my-bucket", components=("dataproc",))
        cloud.up()   # its topics, bucket and processes; cloud.down() stops its processes only
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.emulator_set import SHARED_BUCKET, SHARED_PROJECT, EmulatorSet, group_members
from zygarde.local.cloud import EMULATORS, LocalCloud, LocalPorts
from zygarde.local.processes import pid_alive, port_is_free

# Every SparkSession this process starts runs its Python workers in this venv: the fixtures' sessions, and
# one a library starts as it is imported (FLAML's pyspark.pandas does, in a non-Spark unit test), which
# the Spark tests' getOrCreate would otherwise reuse with the `python3` found on PATH (no pandas there).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# Every JVM the tests start (the shared session, the local batches, the wide batch) compiles with C1 only and
# collects with one thread: they live seconds to minutes, so C2's compilations and parallel GC threads cost
# more than they return (measured: the e2e job and v1 tests 163 -> 118 s of CPU, the same wall time; the
# Spark packing tests 187 -> 150 s). Tests only: the local cloud and Dataproc keep the JVM's defaults.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")

_TIERS = ("unit", "unit/spark", "integration", "e2e")


def _tier(item: pytest.Item) -> int:
    parts = Path(str(item.path)).resolve().relative_to(Path(__file__).parent).parts
    if parts[:2] == ("unit", "spark"):
        return _TIERS.index("unit/spark")
    return _TIERS.index(parts[0]) if parts and parts[0] in _TIERS else 0


def pytest_collection_modifyitems(session, config, items):
    """Unit (non-Spark, then Spark), integration, e2e; each file keeps its own order. In a pytest-xdist
    worker, the integration and e2e tests come first (see pytest_xdist_make_scheduler)."""
    cloud = _TIERS.index("integration")
    worker = hasattr(config, "workerinput")
    items.sort(key=lambda item: -1 if worker and _tier(item) >= cloud else _tier(item))


def pytest_collection_finish(session):
    """Start the wide-export preparations in the background (tests/unit/spark/wide_batch.py) when their
    tests are selected: their cold JVM works while the unit tests without Spark run. (Not in a pytest-xdist
    worker: every worker collects every test; there the wide tests start it when they need it.)"""
    if hasattr(session.config, "workerinput"):
        return
    from tests.unit.spark import wide_batch

    wide_batch.start(session.items)


def pytest_sessionfinish(session, exitstatus):
    from tests.unit.spark import wide_batch

    wide_batch.stop()


def _scope(nodeid: str) -> str:
    """A work unit of `make test-parallel`'s scheduler: every integration test together, every e2e test
    together, else a module."""
    path = nodeid.split("::")[0]
    tier = re.search(r"(^|/)tests/(integration|e2e)/", path)
    return tier.group(2) if tier else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`make test-parallel` (`-n 2 --dist loadscope --no-loadscope-reorder`): the integration tests are one
    work unit and the e2e tests another, queued first, so each worker starts on one of them (an emulator
    set each) and then takes the unit tests in order, module by module (a module's fixtures are made once). (pytest-
    xdist's loadgroup would do it with marks, but it cannot rename pytest 9's node ids.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TierScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return TierScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """(pytest-xdist, in the controller) Tell each worker whether COLUMNS was set here."""
    node.workerinput["zygarde_columns"] = os.environ.get("COLUMNS")


def _worker_ports(workerinput: dict) -> None:
    """(in an xdist worker) A share of $ZYGARDE_TEST_PORT_RANGE of its own: a port one worker found free
    would otherwise be taken by the other's servers before it binds it."""
    low, _, high = os.environ.get("ZYGARDE_TEST_PORT_RANGE", "18200-18299").partition("-")
    index, count = int(workerinput["workerid"].removeprefix("gw")), int(workerinput["workercount"])
    share = (int(high) - int(low) + 1) // count
    start = int(low) + index * share
    os.environ["ZYGARDE_TEST_PORT_RANGE"] = f"{start}-{start + share - 1}"


def pytest_configure(config):
    """(in an xdist worker) Its own share of the test ports, and the environment of a run in one process:
    workers start with COLUMNS=80, which would make the command line print at 80 columns instead of its
    piped width."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "workerid" in workerinput:
        _worker_ports(workerinput)
    if workerinput is not None and "zygarde_columns" in workerinput:
        if workerinput["zygarde_columns"] is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = workerinput["zygarde_columns"]


@pytest.fixture(scope="session")
def emulator_set(tmp_path_factory):
    cloud = LocalCloud(tmp_path_factory.mktemp("emulator-set"), LocalPorts.free(), project=SHARED_PROJECT,
                       bucket=SHARED_BUCKET, components=EMULATORS)
    try:
        cloud.up()
        yield EmulatorSet(cloud)
    finally:
        members = group_members({row["pid"] for row in cloud.status().values() if row["pid"]})
        stopped = cloud.down()
    # what `zygarde local down` promises, checked on the emulators at the end of every session
    assert sorted(stopped) == sorted(EMULATORS), f"stopped {stopped}, expected every emulator"
    assert not [pid for pid in members if pid_alive(pid)], "an emulator left a process behind"
    assert all(port_is_free(cloud.ports.port_of(c)) for c in EMULATORS), "an emulator's port is still taken"
