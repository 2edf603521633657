"""The HTTP edge of online prediction: path, method and body checked, errors as JSON with a status."""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from zygarde.config import Settings
from zygarde.domain.identity import ON_BEHALF_OF_HEADER, identity_of_key
from zygarde.domain.raw_doc import safe_text
from zygarde.service_layer.authentication import Refused, bearer_caller
from zygarde.service_layer.online import ModelCache, PredictError, predict
from zygarde.service_layer.ports import IdentityVerifier, JobRepository

log = logging.getLogger(__name__)

PATH = re.compile(r"^/v1/models/(?P<name>[^/]+)/versions/(?P<ref>[^/:]+):predict$")
MAX_BODY_BYTES = 4 * 1024 * 1024


def serve(method: str, path: str, data: bytes, headers: Mapping[str, str], own_url: str, repo: JobRepository,
          cache: ModelCache, settings: Settings, verifier: IdentityVerifier | None) -> tuple[int, dict[str, Any]]:
    """One request to the predict service: its caller proven by `Authorization: Bearer TOKEN` (a token for
    one of the accepted audiences or for this service's own URL, `own_url`; a trusted delegate names the
    user it acts for in ON_BEHALF_OF_HEADER), then `handle` for that user, an administrator when their
    e-mail is one of `settings.admins`. A missing or bad token is a 401."""
    host = urlsplit(own_url).netloc  # behind Cloud Run's front end the app may see http://: the token says https
    audiences = (own_url, own_url.rstrip("/"), f"https://{host}", f"https://{host}/")
    try:
        caller = bearer_caller(headers.get("Authorization"), headers.get(ON_BEHALF_OF_HEADER), verifier,
                               settings.trusted_delegates, audiences=audiences)
    except Refused as exc:
        log.info("prediction refused path=%s status=401", safe_text(path, 200))
        return 401, PredictError(401, "authorization", str(exc)).body()
    except Exception:  # noqa: BLE001 - the keys could not be fetched, say: never a stack trace to the client
        log.exception("caller could not be authenticated path=%s", safe_text(path, 200))
        return 503, {"error": {"code": 503, "message": "the caller could not be authenticated; try again"}}
    admin = identity_of_key(caller.key) in settings.admins
    return handle(method, path, data, repo, cache, caller=caller.key, admin=admin)


def handle(method: str, path: str, data: bytes, repo: JobRepository, cache: ModelCache, *, caller: str | None,
           admin: bool = False) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for one request. Never raises: unexpected errors are a logged 500.
    `caller`: the verified owner key of who asks; a model they may not read answers as one that does not
    exist (404, field "model"). None only for a trusted internal call, which reads every model.
    `admin`: the caller is an administrator (reads every model)."""
    try:
        match = PATH.match(path or "")
        if match is None:
            raise PredictError(404, "path", "expected POST /v1/models/{name}/versions/{version|alias}:predict")
        if method != "POST":
            raise PredictError(405, "method", f"{method} is not allowed; use POST")
        if not data or not data.strip():
            raise PredictError(400, "body", 'empty body; send {"instances": [{column: value}, ...]}')
        if len(data) > MAX_BODY_BYTES:
            raise PredictError(400, "body", f"{len(data)} bytes; at most {MAX_BODY_BYTES} per request")
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PredictError(400, "body", f"not valid JSON ({exc})") from exc
        return 200, predict(repo, cache, match["name"], match["ref"], body, caller=caller, admin=admin)
    except PredictError as exc:
        log.info("prediction refused path=%s status=%d field=%s", safe_text(path, 200), exc.status, exc.field)
        return exc.status, exc.body()
    except Exception:  # noqa: BLE001 - the edge: a stack trace goes to the log, never to the client
        log.exception("prediction failed path=%s", safe_text(path, 200))
        return 500, {"error": {"code": 500, "message": "internal error; see the service's logs"}}
