"""The local cloud for real: emulators answer, Pub/Sub pushes reach function processes as CloudEvents,
fake-gcs-server notifies results/ objects, gcloud works with env(), down() leaves nothing behind.

The cloud here runs a fake-gcs-server of its own (its bucket notifications go to its project) and the
recording functions on the session's Pub/Sub and Firestore emulators (tests/conftest.py, which checks
at the end of the session that stopping those leaves nothing behind)."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from zygarde.config import collection, env_name, prefix, resources, topic
from tests.emulator_set import drop_subscriptions
from zygarde.local.cloud import LocalCloud, LocalPorts, function_component
from zygarde.local.processes import (LocalCloudError, ManagedProcess, ProcessSpec, pid_alive, port_is_free,
                                     pubsub_emulator_jar)
from zygarde.packaging import spark_entry_points

pytestmark = pytest.mark.integration

RECORDER = Path(__file__).parent / "fixtures" / "record_functions.py"


def function_for(topic_key: str) -> tuple[str, str]:
    """(component, entry point) of the function fed by a topic."""
    key, fn = next((k, f) for k, f in resources()["functions"].items() if f["topic"] == topic_key)
    return function_component(key), fn["entry_point"]


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="module")
def cloud(emulator_set, tmp_path_factory, record_dir):
    """fake-gcs-server + one recording function process per entry point (no Dataproc), on the
    session's Pub/Sub and Firestore emulators."""
    components = ("storage", *(function_component(k) for k in resources()["functions"]))
    c = emulator_set.tenant(tmp_path_factory.mktemp("cloud"), "zygarde-lc", "zygarde-lc",
                            functions_source=RECORDER, components=components)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZYGARDE_TEST_RECORD_DIR", str(record_dir))
        try:
            c.up()
            yield c
        finally:
            c.down()
            drop_subscriptions(emulator_set.pubsub_host, c.project)  # no pushes to stopped functions


@pytest.fixture
def cloud_env(cloud, monkeypatch) -> dict[str, str]:
    for key, value in cloud.env().items():
        monkeypatch.setenv(key, value)
    return cloud.env()


def records(record_dir: Path, entry_point: str, expected: int = 1, timeout: float = 30.0) -> list[dict]:
    path = record_dir / f"{entry_point}.jsonl"
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= expected or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.2)


def group_members(leader: int) -> set[int]:
    """Every live PID in the process group led by `leader` (e.g. gunicorn and its worker)."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:
            members.add(int(stat.parent.name))
    return members


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def test_components_answer_and_up_is_idempotent(cloud, emulator_set):
    status = cloud.status()
    assert set(status) == set(cloud.components)
    assert all(row["ready"] and row["pid"] for row in status.values()), status
    assert get(cloud.url("pubsub")).strip() == "Ok"
    assert get(cloud.url("firestore")).strip() == "Ok"
    assert json.loads(get(f"{cloud.url('storage')}/storage/v1/b/{cloud.bucket}"))["name"] == cloud.bucket
    again = cloud.up()
    assert {k: v["pid"] for k, v in again.items()} == {k: v["pid"] for k, v in status.items()}
    assert LocalCloud.load(cloud.state_dir).env() == cloud.env()
    emulators = emulator_set.cloud  # the emulators' JVMs: up() again restarts nothing either
    before = {k: v["pid"] for k, v in emulators.status().items()}
    assert all(before.values()) and {k: v["pid"] for k, v in emulators.up().items()} == before


def test_subscriptions_push_to_functions_with_dead_letters(cloud):
    base = f"{cloud.url('pubsub')}/v1/projects/{cloud.project}"
    for key, fn in resources()["functions"].items():
        sub = json.loads(get(f"{base}/subscriptions/{resources()['subscriptions'][fn['subscription']]}"))
        t = topic(fn["topic"])
        assert sub["topic"] == f"projects/{cloud.project}/topics/{t}"
        assert sub["pushConfig"]["pushEndpoint"] == f"{cloud.url(function_component(key))}/projects/{cloud.project}/topics/{t}"
        dead = t + resources()["dead_letter_suffix"]
        assert sub["deadLetterPolicy"]["deadLetterTopic"] == f"projects/{cloud.project}/topics/{dead}"
        assert json.loads(get(f"{base}/topics/{dead}"))["name"].endswith(dead)


def test_publish_reaches_the_function_as_a_cloudevent(cloud, cloud_env, record_dir):
    from google.cloud import pubsub_v1

    _, entry_point = function_for("jobs")
    publisher = pubsub_v1.PublisherClient()
    msg_id = publisher.publish(publisher.topic_path(cloud.project, topic("jobs")), b'{"hello": 1}',
                               origin="test").result(timeout=30)
    event = next(r for r in records(record_dir, entry_point) if r["attributes"]["id"] == msg_id)
    assert event["attributes"]["source"] == f"//pubsub.googleapis.com/projects/{cloud.project}/topics/{topic('jobs')}"
    assert event["attributes"]["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    message = event["data"]["message"]
    assert base64.b64decode(message["data"]) == b'{"hello": 1}'
    assert message["attributes"] == {"origin": "test"} and message["messageId"] == msg_id
    # what identity checks rely on: Pub/Sub's publish time (a token is checked at it) and the subscription
    from zygarde.service_layer.authentication import publish_moment
    from zygarde.service_layer.edge import decode_pubsub

    decoded = decode_pubsub(event["data"], event["attributes"]["source"])
    assert publish_moment(decoded.publish_time) is not None, decoded.publish_time
    assert decoded.source.endswith("/topics/" + topic("jobs"))


def test_results_object_notifies_the_trial_result_function(cloud, cloud_env, record_dir):
    from google.cloud import storage

    _, entry_point = function_for("bucket_events")
    bucket = storage.Client(project=cloud.project).bucket(cloud.bucket)
    bucket.blob(f"{prefix('datasets')}ignored.csv").upload_from_string(b"a\n")  # outside results/: filtered out
    blob = bucket.blob(f"{prefix('results')}job-1/t0001.json")
    blob.upload_from_string(b'{"metric": 0.9}', content_type="application/json")
    [event] = records(record_dir, entry_point)
    message = event["data"]["message"]
    attrs = message["attributes"]
    assert attrs["eventType"] == "OBJECT_FINALIZE" and attrs["payloadFormat"] == "JSON_API_V1"
    assert (attrs["bucketId"], attrs["objectId"]) == (cloud.bucket, blob.name)
    assert attrs["objectGeneration"] == str(blob.generation)
    obj = json.loads(base64.b64decode(message["data"]))
    assert (obj["bucket"], obj["name"], obj["generation"]) == (cloud.bucket, blob.name, str(blob.generation))
    assert event["attributes"]["source"].endswith(f"/topics/{topic('bucket_events')}")
    # no fixed wait for what must not come: a later results/ object is notified too, and by the time
    # it is, the dataset object (uploaded first) has not been, nor the first object twice
    marker = bucket.blob(f"{prefix('results')}job-1/t0002.json")
    marker.upload_from_string(b'{"metric": 0.8}', content_type="application/json")
    names = [r["data"]["message"]["attributes"]["objectId"] for r in records(record_dir, entry_point, expected=2)]
    assert names == [blob.name, marker.name]


def test_job_file_notifies_submit_job_through_its_filtered_subscription(cloud, cloud_env, record_dir):
    from google.cloud import storage

    _, entry_point = function_for("jobs")
    name = f"{prefix('job_files')}dropped.json"
    storage.Client(project=cloud.project).bucket(cloud.bucket).blob(name).upload_from_string(b"{}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = [r for r in records(record_dir, entry_point, timeout=0)
                  if r["data"]["message"].get("attributes", {}).get("objectId") == name]
        if events:
            break
        time.sleep(0.2)
    [event] = events
    assert event["attributes"]["source"].endswith(f"/topics/{topic('bucket_events')}")


def test_code_bundle_is_uploaded_under_its_version(cloud, cloud_env):
    from google.cloud import storage

    version = cloud_env[env_name("code_version")]
    names = {b.name for b in storage.Client(project=cloud.project).list_blobs(
        cloud.bucket, prefix=f"{prefix('code')}{version}/")}
    expected = {"zygarde.zip", *(p.name for p in spark_entry_points())}
    assert names == {f"{prefix('code')}{version}/{n}" for n in expected}


def test_gcloud_publish_works_with_env(cloud, record_dir):
    _, entry_point = function_for("reconcile")
    out = subprocess.run(["gcloud", "pubsub", "topics", "publish", topic("reconcile"), "--message=tick",
                          "--attribute=via=gcloud"], env={**os.environ, **cloud.env()},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    [event] = records(record_dir, entry_point)
    assert base64.b64decode(event["data"]["message"]["data"]) == b"tick"
    assert event["data"]["message"]["attributes"] == {"via": "gcloud"}


def test_down_leaves_no_process_behind(cloud):
    leaders = [row["pid"] for row in cloud.status().values()]
    pids = set().union(*(group_members(pid) for pid in leaders))
    assert set(leaders) <= pids
    assert sorted(cloud.down(), key=str) == sorted(cloud.components, key=str)
    assert not [pid for pid in pids if pid_alive(pid)]
    assert not any(row["running"] for row in cloud.status().values())
    assert all(port_is_free(cloud.ports.port_of(c)) for c in cloud.components)
    assert cloud.down() == []


def test_emulators_fixture_serves_real_clients(emulators, namespace):
    from google.cloud import firestore, pubsub_v1, storage

    assert os.environ["PUBSUB_EMULATOR_HOST"] == emulators.pubsub_host
    assert storage.Client().bucket(namespace.bucket).exists()
    assert storage.Client().bucket(emulators.bucket).exists()
    doc = firestore.Client(project=namespace.project).collection(collection("jobs")).document("j1")
    doc.set({"state": "RUNNING"})
    assert doc.get().to_dict() == {"state": "RUNNING"}
    sub = namespace.subscribe("jobs")
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(publisher.topic_path(namespace.project, topic("jobs")), b"x", k="v").result(timeout=30)
    [msg] = namespace.pull(sub)
    assert (msg["data"], msg["attributes"]) == (b"x", {"k": "v"})
    emulators.clear_firestore(namespace.project)
    assert not doc.get().exists


def test_startup_failures_are_clear(tmp_path):
    with pytest.raises(LocalCloudError, match="gcloud components install pubsub-emulator"):
        pubsub_emulator_jar(tmp_path)
    spec = ProcessSpec("broken", ("sh", "-c", "echo boom-at-startup; exit 3"), port=LocalPorts.free().pubsub)
    proc = ManagedProcess(spec, tmp_path)
    proc.start()
    with pytest.raises(LocalCloudError, match="(?s)broken exited during startup.*boom-at-startup"):
        proc.wait_ready(timeout=10)
    assert not proc.is_running()


def test_the_local_scheduler_publishes_the_reconciler_tick(emulators, namespace, tmp_path):
    """What Cloud Scheduler does on GCP (terraform/scheduler.tf): the tick, with the same payload."""
    import dataclasses

    subscription = namespace.subscribe("reconcile")
    ports = dataclasses.replace(emulators.cloud.ports, scheduler=LocalPorts.free().scheduler)
    local = LocalCloud(tmp_path, ports, project=namespace.project, tick_seconds=1, components=("scheduler",))
    proc = ManagedProcess(local.spec("scheduler"), local.state_dir)
    proc.start()
    try:
        proc.wait_ready()
        ticks = namespace.pull(subscription, expected=2, timeout=30)
        assert len(ticks) >= 2
        assert all(json.loads(t["data"]) == {"reason": "tick", "source": "local-scheduler"} for t in ticks)
        assert ticks[0]["attributes"] == {"source": "local-scheduler"}
        assert int(get(f"{local.url('scheduler')}/ticks")) >= 2
    finally:
        pid = proc.pid
        proc.stop()
    assert not pid_alive(pid)
