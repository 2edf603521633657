"""The one place that builds real clients and wires them into handler dependencies."""
from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache

from zygarde.config import Settings
from zygarde.service_layer.deps import Deps

log = logging.getLogger("zygarde.bootstrap")


def build_deps(settings: Settings | None = None) -> Deps:
    """Real adapters for the environment (emulators when their *_EMULATOR_HOST vars are set)."""
    from google.cloud import firestore, pubsub_v1, storage

    from zygarde.adapters.dataproc import DataprocBatchLauncher
    from zygarde.adapters.firestore import FirestoreJobRepository
    from zygarde.adapters.gcs import GcsBlobStore
    from zygarde.adapters.pubsub import PubSubPublisher

    settings = settings or Settings.from_env()
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        gcs = storage.Client(project=settings.project, credentials=AnonymousCredentials())
    else:
        gcs = storage.Client(project=settings.project)
    return Deps(
        repo=FirestoreJobRepository(firestore.Client(project=settings.project)),
        launcher=DataprocBatchLauncher(
            project=settings.project, region=settings.region, endpoint=settings.dataproc_endpoint,
            runtime_version=settings.dataproc_runtime_version, service_account=settings.spark_service_account,
            subnet=settings.dataproc_subnet, ttl=settings.batch_ttl,
            container_image=settings.batch_container_image),
        blobs=GcsBlobStore(gcs),
        publisher=PubSubPublisher(pubsub_v1.PublisherClient(), settings.project),
        settings=settings,
        verifier=verifier(settings),
    )


def verifier(settings: Settings):
    """The identity-token verifier for these settings (issuers, audiences, where the public keys are)."""
    from zygarde.adapters.auth import GoogleTokenVerifier

    return GoogleTokenVerifier(settings.audiences, settings.token_issuers, settings.token_certs_url)


@lru_cache(maxsize=1)
def deps() -> Deps:
    """Built on first use (never at import), then reused across invocations of a function instance."""
    return build_deps()


_SERVING = threading.Lock()  # the warm-up thread and the first request build the clients once


def serving():
    """(repository, model cache, settings, verifier) for the predict function: Firestore and the bucket
    only, and the identity-token verifier for its callers. Built once per instance."""
    with _SERVING:
        return _serving()


def start_predict_warmup() -> threading.Thread:
    """In the background, as the predict function starts: build its clients (their imports are most of a
    cold start), import the ONNX runtime, and load the models named in ZYGARDE_PREDICT_WARM
    ("name@alias,name@3"), so that the first request finds them ready. A model that cannot load is
    logged and left to the first request, which says why."""
    def run() -> None:
        try:
            from zygarde.service_layer.online import warm

            repo, cache, settings, _ = serving()
            import onnxruntime  # noqa: F401 - the runtime every model load needs
            warm(repo, cache, list(settings.predict_warm))
        except Exception as exc:  # noqa: BLE001 - a warm-up never stops the function from serving
            log.warning("predict warm-up failed error=%s", exc)

    thread = threading.Thread(target=run, name="predict-warmup", daemon=True)
    thread.start()
    return thread


@lru_cache(maxsize=1)
def _serving():
    from google.cloud import firestore, storage

    from zygarde.adapters.firestore import FirestoreJobRepository
    from zygarde.adapters.gcs import GcsBlobStore
    from zygarde.service_layer.online import ModelCache

    settings = Settings.from_env()
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        gcs = storage.Client(project=settings.project, credentials=AnonymousCredentials())
    else:
        gcs = storage.Client(project=settings.project)
    return (FirestoreJobRepository(firestore.Client(project=settings.project)), ModelCache(GcsBlobStore(gcs)),
            settings, verifier(settings))

