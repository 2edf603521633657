"""Brings a batch's files (gs://, file:// or local paths) into its work directory."""
from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

_download_lock = threading.Lock()


@lru_cache(maxsize=1)
def _storage_client():
    """google-cloud-storage client; anonymous against STORAGE_EMULATOR_HOST, default credentials otherwise."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project"),
                              credentials=AnonymousCredentials())
    return storage.Client()


def stage(uri: str, work_dir: Path) -> str:
    """Local path of `uri`: gs:// objects are downloaded into work_dir, local files are used in place.
    Raises FileNotFoundError or ValueError with a readable message."""
    if uri.startswith("gs://"):
        bucket, _, name = uri[len("gs://"):].partition("/")
        if not bucket or not name:
            raise ValueError(f"not a gs:// object URI: {uri}")
        dest = _free_name(work_dir, Path(name).name)
        from google.api_core import exceptions as gexc

        try:
            with _download_lock:  # the storage client is shared across batch threads
                _storage_client().bucket(bucket).blob(name).download_to_filename(str(dest))
        except gexc.NotFound:
            dest.unlink(missing_ok=True)
            raise FileNotFoundError(f"{uri} does not exist") from None
        return str(dest)
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if "://" in uri:
        raise ValueError(f"unsupported URI scheme: {uri}")
    path = Path(uri).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{uri} does not exist")
    return str(path)


def _free_name(directory: Path, name: str) -> Path:
    """directory/name, or directory/N-name when that is taken (two URIs with the same basename)."""
    candidate, n = directory / name, 1
    while candidate.exists():
        candidate, n = directory / f"{n}-{name}", n + 1
    return candidate
