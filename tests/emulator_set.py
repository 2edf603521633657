"""The session's emulator set (its fixture is in tests/conftest.py): the Pub/Sub and Firestore
emulators and fake-gcs-server, started once per session, each user in a project and bucket of its own."""
from __future__ import annotations

import dataclasses
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from zygarde.local.cloud import LocalCloud, LocalPorts

SHARED_PROJECT = SHARED_BUCKET = "zygarde-test"  # where fake-gcs-server sends bucket notifications


def group_members(leaders: set[int]) -> set[int]:
    """Every live PID whose process group is led by one of `leaders` (a JVM and its children)."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) in leaders:
            members.add(int(stat.parent.name))
    return members


def drop_subscriptions(pubsub_host: str, project: str) -> None:
    """Delete every subscription of `project` (push ones of a cloud whose functions have stopped)."""
    base = f"http://{pubsub_host}/v1/projects/{project}/subscriptions"
    with urllib.request.urlopen(base, timeout=10) as resp:
        names = [s["name"] for s in json.loads(resp.read() or b"{}").get("subscriptions", [])]
    for name in names:
        urllib.request.urlopen(urllib.request.Request(f"http://{pubsub_host}/v1/{name}", method="DELETE"),
                               timeout=10).read()


@dataclass
class EmulatorSet:
    """The session's running emulators (`cloud`: a LocalCloud of EMULATORS in SHARED_PROJECT)."""

    cloud: LocalCloud

    @property
    def pubsub_host(self) -> str:
        return f"{self.cloud.host}:{self.cloud.ports.pubsub}"

    @property
    def storage_url(self) -> str:
        return self.cloud.url("storage")

    def ports(self, own_storage: bool = False) -> LocalPorts:
        """Free ports for everything else, with the emulators' own (fake-gcs-server's too, unless
        `own_storage`)."""
        p, free = self.cloud.ports, LocalPorts.free()
        return dataclasses.replace(free, pubsub=p.pubsub, firestore=p.firestore,
                                   storage=free.storage if own_storage else p.storage)

    def tenant(self, state_dir: Path, project: str, bucket: str, components=(), **kwargs) -> LocalCloud:
        """A LocalCloud of `components` on these emulators, in `project` and `bucket` (created by its
        up()). Not started. "storage" among the components starts a fake-gcs-server of its own (for
        bucket notifications of its project and bucket); the Pub/Sub and Firestore emulators are never
        started twice."""
        assert not {"pubsub", "firestore"} & set(components), "the emulators are shared: start them once"
        return LocalCloud(state_dir, self.ports(own_storage="storage" in components), project=project,
                          bucket=bucket, components=components, **kwargs)
