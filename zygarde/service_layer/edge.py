"""Turning a Pub/Sub CloudEvent into a handler call, and errors into ack or retry."""
from __future__ import annotations

import base64
import functools
import logging
from typing import Any, Callable

from zygarde.domain.errors import PermanentError, TransientError
from zygarde.service_layer.messages import Message

log = logging.getLogger("zygarde")


def decode_pubsub(data: dict[str, Any] | None, source: str = "") -> Message:
    """The message inside a Pub/Sub CloudEvent's data ({"message": {...}, "subscription": ...}), with the
    publish time Pub/Sub gives it and the CloudEvent's `source` (the topic it came from)."""
    message = (data or {}).get("message") or {}
    payload = message.get("data") or ""
    try:
        raw = base64.b64decode(payload, validate=False) if payload else b""
    except (ValueError, TypeError):
        raw = b""
    return Message(raw, dict(message.get("attributes") or {}),
                   str(message.get("messageId") or message.get("message_id") or ""),
                   str(message.get("publishTime") or message.get("publish_time") or ""), source or "")


def passes_subscription_filter(function_key: str, data: dict[str, Any] | None) -> bool:
    """Whether a bucket notification pushed to a function meets the object-name filter of one of the
    function's subscriptions (resources.json). Pub/Sub applies the filters itself; the emulator stores
    them but delivers everything, so the functions check again and acknowledge what a filter would
    have dropped. Messages that name no object (a published job, a tick) always pass."""
    from zygarde.config import subscription_routes

    attributes = ((data or {}).get("message") or {}).get("attributes") or {}
    if "objectId" not in attributes:
        return True
    prefixes = [r["object_prefix"] for r in subscription_routes() if r["function"] == function_key and r["object_prefix"]]
    return not prefixes or str(attributes["objectId"]).startswith(tuple(prefixes))


def acknowledge_permanent_errors(handler: Callable[[Message], Any]) -> Callable[[Message], Any]:
    """Permanent errors are logged and swallowed (the message is acknowledged: redelivery would fail
    the same way); transient and unknown errors propagate so Pub/Sub redelivers."""

    @functools.wraps(handler)
    def wrapper(msg: Message) -> Any:
        try:
            return handler(msg)
        except PermanentError as exc:
            log.error("permanent error, message acknowledged handler=%s message_id=%s error=%r",
                      handler.__name__, msg.message_id, str(exc))
            return None
        except TransientError as exc:
            log.warning("transient error, message will be redelivered handler=%s message_id=%s error=%r",
                        handler.__name__, msg.message_id, str(exc))
            raise

    return wrapper
