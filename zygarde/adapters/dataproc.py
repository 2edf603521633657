"""BatchLauncher on Dataproc Serverless (google-cloud-dataproc BatchControllerClient).

endpoint None      -> the regional endpoint {region}-dataproc.googleapis.com:443, gRPC, default credentials.
endpoint http://.. -> REST with AnonymousCredentials (the local endpoint, zygarde.local.dataproc_server).
endpoint https://..-> REST with default credentials; any other value -> gRPC to that host:port.
"""
from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

from zygarde.domain.batch_state import ENDING
from zygarde.domain.errors import (BatchAlreadyExists, BatchNotFound, ConfigError, PermanentError,
                                   TransientError)
from zygarde.service_layer.ports import BatchInfo, BatchLauncher, BatchRequest

log = logging.getLogger(__name__)

_TIMEOUT_SECONDS = 60.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """'14400s', '30m', '4h', '1d' -> timedelta. Raises ConfigError."""
    m = _DURATION.match((text or "").strip())
    if not m:
        raise ConfigError(f"invalid batch TTL {text!r}: use a number of seconds like '14400s'")
    return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])


def _label_filter(labels: dict[str, str]) -> str:
    return " AND ".join(f'labels.{k} = "{v}"' for k, v in sorted(labels.items()))


@contextmanager
def _mapped_errors(what: str, batch_id: str | None = None) -> Iterator[None]:
    """Translate google.api_core / transport exceptions into Zygarde's error tree."""
    from google.api_core import exceptions as gexc

    ctx = f"{what} batch_id={batch_id}" if batch_id else what
    try:
        yield
    except (gexc.AlreadyExists, gexc.Conflict) as exc:
        raise BatchAlreadyExists(f"batch {batch_id} already exists") from exc
    except gexc.NotFound as exc:
        raise BatchNotFound(f"batch {batch_id} not found" if batch_id else f"{what}: not found") from exc
    except (gexc.ServiceUnavailable, gexc.TooManyRequests, gexc.InternalServerError, gexc.DeadlineExceeded,
            gexc.GatewayTimeout, gexc.BadGateway, gexc.RetryError, gexc.Aborted) as exc:
        log.warning("dataproc transient error %s error=%s", ctx, exc)
        raise TransientError(f"Dataproc is unavailable ({what}): {_short(exc)}") from exc
    except (gexc.PermissionDenied, gexc.Unauthenticated) as exc:
        raise ConfigError(f"Dataproc refused access ({what}): {_short(exc)}") from exc
    except gexc.GoogleAPICallError as exc:  # InvalidArgument, FailedPrecondition, other 4xx
        code = getattr(exc, "code", None)
        if isinstance(code, int) and code >= 500:
            raise TransientError(f"Dataproc error ({what}): {_short(exc)}") from exc
        raise PermanentError(f"Dataproc rejected the request ({what}): {_short(exc)}") from exc
    except Exception as exc:
        if _is_connection_error(exc):
            log.warning("dataproc unreachable %s error=%s", ctx, exc)
            raise TransientError(f"Dataproc endpoint unreachable ({what})") from exc
        raise


def _is_connection_error(exc: Exception) -> bool:
    import requests
    from google.auth import exceptions as auth_exc

    if isinstance(exc, auth_exc.DefaultCredentialsError):
        raise ConfigError("no Google Cloud credentials available for Dataproc") from exc
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, auth_exc.TransportError,
                            ConnectionError, TimeoutError))


def _short(exc: Exception) -> str:
    return (getattr(exc, "message", None) or str(exc)).splitlines()[0][:500]


class DataprocBatchLauncher(BatchLauncher):
    """Creates, inspects, lists and cancels PySpark batches."""

    def __init__(self, project: str, region: str, endpoint: str | None = None, runtime_version: str = "3.0",
                 service_account: str | None = None, subnet: str | None = None, ttl: str = "14400s",
                 container_image: str | None = None):
        self.project, self.region, self.endpoint = project, region, endpoint
        self.runtime_version, self.service_account, self.subnet = runtime_version, service_account, subnet
        self.container_image = container_image  # the batches' Python packages (container/Dockerfile)
        self.ttl = parse_duration(ttl)
        self._client = None

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def batch_name(self, batch_id: str) -> str:
        return f"{self.parent}/batches/{batch_id}"

    @property
    def client(self):
        """The BatchControllerClient, built on first use."""
        if self._client is None:
            from google.api_core.client_options import ClientOptions
            from google.cloud import dataproc_v1

            endpoint = self.endpoint or f"{self.region}-dataproc.googleapis.com:443"
            options = ClientOptions(api_endpoint=endpoint)
            if endpoint.startswith("http://"):
                from google.auth.credentials import AnonymousCredentials

                self._client = dataproc_v1.BatchControllerClient(
                    transport="rest", credentials=AnonymousCredentials(), client_options=options)
            elif endpoint.startswith("https://"):
                self._client = dataproc_v1.BatchControllerClient(transport="rest", client_options=options)
            else:
                self._client = dataproc_v1.BatchControllerClient(client_options=options)
        return self._client

    def _batch(self, request: BatchRequest):
        from google.cloud import dataproc_v1

        execution = dataproc_v1.ExecutionConfig(ttl=self.ttl)
        if self.service_account:
            execution.service_account = self.service_account
        if self.subnet:
            execution.subnetwork_uri = self.subnet
        return dataproc_v1.Batch(
            pyspark_batch=dataproc_v1.PySparkBatch(main_python_file_uri=request.main_python_file_uri,
                                                   args=list(request.args),
                                                   python_file_uris=list(request.python_file_uris)),
            labels=dict(request.labels),
            runtime_config=dataproc_v1.RuntimeConfig(version=self.runtime_version,
                                                     container_image=self.container_image or "",
                                                     properties=dict(request.properties)),
            environment_config=dataproc_v1.EnvironmentConfig(execution_config=execution))

    def create(self, request: BatchRequest) -> None:
        """Submit; does not wait (the batch's operation completes only when the batch ends)."""
        batch = self._batch(request)
        with _mapped_errors("create", request.batch_id):
            # No retry: a retried create that had in fact succeeded would come back as
            # AlreadyExists, which callers treat as "launched already" anyway.
            self.client.create_batch(request={"parent": self.parent, "batch": batch,
                                              "batch_id": request.batch_id},
                                     retry=None, timeout=_TIMEOUT_SECONDS)
        log.info("dataproc batch created batch_id=%s", request.batch_id)

    def get(self, batch_id: str) -> BatchInfo:
        with _mapped_errors("get", batch_id):
            batch = self.client.get_batch(name=self.batch_name(batch_id), timeout=_TIMEOUT_SECONDS)
        return _info(batch)

    def list(self, labels: dict[str, str] | None = None) -> list[BatchInfo]:
        wanted = dict(labels or {})
        request = {"parent": self.parent, "page_size": 200}
        if wanted:
            request["filter"] = _label_filter(wanted)
        with _mapped_errors("list"):
            batches = [_info(b) for b in self.client.list_batches(request=request, timeout=_TIMEOUT_SECONDS)]
        return [b for b in batches if all(b.labels.get(k) == v for k, v in wanted.items())]

    def cancel(self, batch_id: str) -> None:
        """Cancel through the batch's operation; a no-op for a finished or unknown batch."""
        try:
            with _mapped_errors("cancel", batch_id):
                batch = self.client.get_batch(name=self.batch_name(batch_id), timeout=_TIMEOUT_SECONDS)
        except BatchNotFound:
            return
        info = _info(batch)
        if info.state in ENDING or not batch.operation:
            return
        try:
            with _mapped_errors("cancel", batch_id):
                self.client.cancel_operation(request={"name": batch.operation}, timeout=_TIMEOUT_SECONDS)
        except (BatchNotFound, PermanentError):
            # Refused (400/404/FAILED_PRECONDITION): fine if the batch finished or vanished meanwhile.
            try:
                if self.get(batch_id).state in ENDING:
                    return
            except BatchNotFound:
                return
            raise
        log.info("dataproc batch cancel requested batch_id=%s", batch_id)


def _info(batch) -> BatchInfo:
    from google.cloud import dataproc_v1

    state = dataproc_v1.Batch.State(batch.state).name
    return BatchInfo(batch_id=batch.name.rsplit("/", 1)[-1], state=state, state_message=batch.state_message,
                     labels=dict(batch.labels), create_time=batch.create_time or None)
