"""BlobStore on Cloud Storage (fake-gcs-server locally, through STORAGE_EMULATOR_HOST)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from google.api_core import exceptions as gexc
from google.cloud import storage

from zygarde.domain.errors import AccessDenied, NotFound, PermanentError, PreconditionFailed, TransientError
from zygarde.service_layer.ports import BlobStore

_TRANSIENT = (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.TooManyRequests, gexc.GatewayTimeout)


@contextlib.contextmanager
def _translated(what: str, uri: str) -> Iterator[None]:
    """Cloud Storage errors as Zygarde's: missing, forbidden and bad requests are permanent (so a
    message naming a bucket Zygarde may not read is recorded, not redelivered forever)."""
    try:
        yield
    except gexc.NotFound:
        raise NotFound(f"{uri} does not exist") from None
    except (gexc.Forbidden, gexc.Unauthorized) as exc:
        raise AccessDenied(f"access to {uri} is denied ({what}): {exc.message}") from None
    except _TRANSIENT as exc:
        raise TransientError(f"gcs {what} {uri}: {exc}") from exc
    except gexc.BadRequest as exc:
        raise PermanentError(f"gcs {what} {uri}: {exc.message}") from None


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"not a gs://bucket/object URI: {uri}")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


def _bucket_name(bucket: str, uri: str) -> str:
    """`bucket`, or a PermanentError for a name the client refuses with a ValueError (it must start and end
    with a letter or digit), so that such a URI is a clear refusal and never a crash."""
    if not bucket or not (bucket[0].isalnum() and bucket[-1].isalnum()):
        raise PermanentError(f"{uri}: {bucket!r} is not a Cloud Storage bucket name (it must start and end with "
                             "a letter or digit)")
    return bucket


class GcsBlobStore(BlobStore):
    def __init__(self, client: storage.Client):
        self._client = client

    def _blob(self, uri: str) -> storage.Blob:
        bucket, name = split_uri(uri)
        return self._client.bucket(_bucket_name(bucket, uri)).blob(name)

    def read_bytes(self, uri: str, max_bytes: int | None = None) -> bytes:
        return self._download(uri) if max_bytes is None else self._download(uri, start=0, end=max_bytes - 1)

    def read_tail(self, uri: str, n: int) -> bytes:
        return self._download(uri, start=-n) if n > 0 else b""  # a suffix range: Range: bytes=-n

    def _download(self, uri: str, **byte_range: int) -> bytes:
        try:
            with _translated("read", uri):
                return self._blob(uri).download_as_bytes(**byte_range)
        except gexc.RequestRangeNotSatisfiable:  # a range of an empty object
            return b""

    def write_bytes(self, uri: str, data: bytes, content_type: str = "application/octet-stream",
                    if_generation_match: int | None = None) -> int:
        blob = self._blob(uri)
        try:
            with _translated("write", uri):
                blob.upload_from_string(data, content_type=content_type, if_generation_match=if_generation_match)
        except gexc.PreconditionFailed:
            raise PreconditionFailed(f"{uri}: generation precondition {if_generation_match} failed") from None
        return blob.generation or 0

    def exists(self, uri: str) -> bool:
        with _translated("exists", uri):
            return self._blob(uri).exists()

    def list(self, uri_prefix: str) -> list[str]:
        bucket, name = split_uri(uri_prefix) if uri_prefix.count("/") > 2 else (uri_prefix[5:].rstrip("/"), "")
        with _translated("list", uri_prefix):
            return [f"gs://{bucket}/{b.name}" for b in self._client.list_blobs(_bucket_name(bucket, uri_prefix),
                                                                                prefix=name)]

    def sizes(self, uri_prefix: str) -> dict[str, int | None]:
        bucket, name = split_uri(uri_prefix) if uri_prefix.count("/") > 2 else (uri_prefix[5:].rstrip("/"), "")
        with _translated("list", uri_prefix):
            return {f"gs://{bucket}/{b.name}": b.size
                    for b in self._client.list_blobs(_bucket_name(bucket, uri_prefix), prefix=name)}

    def upload_url(self, uri: str, content_type: str, expires_seconds: int = 900) -> str | None:
        """A V4 signed PUT URL. On Cloud Run (no key file) it is signed through the IAM signBlob API
        as the service account itself, with the account's access token."""
        import datetime

        import google.auth
        from google.auth.transport.requests import Request

        credentials, _ = google.auth.default()
        extra = {}
        if not hasattr(credentials, "sign_bytes"):
            credentials.refresh(Request())
            extra = {"service_account_email": credentials.service_account_email,
                     "access_token": credentials.token}
        with _translated("sign", uri):
            return self._blob(uri).generate_signed_url(
                version="v4", method="PUT", content_type=content_type,
                expiration=datetime.timedelta(seconds=expires_seconds), **extra)
