"""The Python client end to end on the whole local cloud: the example notebook (examples/quickstart.ipynb),
executed by nbclient in a real kernel as one user, trains on a pandas DataFrame, follows the job with a
progress bar, gets a registered model and scores with it; its predictions equal `zygarde predict`'s, and
its bad input gets the platform's one-sentence reason. One small job (two logistic regressions)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
USER = "notebook@zygarde.dev"  # a user of this test's own: its model name is its own too
WIDGET = "application/vnd.jupyter.widget-view+json"


def _text(cell) -> str:
    out = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            out.append(output.get("text", ""))
        elif "data" in output:
            out.append(output["data"].get("text/plain", ""))
    return "".join(out)


def _cell(nb, source_start: str):
    return next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source_start))


def test_the_quickstart_notebook_trains_and_predicts_as_zygarde_predict(local_cloud, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    env = {**os.environ, **local_cloud.env(), "ZYGARDE_IDENTITY_TOKEN": local_cloud.identity_token(USER),
           "PYTHONPATH": str(ROOT)}
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute(env=env)

    assert f"signed in as {USER}" in _text(_cell(nb, "import pandas"))
    refused = _text(_cell(nb, "try:\n    client.train")).strip()
    assert refused.startswith("dataset.target: the target column 'price' is not in gs://")
    assert f"/datasets/{USER}/" in refused and "\n" not in refused  # one sentence, the field first
    waited = _cell(nb, "status = job.wait")
    assert any(WIDGET in o.get("data", {}) for o in waited.outputs), waited.outputs  # the bar, as a widget
    assert "SUCCEEDED" in _text(waited) and "registered as quickstart-cancer v" in _text(waited)
    assert "scored online" in _text(_cell(nb, "model = job.model()"))
    assert "accuracy on these rows: " in _text(_cell(nb, "accuracy ="))
    assert "attributions for 3 rows, 30 columns" in _text(_cell(nb, "# each column's share"))
    assert (tmp_path / "quickstart-model" / "manifest.json").is_file()

    # the same rows through `zygarde predict`, as the same user: the same answers
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from sklearn.datasets import load_breast_cancer

    from zygarde import Client

    client = Client()
    [job_id] = client.jobs()["job_id"].tolist()
    model = client.job(job_id).model()
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    rows = frame.drop(columns="target").sample(20, random_state=1)
    ours = model.predict(rows)
    assert ours.attrs["route"] == "online"
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps(rows.to_dict("records")))
    cli = [sys.executable, "-m", "zygarde.cli", "predict"]
    as_json = ["--format", "json"] if "--format" in subprocess.run(
        [*cli, "--help"], env=env, capture_output=True, text=True, timeout=120).stdout else []
    out = subprocess.run([*cli, f"{model.name}:{model.version}", str(rows_file), *as_json], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    answer = json.loads(out.stdout)["predictions"]
    assert ours["label"].tolist() == [p["label"] for p in answer]
    assert ours["prediction"].tolist() == [p["prediction"] for p in answer]
    classes = [c.removeprefix("probability_") for c in ours.columns if c.startswith("probability_")]
    assert ours[[f"probability_{c}" for c in classes]].values.tolist() == [p["probabilities"] for p in answer]
