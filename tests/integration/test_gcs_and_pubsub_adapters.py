"""GcsBlobStore on fake-gcs-server and PubSubPublisher on the Pub/Sub emulator."""
from __future__ import annotations

import pytest
from google.auth.credentials import AnonymousCredentials

from zygarde.domain.errors import NotFound, PreconditionFailed

pytestmark = pytest.mark.integration


@pytest.fixture
def blobs(namespace):
    from google.cloud import storage

    from zygarde.adapters.gcs import GcsBlobStore

    return GcsBlobStore(storage.Client(project=namespace.project, credentials=AnonymousCredentials()))


def test_blob_store_round_trip_ranges_preconditions_and_listing(blobs, namespace):
    uri = f"gs://{namespace.bucket}/datasets/a.csv"
    assert not blobs.exists(uri)
    with pytest.raises(NotFound, match="does not exist"):
        blobs.read_bytes(uri)
    gen = blobs.write_bytes(uri, b"x,y\n1,2\n", "text/csv", if_generation_match=0)
    assert gen > 0 and blobs.exists(uri)
    assert blobs.read_bytes(uri) == b"x,y\n1,2\n"
    assert blobs.read_bytes(uri, max_bytes=3) == b"x,y"
    with pytest.raises(PreconditionFailed):
        blobs.write_bytes(uri, b"other", if_generation_match=0)  # only-if-absent refused
    assert blobs.read_bytes(uri) == b"x,y\n1,2\n"
    blobs.write_bytes(f"gs://{namespace.bucket}/datasets/b.csv", b"1")
    assert blobs.list(f"gs://{namespace.bucket}/datasets/") == [uri, f"gs://{namespace.bucket}/datasets/b.csv"]


def test_blob_store_reads_the_tail_of_an_object(blobs, namespace):
    uri = f"gs://{namespace.bucket}/datasets/t.parquet"
    with pytest.raises(NotFound):
        blobs.read_tail(uri, 8)
    blobs.write_bytes(uri, bytes(range(200)))
    assert blobs.read_tail(uri, 8) == bytes(range(192, 200))
    assert blobs.read_tail(uri, 1000) == bytes(range(200))  # longer than the object: all of it
    blobs.write_bytes(uri, b"")
    assert blobs.read_tail(uri, 8) == b""


def test_publisher_publishes_to_the_named_topic(namespace):
    from google.cloud import pubsub_v1

    from zygarde.adapters.pubsub import PubSubPublisher

    sub = namespace.subscribe("jobs")
    publisher = PubSubPublisher(pubsub_v1.PublisherClient(), namespace.project)
    message_id = publisher.publish("jobs", b'{"job": 1}', origin="test")
    got = namespace.pull(sub, expected=1)
    assert got == [{"data": b'{"job": 1}', "attributes": {"origin": "test"}, "message_id": message_id}]
