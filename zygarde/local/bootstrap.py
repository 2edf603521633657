"""Create the local cloud's resources from resources.json only: topics and dead-letter topics,
push subscriptions feeding the function processes, the bucket, and the code bundle under
gs://BUCKET/code/{version}/. Every step is idempotent. Talks plain REST to the emulators."""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from zygarde.config import prefix, resources, subscription_routes, topic
from zygarde.local.processes import LocalCloudError

log = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 5  # then the message goes to TOPIC + dead_letter_suffix
ACK_DEADLINE_SECONDS = 60  # how long a push waits for the function's answer
RETRY_POLICY = {"minimumBackoff": "1s", "maximumBackoff": "10s"}


def _call(method: str, url: str, body: dict | bytes | None = None, content_type: str = "application/json",
          ok_conflict: bool = False) -> dict | None:
    """One HTTP call; returns the JSON answer, None on 409 when ok_conflict, raises LocalCloudError otherwise."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as err:
        if ok_conflict and err.code == 409:
            return None
        if err.code == 404 and method == "GET":
            return None
        detail = err.read(500).decode(errors="replace")
        raise LocalCloudError(f"{method} {url} failed: HTTP {err.code} {detail}") from None
    except OSError as err:
        raise LocalCloudError(f"{method} {url} failed: {err}") from None
    return json.loads(raw) if raw.strip() else {}


def dead_letter_topic(topic_name: str) -> str:
    return topic_name + resources()["dead_letter_suffix"]


def push_endpoint(function_url: str, project: str, topic_name: str) -> str:
    """The topic path in the URL gives functions-framework's CloudEvent a proper `source`."""
    return f"{function_url.rstrip('/')}/projects/{project}/topics/{topic_name}"


def create_topics(pubsub_host: str, project: str) -> list[str]:
    """Every topic of resources.json plus its dead-letter topic (with a pull subscription of the same
    name, so dead letters are kept for inspection). Returns the topic names."""
    base = f"http://{pubsub_host}/v1/projects/{project}"
    names = []
    for name in resources()["topics"].values():
        for t in (name, dead_letter_topic(name)):
            _call("PUT", f"{base}/topics/{t}", {}, ok_conflict=True)
            names.append(t)
        dlq = dead_letter_topic(name)
        _call("PUT", f"{base}/subscriptions/{dlq}", {"topic": f"projects/{project}/topics/{dlq}"}, ok_conflict=True)
    log.info("topics ready project=%s topics=%s", project, ",".join(names))
    return names


def create_push_subscriptions(pubsub_host: str, project: str, function_urls: Mapping[str, str]) -> dict[str, str]:
    """The push subscriptions of resources.json feeding the functions (key -> base URL of its process):
    each function's own, and the bucket routes, with their object-name filters. An existing
    subscription gets its push endpoint updated. Returns {subscription: endpoint}."""
    base = f"http://{pubsub_host}/v1/projects/{project}"
    created = {}
    for route in subscription_routes():
        if route["function"] not in function_urls:
            continue
        topic_name, sub = topic(route["topic"]), route["name"]
        endpoint = push_endpoint(function_urls[route["function"]], project, topic_name)
        body = {
            "topic": f"projects/{project}/topics/{topic_name}",
            "ackDeadlineSeconds": ACK_DEADLINE_SECONDS,
            "pushConfig": {"pushEndpoint": endpoint},
            "deadLetterPolicy": {"deadLetterTopic": f"projects/{project}/topics/{dead_letter_topic(topic_name)}",
                                 "maxDeliveryAttempts": MAX_DELIVERY_ATTEMPTS},
            "retryPolicy": RETRY_POLICY,
        }
        if route["filter"]:
            body["filter"] = route["filter"]
        if _call("PUT", f"{base}/subscriptions/{sub}", body, ok_conflict=True) is None:
            current = _call("GET", f"{base}/subscriptions/{sub}") or {}
            if current.get("pushConfig", {}).get("pushEndpoint") != endpoint:
                _call("POST", f"{base}/subscriptions/{sub}:modifyPushConfig", {"pushConfig": {"pushEndpoint": endpoint}})
        created[sub] = endpoint
    log.info("push subscriptions ready project=%s subscriptions=%s", project, ",".join(created))
    return created


def create_bucket(storage_url: str, project: str, bucket: str) -> None:
    url = f"{storage_url.rstrip('/')}/storage/v1/b?project={urllib.parse.quote(project)}"
    _call("POST", url, {"name": bucket}, ok_conflict=True)
    log.info("bucket ready bucket=%s", bucket)


def upload_code(storage_url: str, bucket: str, bundle: Mapping[str, Path], code_version: str) -> list[str]:
    """Upload each bundle file to gs://BUCKET/code/VERSION/NAME (skipped when the same bytes are there)."""
    base = storage_url.rstrip("/")
    uris = []
    for name, path in sorted(bundle.items()):
        obj = f"{prefix('code')}{code_version}/{name}"
        data = Path(path).read_bytes()
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        quoted = urllib.parse.quote(obj, safe="")
        meta = _call("GET", f"{base}/storage/v1/b/{bucket}/o/{quoted}")
        if not meta or meta.get("md5Hash") != md5:
            _call("POST", f"{base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={quoted}", data,
                  content_type="application/octet-stream")
        uris.append(f"gs://{bucket}/{obj}")
    log.info("code uploaded bucket=%s code_version=%s files=%d", bucket, code_version, len(uris))
    return uris


def bootstrap(*, project: str, bucket: str, pubsub_host: str, storage_url: str,
              function_urls: Mapping[str, str] | None = None, bundle: Mapping[str, Path] | None = None,
              code_version: str | None = None) -> dict:
    """Everything above, in order. Returns a summary of what exists now."""
    summary: dict = {"topics": create_topics(pubsub_host, project)}
    create_bucket(storage_url, project, bucket)
    summary["bucket"] = bucket
    if function_urls:
        summary["subscriptions"] = create_push_subscriptions(pubsub_host, project, function_urls)
    if bundle:
        if not code_version:
            raise LocalCloudError("a code bundle needs a code_version to be uploaded under")
        summary["code"] = upload_code(storage_url, bucket, bundle, code_version)
    return summary
