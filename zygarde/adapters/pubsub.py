"""EventPublisher on Pub/Sub (the emulator locally, through PUBSUB_EMULATOR_HOST)."""
from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from zygarde.config import topic
from zygarde.domain.errors import TransientError
from zygarde.service_layer.ports import EventPublisher


class PubSubPublisher(EventPublisher):
    def __init__(self, client: pubsub_v1.PublisherClient, project: str):
        self._client = client
        self._project = project

    def publish(self, topic_key: str, data: bytes, **attributes: str) -> str:
        path = self._client.topic_path(self._project, topic(topic_key))
        try:
            return self._client.publish(path, data, **attributes).result(timeout=60)
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, TimeoutError) as exc:
            raise TransientError(f"publish to {path}: {exc}") from exc
