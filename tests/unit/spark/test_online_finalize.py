"""The finalisation batch exports the winner to ONNX beside its PipelineModel, with parity measured
on the test part in the manifest and the result; the package then serves without Spark."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from zygarde.adapters.memory import MemoryBlobStore, MemoryJobRepository
from zygarde.service_layer import online

from .test_finalize_predict import package, prepared, spark, trained  # noqa: F401 - the module fixtures


def test_package_holds_an_onnx_export_proved_on_the_test_part(package):  # noqa: F811
    result, request = package
    root = Path(request.package_uri)
    manifest = json.loads((root / "manifest.json").read_text())
    spec = manifest["online"]
    assert spec["status"] == "available" and spec["onnx_uri"] == str(root / "model.onnx")
    assert (root / "model.onnx").stat().st_size == spec["onnx_bytes"]
    assert spec["parity"]["rows"] == manifest["test_rows"] and spec["parity"]["labels_disagree"] == 0
    assert spec["parity"]["max_abs_probability_diff"] <= 1e-4
    assert {i["name"] for i in spec["inputs"]} <= {c["name"] for c in manifest["input_schema"]}
    assert result.online == {k: spec[k] for k in ("status", "onnx_uri", "parity")}


def test_the_registered_package_serves_the_test_rows_as_spark_scored_them(package, prepared):  # noqa: F811
    result, request = package
    root = Path(request.package_uri)
    blobs, repo = MemoryBlobStore(), MemoryJobRepository()
    for name in ("manifest.json", "model.onnx"):
        blobs.write_bytes(str(root / name), (root / name).read_bytes())
    repo.register_model_version("cancer", "job-fin", {"manifest_uri": str(root / "manifest.json"),
                                                      "online": result.online}, "ana")
    test = pd.read_parquet(prepared[0].parts["test"]).head(20)
    rows = json.loads(test.drop(columns=["diagnosis"]).to_json(orient="records"))
    answer = online.predict(repo, online.ModelCache(blobs), "cancer", "1", {"instances": rows}, caller="ana")
    labels = [p["label"] for p in answer["predictions"]]
    assert set(labels) <= {"benign", "malignant"} and len(labels) == 20
    assert sum(a == b for a, b in zip(labels, test["diagnosis"])) >= 17  # a good model, scored the same way
