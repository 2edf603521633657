"""A decoded Pub/Sub message, as the handlers take it."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    """A decoded Pub/Sub message. `publish_time` (RFC 3339) and `subscription` (its full name) are what
    Pub/Sub says of the delivery, not what the publisher wrote; empty when unknown."""

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    publish_time: str = ""
    subscription: str = ""

    @property
    def is_object_notification(self) -> bool:
        return "objectId" in self.attributes and "bucketId" in self.attributes
