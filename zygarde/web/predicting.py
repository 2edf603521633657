"""The model page's "Try a prediction" form talks to the predict service over HTTP, as
`zygarde predict` and every other client do.

Why HTTP and not the service layer's `online.predict` in-process: scoring reads and changes nothing,
so both would keep the web app's rule (it reads through queries and changes state only by
publishing), but over HTTP the form shows exactly what the service answers — the same alias
resolution, the same 400s naming the field — and the web app loads no ONNX models and holds no
model cache of its own. The URL is ZYGARDE_PREDICT_URL: on the local cloud `zygarde local up` sets it
to the functions-framework `predict` function for every component, the web app included; on Google
Cloud terraform sets it to the predict function's Cloud Run URL. Either way the app sends its own
identity token (from the metadata server on Cloud Run, from the local cloud's issuer here) and names the
signed-in user it acts for: the service checks that user may read the model, not that the app may.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from zygarde.service_layer.online_edge import MAX_BODY_BYTES

log = logging.getLogger("zygarde.web")


def error(status: int, message: str, field: str | None = None) -> tuple[int, dict[str, Any]]:
    """An answer shaped like the service's own errors."""
    return status, {"error": {"code": status, "message": message, **({"field": field} if field else {})}}


class PredictClient:
    """POST {url}/v1/models/{name}/versions/{ref}:predict -> (HTTP status, JSON body), as the app's own
    identity (a trusted delegate) naming the signed-in user it acts for. Never raises for what the
    network or the service does: those are error answers too."""

    def __init__(self, url: str, timeout: float = 30.0, tokens: Callable[[], str] | None = None):
        """tokens() -> the app's identity token for the service (default: one for the service's URL, from
        zygarde.adapters.auth.TokenSource: the metadata server on Cloud Run, the local cloud's issuer here)."""
        from zygarde.adapters.auth import AuthorizedClient, TokenSource

        self.url = url.rstrip("/")
        self._http = AuthorizedClient(tokens or TokenSource(self.url), timeout)

    def __call__(self, name: str, ref: str, data: bytes, on_behalf_of: str | None = None) -> tuple[int, dict[str, Any]]:
        import requests

        from zygarde.adapters.auth import TokenUnavailable

        path = f"/v1/models/{requests.utils.quote(name, safe='')}/versions/{requests.utils.quote(ref, safe='')}:predict"
        try:
            response = self._http.post(self.url + path, data, on_behalf_of, **{"Content-Type": "application/json"})
        except (requests.RequestException, TokenUnavailable) as exc:
            log.warning("predict service unreachable url=%s error=%s", self.url, type(exc).__name__)
            return error(503, "The predict service could not be reached; try again in a moment.")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or (response.status_code != 200 and "error" not in body):
            log.warning("predict service answered status=%d without a JSON error", response.status_code)
            return error(502, f"The predict service answered HTTP {response.status_code}.")
        return response.status_code, body


def request_body(text: str) -> bytes | tuple[int, dict[str, Any]]:
    """The form's JSON as the service's request body: a bare list of rows becomes {"instances": rows},
    as `zygarde predict` sends it; anything else goes as typed, for the service to judge. An error
    answer when it is larger than the service takes."""
    data = text.encode()
    if len(data) > MAX_BODY_BYTES:
        return error(400, f"{len(data)} bytes; at most {MAX_BODY_BYTES} per request", "body")
    try:
        parsed = json.loads(data)
    except ValueError:
        return data
    return json.dumps({"instances": parsed}).encode() if isinstance(parsed, list) else data


def result_table(answer: dict[str, Any]) -> dict[str, Any]:
    """The service's answer as table rows: {"version", "classes", "rows": [{"n", "prediction",
    "label", "probabilities"}]} (label and probabilities None when the model has none)."""
    rows = []
    for n, row in enumerate(answer.get("predictions") or []):
        rows.append({"n": n, "prediction": row.get("prediction"), "label": row.get("label"),
                     "probabilities": row.get("probabilities")})
    classes = list(answer.get("classes") or [])
    width = max((len(r["probabilities"] or []) for r in rows), default=0)
    if len(classes) != width:
        classes = [str(i) for i in range(width)]  # probabilities without class names: by index
    return {"version": answer.get("modelVersionId"), "classes": classes, "rows": rows,
            "labelled": any(r["label"] is not None for r in rows)}
