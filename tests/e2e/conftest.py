"""E2E fixture: the whole local cloud (local Dataproc, the real functions, the scheduler and the web app
on the session's emulator set, tests/conftest.py) on free ports ($ZYGARDE_TEST_PORT_RANGE, default
18200-18299) in a temporary state folder, once per session."""
from __future__ import annotations

import os

import pytest

from tests.emulator_set import SHARED_BUCKET, SHARED_PROJECT
from zygarde.config import env_name
from zygarde.local.cloud import EMULATORS, all_components


@pytest.fixture(scope="session")
def local_cloud(emulator_set, tmp_path_factory):
    """A started LocalCloud; os.environ points at it for the session and is restored afterwards.
    It runs in the project and bucket fake-gcs-server notifies for. On failure the components' logs
    are in cloud.state_dir / "logs" (the emulators' in emulator_set.cloud.state_dir / "logs")."""
    cloud = emulator_set.tenant(tmp_path_factory.mktemp("local-cloud"), SHARED_PROJECT, SHARED_BUCKET,
                                components=[c for c in all_components() if c not in EMULATORS],
                                max_concurrent_batches=2)
    saved = dict(os.environ)
    try:
        # a pack fits two trials at a time, whatever the machine (the killed-pack test's premise)
        os.environ[env_name("pack_concurrency")] = "2"
        # a warm batch waits up to a minute for its job's next stage (20 s by default locally): on a loaded
        # machine the control plane took longer than 20 s to hand the finalisation over, and a second
        # batch started (the "small job is one batch" assertion); an idle batch is told to end at once
        os.environ.setdefault(env_name("handoff_seconds"), "60")
        cloud.up()
        os.environ.update(cloud.env())
        yield cloud
    finally:
        cloud.down()
        os.environ.clear()
        os.environ.update(saved)
