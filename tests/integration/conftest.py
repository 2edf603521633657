"""Integration fixtures on the session's emulator set (tests/conftest.py: the real Pub/Sub and
Firestore emulators and fake-gcs-server, started once per session on free ports of
$ZYGARDE_TEST_PORT_RANGE, default 18200-18299, stopped at the end).

    def test_x(emulators):        # os.environ points every client at the emulators
        emulators.env, emulators.project, emulators.bucket
    def test_y(namespace):        # a fresh project (own topics, Firestore data) and bucket per test
        sub = namespace.subscribe("jobs"); ...; namespace.pull(sub, expected=1)
"""
from __future__ import annotations

import os
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

import pytest

from zygarde.config import env_name, topic
from zygarde.local import bootstrap
from zygarde.local.cloud import LocalCloud


@dataclass
class Emulators:
    """The running emulators; `project`/`bucket` are where the integration tests' session resources live
    (`cloud` is their LocalCloud: no processes of its own, the emulator set's ports)."""

    cloud: LocalCloud
    env: dict[str, str]
    project: str
    bucket: str
    _subscriber: object = field(default=None, repr=False)

    @property
    def pubsub_host(self) -> str:
        return self.env["PUBSUB_EMULATOR_HOST"]

    @property
    def firestore_host(self) -> str:
        return self.env["FIRESTORE_EMULATOR_HOST"]

    @property
    def storage_url(self) -> str:
        return self.env["STORAGE_EMULATOR_HOST"]

    def subscriber(self):
        if self._subscriber is None:
            from google.cloud import pubsub_v1

            self._subscriber = pubsub_v1.SubscriberClient()
        return self._subscriber

    def subscribe(self, topic_key: str, project: str | None = None) -> str:
        """A new pull subscription on a resources.json topic; returns its path. Subscribe before publishing."""
        project = project or self.project
        path = f"projects/{project}/subscriptions/test-{topic_key}-{uuid.uuid4().hex[:8]}"
        self.subscriber().create_subscription(name=path, topic=f"projects/{project}/topics/{topic(topic_key)}")
        return path

    def pull(self, subscription: str, expected: int = 1, timeout: float = 20.0) -> list[dict]:
        """Pull (and ack) until `expected` messages came or timeout: [{data: bytes, attributes: dict, message_id}]."""
        from google.api_core.exceptions import DeadlineExceeded

        got: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            try:
                resp = self.subscriber().pull(subscription=subscription, max_messages=10, timeout=2)
            except DeadlineExceeded:
                continue
            for rm in resp.received_messages:
                got.append({"data": rm.message.data, "attributes": dict(rm.message.attributes),
                            "message_id": rm.message.message_id})
            if resp.received_messages:
                self.subscriber().acknowledge(subscription=subscription,
                                              ack_ids=[rm.ack_id for rm in resp.received_messages])
        return got

    def clear_firestore(self, project: str | None = None) -> None:
        url = (f"http://{self.firestore_host}/emulator/v1/projects/{project or self.project}"
               "/databases/(default)/documents")
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).read()


@dataclass
class Namespace:
    """A fresh project (its own topics, dead-letter topics, Firestore data) and bucket for one test.
    fake-gcs-server sends bucket notifications for the e2e cloud's project and bucket only."""

    emulators: Emulators
    project: str
    bucket: str
    env: dict[str, str]

    def subscribe(self, topic_key: str) -> str:
        return self.emulators.subscribe(topic_key, self.project)

    def pull(self, subscription: str, expected: int = 1, timeout: float = 20.0) -> list[dict]:
        return self.emulators.pull(subscription, expected, timeout)


@pytest.fixture(scope="session")
def emulators(emulator_set, tmp_path_factory):
    """The emulator set, with project and bucket `zygarde-it` (topics and bucket created); os.environ
    points at them for the rest of the session."""
    cloud = emulator_set.tenant(tmp_path_factory.mktemp("emulators"), "zygarde-it", "zygarde-it")
    env = cloud.env()
    saved = {key: os.environ.get(key) for key in env}
    try:
        cloud.up()  # no processes: the topics and the bucket
        os.environ.update(env)
        emu = Emulators(cloud, env, cloud.project, cloud.bucket)
        yield emu
        if emu._subscriber is not None:
            emu._subscriber.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def firestore_env(emulators) -> dict[str, str]:
    """The emulators' env (FIRESTORE_EMULATOR_HOST and the rest), already in os.environ."""
    return emulators.env


def new_namespace(emulators: Emulators, mp: pytest.MonkeyPatch) -> Namespace:
    """A fresh project id with all topics, and a fresh bucket; env vars (set with `mp`) point at them."""
    ns_id = uuid.uuid4().hex[:8]
    project, bucket = f"test-{ns_id}", f"test-{ns_id}"
    bootstrap.create_topics(emulators.pubsub_host, project)
    bootstrap.create_bucket(emulators.storage_url, project, bucket)
    values = {"GOOGLE_CLOUD_PROJECT": project, "CLOUDSDK_CORE_PROJECT": project,
              env_name("project"): project, env_name("bucket"): bucket}
    for key, value in values.items():
        mp.setenv(key, value)
    return Namespace(emulators, project, bucket, {**emulators.env, **values})


@pytest.fixture
def namespace(emulators, monkeypatch) -> Namespace:
    """A fresh project id with all topics, and a fresh bucket; env vars point at them for this test."""
    return new_namespace(emulators, monkeypatch)


@pytest.fixture(scope="module")
def module_namespace(emulators):
    """The same for every test of a module (for a service started once per module)."""
    with pytest.MonkeyPatch.context() as mp:
        yield new_namespace(emulators, mp)


@pytest.fixture
def repo(emulators):
    """A Firestore repository on the emulator, in a project of its own."""
    from google.cloud import firestore

    from zygarde.adapters.firestore import FirestoreJobRepository

    return FirestoreJobRepository(firestore.Client(project=f"test-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def deps(repo):
    """The real handlers' dependencies: Firestore on the emulator, the rest in memory, the unit
    tests' dataset in its owner's folder."""
    from tests.unit.conftest import CSV, DATA_URI, SETTINGS, Clock, verifier
    from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryPublisher
    from zygarde.service_layer.deps import Deps

    d = Deps(repo=repo, launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(), publisher=MemoryPublisher(),
             settings=SETTINGS, clock=Clock(), verifier=verifier())
    d.blobs.write_bytes(DATA_URI, CSV)
    return d


@pytest.fixture(scope="session")
def token_issuer():
    """The local cloud's token server (zygarde/local/token_server.py) on a loopback port, serving the test
    issuer's certificate: (certs URL, the env a function needs to verify that issuer's tokens)."""
    import threading

    from tests.unit.identities import issuer
    from zygarde.local import token_server

    server = token_server.serve("127.0.0.1", 0, issuer())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    certs = f"http://127.0.0.1:{server.server_port}{token_server.CERTS_PATH}"
    yield {env_name("token_certs_url"): certs, env_name("token_issuers"): issuer().issuer}
    server.shutdown()
    thread.join(timeout=10)
