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

from pathlib import Path

import pytest

from tests.emulator_set import SHARED_BUCKET, SHARED_PROJECT, EmulatorSet, group_members
from zygarde.local.cloud import EMULATORS, LocalCloud, LocalPorts
from zygarde.local.processes import pid_alive, port_is_free

_TIERS = ("unit", "unit/spark", "integration", "e2e")


def _tier(item: pytest.Item) -> int:
    parts = Path(str(item.path)).resolve().relative_to(Path(__file__).parent).parts
    if parts[:2] == ("unit", "spark"):
        return _TIERS.index("unit/spark")
    return _TIERS.index(parts[0]) if parts and parts[0] in _TIERS else 0


def pytest_collection_modifyitems(session, config, items):
    """Unit (non-Spark, then Spark), integration, e2e; each file keeps its own order. Under
    pytest-xdist (`--dist loadgroup`), the tests on the emulators form one group, which one worker
    runs (so they share one emulator set) while the other takes the unit tests; a unit module stays on
    one worker, so its module fixtures are made once."""
    items.sort(key=_tier)
    for item in items:
        group = "cloud" if _tier(item) >= _TIERS.index("integration") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


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
