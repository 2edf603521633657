"""The model page's serving queries: aliases the viewer may see, online status, input columns from the
manifest (read once) and a realistic example row per column type."""
from __future__ import annotations

import json

from zygarde.adapters.memory import MemoryBlobStore, MemoryJobRepository
from zygarde.service_layer import model_card, online

MANIFEST = {"input_schema": [{"name": "age", "type": "int"}, {"name": "income", "type": "double"},
                             {"name": "plan", "type": "string"}, {"name": "member", "type": "boolean"},
                             {"name": "label", "type": "string"}],
            "online": {"status": "available", "inputs": [
                {"name": "age", "input": "zy__n0", "kind": "numeric"},
                {"name": "income", "input": "zy__n1", "kind": "numeric"},
                {"name": "member", "input": "zy__n2", "kind": "numeric"},
                {"name": "plan", "input": "zy__s0", "kind": "categorical"},
                {"name": "zip", "input": "zy__s1", "kind": "categorical"}]}}


def test_example_row_uses_the_training_datas_mean_and_most_frequent_value_by_type():
    columns = model_card.input_columns(MANIFEST)
    assert [(c["name"], c["type"]) for c in columns] == [("age", "int"), ("income", "double"), ("member", "boolean"),
                                                         ("plan", "string"), ("zip", "string")]
    stats = {"age": {"mean": 41.6}, "income": {"mean": 52344.123456}, "member": {"top": [["false", 30], ["true", 2]]},
             "plan": {"top": [["basic", 20], ["pro", 5]]},
             "zip": {"top": [], "values_withheld": "nearly every value is distinct"}}
    assert model_card.example_instance(columns, stats) == {"age": 42, "income": 52344.1, "member": False,
                                                           "plan": "basic", "zip": "example"}
    assert model_card.example_instance(columns, {"age": {"min": 10, "max": 20, "mean": None}}) == \
        {"age": 15, "income": 1.5, "member": True, "plan": "example", "zip": "example"}


def test_manifest_columns_are_read_once_and_unreadable_manifests_are_not_kept():
    blobs = MemoryBlobStore()
    cache = model_card.ManifestColumns(blobs)
    assert cache.get("gs://b/models/m/j/manifest.json") == [] and cache.get(None) == []
    blobs.write_bytes("gs://b/models/m/j/manifest.json", json.dumps(MANIFEST).encode())
    assert [c["name"] for c in cache.get("gs://b/models/m/j/manifest.json")] == ["age", "income", "member", "plan",
                                                                                  "zip"]
    blobs.write_bytes("gs://b/models/m/j/manifest.json", b"{}")  # packages never change: not read again
    assert len(cache.get("gs://b/models/m/j/manifest.json")) == 5


def test_aliases_shown_are_those_pointing_at_visible_versions():
    repo = MemoryJobRepository()
    for job in ("j1", "j2"):
        repo.register_model_version("m", job, {}, "ana")
    repo.set_model_grant("m", "bob", "writer", "ana")  # a writer may move its aliases too
    online.move_alias(repo, "m", "production", 1, "ana", "2026-01-01T00:00:00Z")
    online.move_alias(repo, "m", "production", 2, "bob", "2026-01-02T00:00:00Z")
    online.move_alias(repo, "m", "canary", 1, "ana", "2026-01-03T00:00:00Z")
    assert model_card.alias_rows(repo, "m", {1, 2}) == [
        {"alias": "canary", "version": 1, "moved_by": "ana", "moved_at": "2026-01-03T00:00:00Z", "moves": 1},
        {"alias": "production", "version": 2, "moved_by": "bob", "moved_at": "2026-01-02T00:00:00Z", "moves": 2}]
    assert [a["alias"] for a in model_card.alias_rows(repo, "m", {1})] == ["canary"]


def test_online_status_says_why_a_version_cannot_serve():
    assert model_card.online_status({"status": "available", "onnx_uri": "gs://x"}) == {"available": True, "reason": ""}
    assert model_card.online_status({"status": "unavailable", "reason": "parity failed"}) == \
        {"available": False, "reason": "parity failed"}
    assert model_card.online_status({}) == {"available": False, "reason": model_card.NO_EXPORT}
