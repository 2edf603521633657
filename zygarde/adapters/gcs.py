"""BlobStore on Cloud Storage (fake-gcs-server locally, through STORAGE_EMULATOR_HOST)."""
from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import storage

from zygarde.domain.errors import NotFound, PreconditionFailed, TransientError
from zygarde.service_layer.ports import BlobStore

_TRANSIENT = (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.TooManyRequests, gexc.GatewayTimeout)


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"not a gs://bucket/object URI: {uri}")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


class GcsBlobStore(BlobStore):
    def __init__(self, client: storage.Client):
        self._client = client

    def _blob(self, uri: str) -> storage.Blob:
        bucket, name = split_uri(uri)
        return self._client.bucket(bucket).blob(name)

    def read_bytes(self, uri: str, max_bytes: int | None = None) -> bytes:
        return self._download(uri) if max_bytes is None else self._download(uri, start=0, end=max_bytes - 1)

    def read_tail(self, uri: str, n: int) -> bytes:
        return self._download(uri, start=-n) if n > 0 else b""  # a suffix range: Range: bytes=-n

    def _download(self, uri: str, **byte_range: int) -> bytes:
        try:
            return self._blob(uri).download_as_bytes(**byte_range)
        except gexc.NotFound:
            raise NotFound(f"{uri} does not exist") from None
        except gexc.RequestRangeNotSatisfiable:
            return b""
        except _TRANSIENT as exc:
            raise TransientError(f"gcs read {uri}: {exc}") from exc

    def write_bytes(self, uri: str, data: bytes, content_type: str = "application/octet-stream",
                    if_generation_match: int | None = None) -> int:
        blob = self._blob(uri)
        try:
            blob.upload_from_string(data, content_type=content_type, if_generation_match=if_generation_match)
        except gexc.PreconditionFailed:
            raise PreconditionFailed(f"{uri}: generation precondition {if_generation_match} failed") from None
        except _TRANSIENT as exc:
            raise TransientError(f"gcs write {uri}: {exc}") from exc
        return blob.generation or 0

    def exists(self, uri: str) -> bool:
        try:
            return self._blob(uri).exists()
        except _TRANSIENT as exc:
            raise TransientError(f"gcs exists {uri}: {exc}") from exc

    def list(self, uri_prefix: str) -> list[str]:
        bucket, name = split_uri(uri_prefix) if uri_prefix.count("/") > 2 else (uri_prefix[5:].rstrip("/"), "")
        return [f"gs://{bucket}/{b.name}" for b in self._client.list_blobs(bucket, prefix=name)]
