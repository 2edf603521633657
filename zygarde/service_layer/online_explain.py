"""Online predictions with per-row attributions (`{"instances": [...], "explain": true}`): the version's
explainer (zygarde.serving.attributions) loaded from its package on the first such request, and kept
with the loaded model. A version without explanations answers a 400 naming `explain`."""
from __future__ import annotations

import json
import threading
from typing import Any

from zygarde.service_layer.ports import BlobStore

_LOCK = threading.Lock()


class NoExplanations(ValueError):
    """The version has no per-row attributions; the message says why."""


def wants_explanations(body: dict) -> bool:
    """The request's `explain` flag; ValueError when it is not a boolean."""
    value = body.get("explain", False)
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__}")
    return value


def explainer(blobs: BlobStore, loaded: Any, label: str):
    """The loaded version's explainer (built once); NoExplanations when it has none."""
    if getattr(loaded, "explainer", None) is not None:
        return loaded.explainer
    section = getattr(loaded, "explanations", None) or {}
    if section.get("status") != "available" or "features" not in loaded.model.outputs:
        reason = section.get("reason") or "it was registered before models carried explanations"
        raise NoExplanations(f"{label} has no per-row attributions: {reason}")
    from zygarde.serving.attributions import Explainer

    spec = json.loads(blobs.read_bytes(section["uri"]))
    booster = blobs.read_bytes(section["booster_uri"]) if section.get("booster_uri") else None
    built = Explainer(spec, booster)
    with _LOCK:
        loaded.explainer = built
    return built
