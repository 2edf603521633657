"""The Pub/Sub edge: a pushed CloudEvent decoded into the one typed message it carries, put on the bus;
errors translated into acknowledge (permanent: redelivery would fail the same way) or retry (transient).

- jobs topic: a job spec (SubmitJob), a cancel (CancelJob, attribute action=cancel) or a grant
  (GrantAccess, action=grant), each signed; a bucket notification routed here from jobs/ is a job file
  (JobFileWritten);
- bucket notifications from results/: a trial's result (ResultWritten) or a batch's idle report (BatchIdle);
- reconcile topic: the scheduler's tick (Reconcile), or a job that has ended (JobEnded).
"""
from __future__ import annotations

import base64
import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from zygarde.config import Settings, topic
from zygarde.domain.contracts import parse_idle_object_name, parse_result_object_name
from zygarde.domain.errors import MessageError, PermanentError, TransientError
from zygarde.domain.messages import (BatchIdle, CancelAnswered, CancelJob, GrantAccess, GrantAnswered, JobEnded,
                                     JobFileWritten, JobRecorded, Message, Reconcile, ResultWritten, SubmitJob)
from zygarde.service_layer import grants, messagebus
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.reconcile import report

log = logging.getLogger("zygarde")


@dataclass(frozen=True)
class PubSubMessage:
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


def decode_pubsub(data: dict[str, Any] | None, source: str = "") -> PubSubMessage:
    """The message inside a Pub/Sub CloudEvent's data ({"message": {...}, "subscription": ...}), with the
    publish time Pub/Sub gives it and the CloudEvent's `source` (the topic it came from)."""
    message = (data or {}).get("message") or {}
    payload = message.get("data") or ""
    try:
        raw = base64.b64decode(payload, validate=False) if payload else b""
    except (ValueError, TypeError):
        raw = b""
    return PubSubMessage(raw, dict(message.get("attributes") or {}),
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


def acknowledge_permanent_errors(entry: Callable[[PubSubMessage, Deps], Any]) -> Callable[[PubSubMessage, Deps], Any]:
    """Permanent errors are logged and swallowed (the message is acknowledged: redelivery would fail
    the same way); transient and unknown errors propagate so Pub/Sub redelivers."""

    @functools.wraps(entry)
    def wrapper(msg: PubSubMessage, deps: Deps) -> Any:
        try:
            return entry(msg, deps)
        except PermanentError as exc:
            log.error("permanent error, message acknowledged handler=%s message_id=%s error=%r",
                      entry.__name__, msg.message_id, str(exc))
            return None
        except TransientError as exc:
            log.warning("transient error, message will be redelivered handler=%s message_id=%s error=%r",
                        entry.__name__, msg.message_id, str(exc))
            raise

    return wrapper


# --- decoding --------------------------------------------------------------------------------------
def jobs_message(msg: PubSubMessage) -> Message | None:
    """A message of the jobs topic (a job, a cancel, a grant), or a job file's notification: told apart by
    the topic it came from (its CloudEvent's source), never by what its publisher wrote."""
    action = msg.attributes.get("action")
    signed = (msg.data, dict(msg.attributes), msg.message_id, msg.publish_time)
    if action == "cancel":
        return CancelJob(*signed)
    if action == grants.ACTION:
        return GrantAccess(*signed)
    if msg.is_object_notification and not msg.source.endswith("/topics/" + topic("jobs")):
        if msg.attributes.get("eventType", "OBJECT_FINALIZE") != "OBJECT_FINALIZE":
            return None
        return JobFileWritten(msg.attributes["bucketId"], msg.attributes["objectId"],
                              msg.attributes.get("objectGeneration", ""), dict(msg.attributes), msg.message_id)
    return SubmitJob(*signed)


def results_message(msg: PubSubMessage, settings: Settings) -> Message | None:
    """A bucket notification under results/: a result, an idle report, or nothing of ours. Only
    OBJECT_FINALIZE in Zygarde's own bucket counts; one without objectId or bucketId can never succeed."""
    attrs = msg.attributes
    if attrs.get("eventType", "OBJECT_FINALIZE") != "OBJECT_FINALIZE":
        return None
    bucket, name = attrs.get("bucketId"), attrs.get("objectId")
    if not bucket or not name:
        raise MessageError(f"a result notification needs bucketId and objectId: message_id={msg.message_id} "
                           f"bucketId={bucket!r} objectId={name!r}")
    if bucket != settings.bucket:
        log.warning("result notification from another bucket ignored message_id=%s bucketId=%s objectId=%s",
                    msg.message_id, bucket, name)
        return None
    if (ids := parse_result_object_name(name)) is not None:
        return ResultWritten(*ids, f"gs://{bucket}/{name}")
    if (idle := parse_idle_object_name(name)) is not None:
        return BatchIdle(*idle)
    return None  # not ours (a folder marker, say)


def reconcile_message(msg: PubSubMessage) -> Message:
    """The reconcile topic: a job that has ended, else the scheduler's tick."""
    try:
        data = json.loads(msg.data or b"{}")
    except ValueError:
        data = {}
    job_id = data.get("job_id") if isinstance(data, dict) else None
    if isinstance(job_id, str) and job_id and data.get("event", data.get("reason")) in ("job-ended", "job-finished"):
        return JobEnded(job_id)
    return Reconcile(str(msg.attributes.get("source") or "tick"))


# --- the entry points' work ----------------------------------------------------------------------
def submit_job(msg: PubSubMessage, deps: Deps) -> str | None:
    """The jobs topic: returns the job id recorded (or cancelled), or the model a grant changed; None when
    nothing was."""
    message = jobs_message(msg)
    if message is None:
        return None
    trace = messagebus.handle(message, deps)
    answer = next((m for m in trace if isinstance(m, (JobRecorded, CancelAnswered, GrantAnswered))), None)
    return None if answer is None else answer.model if isinstance(answer, GrantAnswered) else answer.job_id


def on_trial_result(msg: PubSubMessage, deps: Deps) -> None:
    """Bucket notifications under results/."""
    message = results_message(msg, deps.settings)
    if message is not None:
        messagebus.handle(message, deps)


def on_reconcile_tick(msg: PubSubMessage, deps: Deps) -> dict[str, int]:
    """The reconcile topic. Returns what the tick did (reconcile.report)."""
    return report(messagebus.handle(reconcile_message(msg), deps))


def reconcile(deps: Deps) -> dict[str, int]:
    """One tick of the reconciler, as the scheduler sends it."""
    return on_reconcile_tick(PubSubMessage(json.dumps({"reason": "tick"}).encode()), deps)
