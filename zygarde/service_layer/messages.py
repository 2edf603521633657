"""A decoded Pub/Sub message, as the handlers take it."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    """A decoded Pub/Sub message. `publish_time` (RFC 3339, set by Pub/Sub) and `source` (the CloudEvent's
    source, //pubsub.googleapis.com/projects/P/topics/T: the topic its push subscription delivers, from the
    push endpoint's path) are what the delivery says, not what the publisher wrote; empty when unknown."""

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    publish_time: str = ""
    source: str = ""

    @property
    def is_object_notification(self) -> bool:
        return "objectId" in self.attributes and "bucketId" in self.attributes
