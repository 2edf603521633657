"""A model package as an MLflow model: its `MLmodel` file (a `python_function` flavour whose loader is
zygarde.serving.mlflow_pyfunc), the signature from the manifest's input schema, and an input example.

The loader travels in the package: `code/zygarde_pyfunc/` holds copies of zygarde.serving's loader,
runtime and instances modules (their `zygarde.serving.` imports renamed), which MLflow puts on sys.path,
so loading needs mlflow, pandas and onnxruntime but not Zygarde (except for the Spark fallback).

Written without MLflow (the MLmodel file is YAML; every value here is written as a JSON scalar, which
YAML reads as is), by the finalisation beside manifest.json.
"""
from __future__ import annotations

import json
import pkgutil
import platform
import uuid
from typing import Any

MLMODEL = "MLmodel"
INPUT_EXAMPLE = "input_example.json"
SERVING_EXAMPLE = "serving_input_example.json"
CODE_DIR = "code"
CODE_PACKAGE = "zygarde_pyfunc"
CODE_MODULES = ("instances", "runtime", "mlflow_pyfunc")  # zygarde.serving modules the loader needs
LOADER = f"{CODE_PACKAGE}.mlflow_pyfunc"
_BOOLEAN = {"boolean"}
_INTEGRAL = {"tinyint", "smallint", "int", "bigint"}
_NUMERIC = _INTEGRAL | {"float", "double"}


def input_columns(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"type", "name", "required"}]: the columns the model reads, as MLflow column specs, typed as in the
    training data (MLflow refuses int64 for a double): integers longs, other numbers doubles, flags
    booleans, categories strings."""
    schema = {c["name"]: str(c.get("type", "")) for c in manifest.get("input_schema") or []}
    online = manifest.get("online") or {}
    if online.get("status") == "available":
        names = [(i["name"], i["kind"]) for i in online.get("inputs") or []]
    else:
        names = [(n, "categorical" if t == "string" else "numeric") for n, t in schema.items()
                 if t == "string" or t in _NUMERIC or t in _BOOLEAN or t.startswith("decimal")]
    out = []
    for name, kind in names:
        kind_type = "string" if kind == "categorical" else "boolean" if schema.get(name) in _BOOLEAN else \
            "long" if schema.get(name) in _INTEGRAL else "double"
        out.append({"type": kind_type, "name": name, "required": True})
    return out


def output_columns(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out = [{"type": "double", "name": "prediction", "required": True}]
    if manifest.get("labels"):
        out.append({"type": "string", "name": "label", "required": True})
        out.append({"type": "array", "items": {"type": "double"}, "name": "probabilities", "required": False})
    return out


def example_frame(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The input example in pandas' split orient, from the manifest's `input_example` (one row)."""
    row = manifest.get("input_example")
    columns = [c["name"] for c in input_columns(manifest)]
    if not row or any(c not in row for c in columns):
        return None
    return {"columns": columns, "data": [[row[c] for c in columns]]}


def _yaml(value: Any, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return " {}\n"
        return "\n" + "".join(f"{pad}{k}:{_yaml(v, indent + 2)}" for k, v in value.items())
    return f" {json.dumps(value)}\n"


def mlmodel(manifest: dict[str, Any], created_at: str, with_example: bool, model_uuid: str | None = None) -> str:
    """The MLmodel file's text for the package `manifest` describes."""
    info = {"artifact_path": INPUT_EXAMPLE, "pandas_orient": "split", "serving_input_path": SERVING_EXAMPLE,
            "type": "dataframe"}
    doc: dict[str, Any] = {
        "artifact_path": "model",
        "flavors": {"python_function": {"loader_module": LOADER, "data": ".", "code": CODE_DIR,
                                        "python_version": manifest.get("python_version") or platform.python_version()}},
        "model_uuid": model_uuid or uuid.uuid4().hex,
        "utc_time_created": created_at.replace("T", " ").rstrip("Z"),
        "signature": {"inputs": json.dumps(input_columns(manifest)), "outputs": json.dumps(output_columns(manifest)),
                      "params": None},
        **({"saved_input_example_info": info} if with_example else {}),
        "metadata": {"zygarde_job_id": manifest.get("job_id"), "zygarde_task": manifest.get("task"),
                     "zygarde_target": manifest.get("target")},
    }
    return _yaml(doc).lstrip("\n")


def loader_code() -> dict[str, bytes]:
    """{path in the package: bytes}: the loader package MLflow imports (code/zygarde_pyfunc/)."""
    base = f"{CODE_DIR}/{CODE_PACKAGE}/"
    out = {base + "__init__.py": b'"""Zygarde\'s MLflow loader, copied from zygarde.serving into the package."""\n'}
    for module in CODE_MODULES:
        source = pkgutil.get_data("zygarde.serving", f"{module}.py")
        if source is None:
            raise FileNotFoundError(f"zygarde.serving.{module} has no source to copy")
        out[base + f"{module}.py"] = source.replace(b"zygarde.serving.", f"{CODE_PACKAGE}.".encode())
    return out


def files(manifest: dict[str, Any], created_at: str) -> dict[str, bytes]:
    """{path in the package: bytes}: MLmodel, the loader's code and, when the manifest has one, the input
    example."""
    example = example_frame(manifest)
    out = {MLMODEL: mlmodel(manifest, created_at, example is not None).encode(), **loader_code()}
    if example is not None:
        out[INPUT_EXAMPLE] = json.dumps(example).encode()
        out[SERVING_EXAMPLE] = json.dumps({"dataframe_split": example}, indent=1).encode()
    return out
