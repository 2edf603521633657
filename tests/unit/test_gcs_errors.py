"""GcsBlobStore's error translation for what fake-gcs-server cannot produce (403, 400, 503):
a storage client stand-in raises google.api_core's real exception types."""
from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from zygarde.adapters.gcs import GcsBlobStore
from zygarde.domain.errors import AccessDenied, NotFound, PermanentError, TransientError


class RaisingBlob:
    def __init__(self, exc: Exception):
        self.exc = exc

    def download_as_bytes(self, **_):
        raise self.exc

    def exists(self):
        raise self.exc

    def upload_from_string(self, *_, **__):
        raise self.exc


class RaisingClient:
    def __init__(self, exc: Exception):
        self.exc = exc

    def bucket(self, _name):
        return self

    def blob(self, _name):
        return RaisingBlob(self.exc)

    def list_blobs(self, *_, **__):
        raise self.exc


@pytest.mark.parametrize("exc, expected, text", [
    (gexc.Forbidden("caller does not have storage.objects.get access"), AccessDenied, "access to gs://b/k is denied"),
    (gexc.Unauthorized("no credentials"), AccessDenied, "is denied"),
    (gexc.NotFound("no such object"), NotFound, "does not exist"),
    (gexc.BadRequest("invalid bucket name"), PermanentError, "invalid bucket name"),
    (gexc.ServiceUnavailable("try again"), TransientError, "try again"),
    (gexc.TooManyRequests("slow down"), TransientError, "slow down"),
])
def test_storage_errors_become_permanent_or_transient(exc, expected, text):
    store = GcsBlobStore(RaisingClient(exc))
    for call in (lambda: store.read_bytes("gs://b/k"), lambda: store.read_tail("gs://b/k", 8),
                 lambda: store.exists("gs://b/k"), lambda: store.list("gs://b/k"),
                 lambda: store.write_bytes("gs://b/k", b"x")):
        with pytest.raises(expected, match=text):
            call()


def test_an_unreadable_range_of_an_empty_object_is_empty():
    store = GcsBlobStore(RaisingClient(gexc.RequestRangeNotSatisfiable("empty")))
    assert store.read_bytes("gs://b/k", max_bytes=10) == b"" and store.read_tail("gs://b/k", 8) == b""


@pytest.mark.parametrize("uri", ["gs://bkt./datasets/ana/d.csv", "gs://.bkt/d.csv", "gs://bkt-/d.csv"])
def test_a_bucket_name_the_client_refuses_is_a_permanent_error_not_a_crash(uri):
    """google-cloud-storage raises ValueError for a bucket name not starting and ending with a letter or
    digit; the adapter says so as a permanent error (the real client: no request is made)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    store = GcsBlobStore(storage.Client(project="p", credentials=AnonymousCredentials()))
    for call in (lambda: store.exists(uri), lambda: store.read_bytes(uri, 10), lambda: store.list(uri)):
        with pytest.raises(PermanentError, match="is not a Cloud Storage bucket name"):
            call()
