"""Online prediction and model aliases: resolving NAME + version|alias to a registered version,
loading its ONNX export once per instance, and scoring request rows with it."""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from zygarde.domain.raw_doc import safe_text
from zygarde.domain.registry import LATEST, check_alias, is_model_name, parse_ref
from zygarde.service_layer import model_access
from zygarde.service_layer.ports import BlobStore, JobRepository

log = logging.getLogger(__name__)


class PredictError(Exception):
    """A request that cannot be served: HTTP `status`, the `field` at fault and a readable message."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message = status, field, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.status, "field": self.field, "message": self.message}}


def _no_model(name: str) -> PredictError:
    """The answer for a model that does not exist and for one the caller may not read: the same 404."""
    return PredictError(404, "model", f"there is no model {safe_text(name, 100)!r} that you may use")


def readable(repo: JobRepository, name: str, caller: str | None, admin: bool = False) -> dict:
    """Model `name`'s document when `caller` may read it (caller None: a trusted internal call, which
    reads every model); else the 404 of a model that does not exist."""
    doc = model_access.model_document(repo, name)
    if doc is None or (caller is not None and not model_access.may_read(doc, caller, admin)):
        raise _no_model(name)
    return doc


def resolve(repo: JobRepository, name: str, ref: str) -> dict:
    """The registered version record `ref` (a number, an alias or "latest") of model `name` names; a 404
    for a string that names no model (never a store lookup), a 400 naming the field ("alias" or
    "version") if the model has no such version: the request is wrong, the path is not."""
    if not is_model_name(name):
        raise _no_model(name)
    kind, value = parse_ref(ref)
    if kind == "alias" and value == LATEST:
        versions = repo.model_versions(name)
        if not versions:
            raise _no_model(name)
        return versions[-1]
    if kind == "alias":
        alias = repo.model_aliases(name).get(str(value)) if check_alias(str(value)) is None else None
        if alias is None:
            if not repo.model_versions(name):
                raise _no_model(name)
            raise PredictError(400, "alias", f"model {name!r} has no alias {safe_text(value, 100)!r}")
        value = int(alias["version"])
    record = repo.model_version(name, int(value))
    if record is None:
        if not repo.model_versions(name):
            raise _no_model(name)
        raise PredictError(400, "version", f"model {name!r} has no version {safe_text(str(value), 40)}")
    return record


def move_alias(repo: JobRepository, name: str, alias: str, version: int, moved_by: str, now: str) -> dict:
    """Points `alias` at `version` of model `name` (who and when recorded): only its owner and its writers
    may. ValueError if it cannot."""
    doc = model_access.model_document(repo, name)
    if not model_access.may_read(doc, moved_by):
        raise ValueError(f"there is no model {safe_text(name, 100)!r} that {moved_by} may use")
    if not model_access.may_write(doc, moved_by):
        raise ValueError(f"only the owner of model {name} and its writers may move its aliases; {moved_by} "
                         "may only read it")
    why = check_alias(alias)
    if why:
        raise ValueError(why)
    try:
        return repo.set_alias(name, alias, version, moved_by, now)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from exc


def aliases(repo: JobRepository, name: str) -> dict[str, dict]:
    """alias -> {"version", "moved_by", "moved_at", "history"}: the query for the model page and the CLI
    (none for a string that names no model). Who may read the model is the caller's to check."""
    return repo.model_aliases(name) if is_model_name(name) else {}


@dataclass
class _Loaded:
    model: Any  # zygarde.serving.runtime.OnlineModel
    labels: list[str] | None
    explanations: dict | None = None  # the manifest's explanations section (online_explain)
    explainer: Any = None  # built on the first request that asks for attributions


class ModelCache:
    """Loaded models of this instance, by (name, version): read from the bucket on first use only.
    `factory(onnx_bytes, online, labels)` builds the model (onnxruntime is imported lazily)."""

    def __init__(self, blobs: BlobStore, factory: Callable | None = None, size: int = 8):
        self.blobs, self.size, self._lock = blobs, size, threading.Lock()
        self._models: dict[tuple[str, int], _Loaded] = {}
        self._loading: dict[tuple[str, int], threading.Lock] = {}  # one load per version at a time
        self.factory = factory or _runtime_model
        self.loads = 0

    def get(self, name: str, record: dict) -> _Loaded:
        key = (name, int(record["version"]))
        with self._lock:
            loaded = self._models.get(key)
        if loaded is not None:
            return loaded
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # a request that comes while the warm-up loads this version waits for that load
            with self._lock:
                loaded = self._models.get(key)
            return loaded if loaded is not None else self._load(name, key, record)

    def _load(self, name: str, key: tuple[str, int], record: dict) -> _Loaded:
        online = record.get("online") or {}
        if online.get("status") != "available":
            raise PredictError(409, "version", f"{name} v{key[1]} cannot serve online: "
                                               f"{online.get('reason') or 'it was registered without an ONNX export'}")
        manifest = json.loads(self.blobs.read_bytes(record["manifest_uri"]))
        spec = manifest["online"]
        loaded = _Loaded(self.factory(self.blobs.read_bytes(spec["onnx_uri"]), spec, manifest.get("labels")),
                         manifest.get("labels"), manifest.get("explanations"))
        with self._lock:
            self.loads += 1
            if len(self._models) >= self.size:
                self._models.pop(next(iter(self._models)))
            self._models[key] = loaded
        return loaded


def warm(repo: JobRepository, cache: ModelCache, refs: list[str]) -> list[str]:
    """Load the versions `refs` ("name@alias", "name@3", "name" for the latest) name into `cache`; the
    ones loaded. One that cannot load (no such model, not online) is logged and skipped."""
    loaded = []
    for ref in refs:
        name, _, version = ref.partition("@")
        try:
            record = resolve(repo, name, version or LATEST)
            cache.get(name, record)
        except (PredictError, KeyError, ValueError) as exc:
            log.warning("model not warmed ref=%s error=%s", safe_text(ref, 200), getattr(exc, "message", exc))
            continue
        loaded.append(f"{name} v{record['version']}")
        log.info("model warmed ref=%s version=%s", safe_text(ref, 200), record["version"])
    return loaded


def _runtime_model(onnx_bytes: bytes, online: dict, labels: list[str] | None):
    from zygarde.serving.runtime import OnlineModel

    return OnlineModel(onnx_bytes, online, labels)


def predict(repo: JobRepository, cache: ModelCache, name: str, ref: str, body: Any, *, caller: str | None,
            admin: bool = False) -> dict[str, Any]:
    """Vertex-AI-shaped response for `body` ({"instances": [...]}); PredictError for bad requests.
    `caller`: the owner key of who asks, who must be allowed to read the model (model_access), else the
    404 of a model that does not exist; None only for a trusted internal call (reads every model);
    `admin`: the caller is an administrator (reads every model).
    Logs one line per request: model, version, rows, latency (never the inputs)."""
    from zygarde.serving.instances import InstanceError

    started = time.perf_counter()
    readable(repo, name, caller, admin)
    if not isinstance(body, dict) or "instances" not in body:
        raise PredictError(400, "instances", 'the body must be a JSON object {"instances": [{column: value}, ...]}')
    record = resolve(repo, name, ref)
    loaded = cache.get(name, record)
    explainer = _explainer(cache, loaded, body, f"{name} v{record['version']}") if "explain" in body else None
    try:
        rows = loaded.model.predict(body["instances"]) if explainer is None else \
            loaded.model.predict_explained(body["instances"], explainer)
    except InstanceError as exc:
        raise PredictError(400, exc.field, exc.message) from exc
    version = int(record["version"])
    log.info("prediction served model=%s version=%d ref=%s rows=%d latency_ms=%.2f", name, version, ref, len(rows),
             (time.perf_counter() - started) * 1000)
    out: dict[str, Any] = {"predictions": rows, "model": name, "modelVersionId": str(version)}
    if loaded.labels:
        out["classes"] = loaded.labels
    if explainer is not None:
        out["explanation"] = explainer.describe()
    return out


def _explainer(cache: ModelCache, loaded: _Loaded, body: dict, label: str):
    """The version's explainer when the body asks for attributions ("explain": true), else None; a 400
    naming `explain` when the flag is not a boolean or the version has none."""
    from zygarde.service_layer import online_explain

    try:
        if not online_explain.wants_explanations(body):
            return None
        return online_explain.explainer(cache.blobs, loaded, label)
    except ValueError as exc:
        raise PredictError(400, "explain", str(exc)) from exc
