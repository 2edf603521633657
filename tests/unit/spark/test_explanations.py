"""Explanations through the real finalisation (refit, test scoring, package): feature importance ranks a
planted signal first, online attributions sum to the row's margin (XGBoost's tree SHAP, linear
contributions), and MLflow's pyfunc reads the package and predicts what the online service does."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zygarde.adapters.memory import MemoryBlobStore, MemoryJobRepository
from zygarde.domain.contracts import FinalizeRequest, FinalizeResult, RefitSpec
from zygarde.service_layer import online

SIGNAL = "support_calls"


def _churn(rows: int, seed: int) -> pd.DataFrame:
    """Customers: churn driven by support calls (and a little by tenure); age, spend and region are noise."""
    rng = np.random.default_rng(seed)
    calls = rng.poisson(2.0, rows).astype(float)
    tenure = rng.integers(1, 72, rows)
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, rows), "monthly_spend": rng.normal(60, 15, rows).round(2),
        "region": rng.choice(["north", "south", "east", "west"], rows), SIGNAL: calls,
        "tenure_months": tenure})
    logit = 2.2 * (calls - 2.0) - 0.01 * (tenure - 36) + rng.normal(0, 0.7, rows)
    frame["churned"] = np.where(logit > 0, "yes", "no")
    frame.loc[rng.choice(rows, rows // 20, replace=False), "monthly_spend"] = np.nan
    return frame


@pytest.fixture(scope="module")
def churn_parts(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("churn")
    frame = _churn(1500, 3)
    parts = {"train": frame.iloc[:900], "validation": frame.iloc[900:1200], "test": frame.iloc[1200:]}
    out = {}
    for name, part in parts.items():
        part.to_parquet(root / f"{name}.parquet", index=False)
        out[name] = str(root / f"{name}.parquet")
    return out


def _finalize(spark, parts: dict, root: Path, algorithm: str, params: dict, task: str = "binary_classification",
              target: str = "churned", metric: str = "areaUnderROC"):
    from spark_jobs.finalize_model import main

    request = FinalizeRequest(
        job_id="job-explain", attempt=1, model_uri=None, test_uri=parts["test"], task=task, target=target,
        metric=metric, package_uri=f"{root}/models/{algorithm}/", result_uri=f"{root}/results/{algorithm}.json",
        manifest={"job_id": "job-explain", "trial_id": "t1", "seed": 5},
        refit=RefitSpec(algorithm=algorithm, params=params, seed=5, train_uri=parts["train"],
                        validation_uri=parts["validation"]))
    assert main(["--request", request.to_json()], spark=spark) == 0
    result = FinalizeResult.from_json(Path(request.result_uri).read_text())
    assert result.status == "SUCCEEDED", result.error
    return result, json.loads(Path(result.manifest_uri).read_text())


@pytest.fixture(scope="module")
def xgb_package(spark, churn_parts, tmp_path_factory):
    return _finalize(spark, churn_parts, tmp_path_factory.mktemp("xgb"), "xgboost_classifier",
                     {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.3, "early_stopping_rounds": 5})


@pytest.fixture(scope="module")
def lr_package(spark, churn_parts, tmp_path_factory):
    return _finalize(spark, churn_parts, tmp_path_factory.mktemp("lr"), "logistic_regression",
                     {"maxIter": 50, "regParam": 0.01})


def _service(result: FinalizeResult, name: str):
    """The package registered in an in-memory registry, as the online service reads it."""
    root = Path(result.package_uri)
    blobs, repo = MemoryBlobStore(), MemoryJobRepository()
    for path in root.iterdir():
        if path.is_file():
            blobs.write_bytes(str(path), path.read_bytes())
    repo.register_model_version(name, "job-explain", {"manifest_uri": result.manifest_uri, "online": result.online,
                                                      "importance": result.importance}, "ana")
    cache = online.ModelCache(blobs)
    return lambda body: online.predict(repo, cache, name, "1", body, caller="ana")


def _rows(parts: dict, target: str, n: int = 25) -> list[dict]:
    test = pd.read_parquet(parts["test"]).head(n)
    return json.loads(test.drop(columns=[target]).to_json(orient="records"))


@pytest.mark.parametrize("package", ["xgb_package", "lr_package"])
def test_importance_ranks_the_planted_signal_first(request, package):
    result, manifest = request.getfixturevalue(package)
    section = manifest["importance"]
    assert section["status"] == "available"
    columns = section["columns"]
    assert {c["column"] for c in columns} == {"age", "monthly_spend", "region", SIGNAL, "tenure_months"}
    assert columns[0]["column"] == SIGNAL  # by permutation on the validation part
    assert max(columns, key=lambda c: c["native"])["column"] == SIGNAL  # gain / |coefficient| x spread
    assert columns[0]["permutation"] > 0.1 and all(abs(c["permutation"]) < 0.05 for c in columns
                                                   if c["column"] in ("age", "region"))
    assert section["native"] == ("gain" if package == "xgb_package" else "coefficient")
    assert section["permutation"]["metric"] == "areaUnderROC" and section["permutation"]["part"] == "validation"
    assert math.isclose(sum(c["native"] for c in columns), 1.0)
    assert result.importance["columns"] == columns  # carried into the registry record


def test_xgboost_serves_online_and_its_tree_shap_sums_to_the_margin(xgb_package, churn_parts):
    result, manifest = xgb_package
    assert result.online["status"] == "available", result.online  # XGBoost exports to ONNX with parity
    assert manifest["online"]["parity"]["labels_disagree"] == 0
    assert manifest["explanations"]["method"] == "tree_shap" and result.explanations["status"] == "available"
    predict = _service(result, "churn")
    rows = _rows(churn_parts, "churned")
    plain = predict({"instances": rows})
    answer = predict({"instances": rows, "explain": True})
    assert [p["probabilities"] for p in answer["predictions"]] == [p["probabilities"] for p in plain["predictions"]]
    assert answer["explanation"]["method"] == "tree_shap"
    for p in answer["predictions"]:
        margin = math.log(p["probabilities"][1] / p["probabilities"][0])
        assert set(p["attributions"]) == {"age", "monthly_spend", "region", SIGNAL, "tenure_months"}
        assert sum(p["attributions"].values()) + p["base_value"] == pytest.approx(margin, abs=1e-4)
    assert "attributions" not in plain["predictions"][0]


def test_logistic_contributions_sum_to_the_margin_less_the_base(lr_package, churn_parts):
    result, manifest = lr_package
    assert manifest["explanations"]["method"] == "linear"
    answer = _service(result, "churn")({"instances": _rows(churn_parts, "churned"), "explain": True})
    for p in answer["predictions"]:
        margin = math.log(p["probabilities"][1] / p["probabilities"][0])
        assert sum(p["attributions"].values()) == pytest.approx(margin - p["base_value"], abs=1e-9)
    calls = [p["attributions"][SIGNAL] for p in answer["predictions"]]
    assert max(abs(v) for v in calls) > max(abs(p["attributions"]["age"]) for p in answer["predictions"])


def test_linear_regression_contributions_sum_to_the_prediction_less_the_base(spark, tmp_path):
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"sqft": rng.uniform(400, 3000, 600), "rooms": rng.integers(1, 6, 600),
                          "city": rng.choice(["lyon", "lille", "nice"], 600)})
    frame["price"] = 150 * frame["sqft"] + 4000 * frame["rooms"] + frame["city"].map(
        {"lyon": 20000, "lille": 0, "nice": 50000}) + rng.normal(0, 5000, 600)
    parts = {}
    for name, part in {"train": frame.iloc[:360], "validation": frame.iloc[360:480], "test": frame.iloc[480:]}.items():
        part.to_parquet(tmp_path / f"{name}.parquet", index=False)
        parts[name] = str(tmp_path / f"{name}.parquet")
    result, manifest = _finalize(spark, parts, tmp_path, "linear_regression", {"maxIter": 20}, task="regression",
                                 target="price", metric="rmse")
    assert manifest["importance"]["columns"][0]["column"] == "sqft"
    answer = _service(result, "homes")({"instances": _rows(parts, "price", 10), "explain": True})
    for p in answer["predictions"]:
        assert sum(p["attributions"].values()) == pytest.approx(p["prediction"] - p["base_value"], rel=1e-5)


def test_mlflow_reads_the_package_and_predicts_as_the_online_service(xgb_package, churn_parts, tmp_path):
    import mlflow.pyfunc

    result, manifest = xgb_package
    package = Path(result.package_uri)
    assert (package / "MLmodel").exists() and (package / "input_example.json").exists()
    model = mlflow.pyfunc.load_model(str(package))
    inputs = model.metadata.get_input_schema().input_names()
    assert inputs == [i["name"] for i in manifest["online"]["inputs"]]
    test = pd.read_parquet(churn_parts["test"]).drop(columns=["churned"]).head(40)
    got = model.predict(test)
    served = _service(result, "churn")({"instances": json.loads(test.to_json(orient="records"))})["predictions"]
    assert list(got["label"]) == [p["label"] for p in served]
    assert list(got["prediction"]) == [p["prediction"] for p in served]
    assert [list(p) for p in got["probabilities"]] == [p["probabilities"] for p in served]
    example = model.input_example
    assert list(example.columns) == inputs and len(model.predict(example)) == 1


def test_mlflow_scores_a_version_without_onnx_with_spark(spark, xgb_package, churn_parts, tmp_path):
    import mlflow.pyfunc

    result, _ = xgb_package
    offline = tmp_path / "offline"
    shutil.copytree(result.package_uri, offline)
    (offline / "model.onnx").unlink()
    manifest = json.loads((offline / "manifest.json").read_text())
    manifest["online"] = {"status": "unavailable", "reason": "registered before the XGBoost export"}
    (offline / "manifest.json").write_text(json.dumps(manifest))
    test = pd.read_parquet(churn_parts["test"]).drop(columns=["churned"]).head(30)
    got = mlflow.pyfunc.load_model(str(offline)).predict(test)
    served = _service(result, "churn")({"instances": json.loads(test.to_json(orient="records"))})["predictions"]
    assert list(got["label"]) == [p["label"] for p in served]
    for mine, theirs in zip(got["probabilities"], served):
        assert list(mine) == pytest.approx(theirs["probabilities"], abs=1e-4)
