"""E2E fixture: the whole local cloud (emulators, fake GCS, local Dataproc, the real functions) on free ports
($ZYGARDE_TEST_PORT_RANGE, default 18200-18299) in a temporary state folder, once per session."""
from __future__ import annotations

import os

import pytest

from zygarde.local.cloud import LocalCloud, LocalPorts


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory):
    """A started LocalCloud; os.environ points at it for the session and is restored afterwards.
    On failure the components' logs are in cloud.state_dir / "logs"."""
    cloud = LocalCloud(tmp_path_factory.mktemp("local-cloud"), LocalPorts.free(), project="zygarde-e2e",
                       bucket="zygarde-e2e", max_concurrent_batches=2)
    saved = dict(os.environ)
    try:
        cloud.up()
        os.environ.update(cloud.env())
        yield cloud
    finally:
        cloud.down()
        os.environ.clear()
        os.environ.update(saved)
