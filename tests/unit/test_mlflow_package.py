"""A package's MLflow files (serving.mlflow_model): the real mlflow.pyfunc loads the package in a process
where Zygarde cannot be imported (the loader travels in the package's code/), enforces the signature typed as
in training, and predicts what the online service answers."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.online_fixtures import INPUTS, OUTPUTS, onnx_model
from zygarde.serving import mlflow_model
from zygarde.serving.runtime import OnlineModel

MANIFEST = {"job_id": "job-1", "task": "binary_classification", "target": "churned", "labels": ["no", "yes"],
            "input_schema": [{"name": "age", "type": "bigint"}, {"name": "color", "type": "string"}],
            "online": {"status": "available", "inputs": INPUTS, "outputs": OUTPUTS},
            "input_example": {"age": 30, "color": "red"}, "created_at": "2026-12-07T10:00:00Z"}
ROWS = [{"age": 50, "color": "blue"}, {"age": 1, "color": "red"}, {"age": 30, "color": "never-seen"}]

SCRIPT = """
import json, sys
sys.modules["zygarde"] = None  # as where Zygarde is not installed (the venv installs it editable)
import pandas as pd
import mlflow.pyfunc
model = mlflow.pyfunc.load_model(sys.argv[1])
out = model.predict(pd.DataFrame(json.loads(sys.argv[2])))
example = model.predict(model.input_example)
impl = type(model._model_impl)
try:
    model.predict(pd.DataFrame({"age": [1.5], "color": ["red"]}))
    refused = None
except Exception as exc:
    refused = type(exc).__name__
print(json.dumps({"rows": json.loads(out.to_json(orient="records", double_precision=15)), "example_rows": len(example),
                  "loader": sys.modules[impl.__module__].__file__, "refused": refused,
                  "inputs": model.metadata.get_input_schema().input_names()}))
"""


def test_mlflow_loads_the_package_without_zygarde_and_predicts_as_the_service(tmp_path):
    package = tmp_path / "churn-v1"
    package.mkdir()
    (package / "model.onnx").write_bytes(onnx_model())
    (package / "manifest.json").write_text(json.dumps(MANIFEST))
    for name, data in mlflow_model.files(MANIFEST, MANIFEST["created_at"]).items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_bytes(data)
    away = tmp_path / "elsewhere"  # neither the repository nor PYTHONPATH, and `zygarde` blocked in SCRIPT
    away.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MLFLOW_TRACKING_URI": f"file://{tmp_path}/mlruns"}
    done = subprocess.run([sys.executable, "-I", "-c", SCRIPT, str(package), json.dumps(ROWS)], cwd=away, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(got["loader"]).is_relative_to(package / "code" / "zygarde_pyfunc")
    assert got["inputs"] == ["age", "color"] and got["example_rows"] == 1
    assert got["refused"] == "MlflowException"  # 1.5 is no long: MLflow's signature check, as typed in training
    served = OnlineModel(onnx_model(), MANIFEST["online"], MANIFEST["labels"]).predict(ROWS)
    assert [r["label"] for r in got["rows"]] == [r["label"] for r in served] == ["yes", "no", "yes"]
    for mine, theirs in zip(got["rows"], served):
        assert mine["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-12)
