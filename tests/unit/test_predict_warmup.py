"""The predict function's cold start: its module imports no control plane, and the models named in
ZYGARDE_PREDICT_WARM are loaded at start, once, even when the first request asks for one meanwhile."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

from tests.unit.online_fixtures import register
from zygarde.adapters.memory import MemoryBlobStore, MemoryJobRepository
from zygarde.service_layer.online import ModelCache, _runtime_model, warm
from zygarde.service_layer.online_edge import handle

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
ROW = json.dumps({"instances": [{"age": 40, "color": "red"}]}).encode()


def registry():
    repo, blobs = MemoryJobRepository(), MemoryBlobStore()
    register(repo, blobs, "churn", "job-1", owner="ana")
    register(repo, blobs, "churn", "job-2", sign=-1.0, owner="ana")
    repo.set_alias("churn", "prod", 1, "ana", "2026-12-07T10:00:00+00:00")
    register(repo, blobs, "offline", "job-3", online=False, owner="ana")
    return repo, blobs


def test_the_named_versions_are_loaded_once_and_the_first_request_finds_them():
    repo, blobs = registry()
    cache = ModelCache(blobs)
    loaded = warm(repo, cache, ["churn@prod", "churn", "nosuch@prod", "churn@staging", "offline@1"])
    assert loaded == ["churn v1", "churn v2"] and cache.loads == 2  # the rest logged and skipped
    status, body = handle("POST", "/v1/models/churn/versions/prod:predict", ROW, repo, cache, caller="ana")
    assert status == 200 and body["modelVersionId"] == "1" and cache.loads == 2  # nothing loaded again
    assert warm(repo, cache, ["churn@prod"]) == ["churn v1"] and cache.loads == 2  # warmed twice: one load


def test_a_request_that_comes_while_the_warm_up_loads_its_version_waits_for_that_load():
    repo, blobs = registry()
    entered, release = threading.Event(), threading.Event()

    def slow(onnx, spec, labels):  # the warm-up's load holds on until the request has arrived
        entered.set()
        assert release.wait(10)
        return _runtime_model(onnx, spec, labels)

    cache = ModelCache(blobs, factory=slow)
    warming = threading.Thread(target=warm, args=(repo, cache, ["churn@prod"]))
    warming.start()
    assert entered.wait(10)
    answers = []
    asking = threading.Thread(target=lambda: answers.append(
        handle("POST", "/v1/models/churn/versions/prod:predict", ROW, repo, cache, caller="ana")))
    asking.start()
    asking.join(0.2)
    assert asking.is_alive()  # waiting for the load under way, not loading a second copy
    release.set()
    warming.join(10)
    asking.join(10)
    assert answers[0][0] == 200 and cache.loads == 1


def test_the_functions_module_imports_no_control_plane():
    """Every function imports functions/main.py; the predict function never needs the bus and the domain
    rules behind edge.py (most of its import time), so they load on a Pub/Sub function's first event."""
    code = ("import sys; sys.path.insert(0, 'functions'); import main; "
            "print(sorted(m for m in sys.modules if m.startswith('zygarde.service_layer.') or m == 'zygarde.domain.search'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert "zygarde.service_layer.edge" not in out.stdout and "zygarde.domain.search" not in out.stdout, out.stdout
