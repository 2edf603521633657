"""Models trained and packaged by the real Spark stages serve online as Spark scores them, for every
supervised task: breast cancer (binary; a categorical column and numbers with nulls), iris
(multiclass) and diabetes (regression) are prepared, trained and finalised in-process by the batch
entry points on one local Spark session, the package written to fake-gcs-server's bucket as a job
writes it, registered in Firestore on the emulator, and scored through the predict function (under
functions-framework, started once for the module): labels equal Spark's, probabilities and values
agree within 1e-6."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn import datasets as skdata

from tests.integration.predict_service import running_predict_service
from tests.unit.identities import fresh_token
from tests.unit.spark.conftest import pack_of_one
from tests.unit.spark.session import local_session
from zygarde.domain.contracts import (
    FinalizeRequest,
    FinalizeResult,
    PrepareRequest,
    PrepareResult,
    TrialResult,
)
from zygarde.local.cloud import LocalPorts
from zygarde.local.spark_gcs import spark_conf_for_emulator
from zygarde.packaging import REPO_ROOT

pytestmark = pytest.mark.integration
ANA = "ana@example.com"
# Labels exactly; probabilities and values within 1e-6, where finalisation's parity check allows 1e-4
# (zygarde/spark/online.py): the exported graphs compute in double precision (measured: no difference).
TOLERANCE = 1e-6
ROWS = 40  # test-part rows scored by both
TREES = {"maxDepth": 3, "numTrees": 5}

# model name -> (target, task, metric, algorithm, params)
CASES = {
    "cancer": ("diagnosis", "binary_classification", "areaUnderROC", "random_forest_classifier", TREES),
    "iris": ("species", "multiclass_classification", "accuracy", "random_forest_classifier", TREES),
    "diabetes": ("progression", "regression", "rmse", "gbt_regressor", {"maxDepth": 2, "maxIter": 5}),
}


def _frame(loader, target: str) -> pd.DataFrame:
    frame = loader(as_frame=True).frame.copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame.rename(columns={"target": target})


def _datasets(root: Path) -> dict[str, Path]:
    """The three data sets as users upload them: CSV, string labels, cancer with a size band
    (categorical, some missing) and missing texture readings."""
    rng = np.random.default_rng(5)
    cancer = _frame(skdata.load_breast_cancer, "diagnosis")
    cancer = cancer[[c for c in cancer.columns if c.startswith("mean_")][:6] + ["diagnosis"]]
    cancer["diagnosis"] = np.where(cancer["diagnosis"] == 1, "benign", "malignant")
    cancer.insert(0, "size_band", np.where(cancer["mean_radius"] > 15, "large",
                                           np.where(cancer["mean_radius"] > 12, "medium", "small")))
    cancer.loc[rng.choice(len(cancer), 60, replace=False), "mean_texture"] = np.nan
    cancer.loc[rng.choice(len(cancer), 60, replace=False), "size_band"] = None
    iris = _frame(skdata.load_iris, "species")
    iris.columns = [c.replace("_(cm)", "") for c in iris.columns]
    iris["species"] = iris["species"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    paths = {}
    for name, frame in (("cancer", cancer), ("iris", iris), ("diabetes", _frame(skdata.load_diabetes, "progression"))):
        paths[name] = root / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def _spark(storage_url: str, project: str):
    """A local Spark session on one core that reads and writes gs:// on the emulator set's
    fake-gcs-server, as the local cloud's batches do; stopped (its JVM too) when the block ends."""
    conf = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
            "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.sql.adaptive.enabled": "false", **spark_conf_for_emulator(storage_url, project)}
    return local_session("zygarde-serving-test", conf, master="local[1]")


def _job(spark, name: str, csv: Path, work: Path, bucket: str):
    """Prepare, train one small model and finalise it into gs://BUCKET/models/NAME/JOB/, as a job's
    batches do: (FinalizeResult, PrepareResult)."""
    from spark_jobs.finalize_model import main as finalize
    from spark_jobs.prepare_data import main as prepare
    from spark_jobs.train_pack import main as train

    target, task, metric, algorithm, params = CASES[name]
    job = f"job-{name}"
    prep = PrepareRequest(job_id=job, attempt=1, dataset_uri=str(csv), dataset_format="csv", target=target,
                          task=task, seed=7, validation_fraction=0.2, test_fraction=0.25,
                          output_prefix=f"{work}/data/", result_uri=f"{work}/prepare.json")
    assert prepare(["--request", prep.to_json()], spark=spark) == 0
    prepared = PrepareResult.from_json(Path(prep.result_uri).read_text())
    pack = pack_of_one(job, "t0001", algorithm, params, target=target, task=task, metric=metric, seed=7,
                       model_uri=f"{work}/model", result_uri=f"{work}/t0001.json",
                       train_uri=prepared.parts["train"], validation_uri=prepared.parts["validation"])
    assert train(["--request", pack.to_json()], spark=spark) == 0
    trial = TrialResult.from_json(Path(pack.trials[0].result_uri).read_text())
    assert trial.status == "SUCCEEDED", trial.error
    request = FinalizeRequest(job_id=job, attempt=1, model_uri=trial.model_uri, test_uri=prepared.parts["test"],
                              task=task, target=target, metric=metric,
                              package_uri=f"gs://{bucket}/models/{name}/{job}/", result_uri=f"{work}/finalize.json",
                              manifest={"job_id": job, "trial_id": "t0001", "algorithm": algorithm, "params": params,
                                        "validation_metrics": trial.metrics, "seed": 7})
    assert finalize(["--request", request.to_json()], spark=spark) == 0
    result = FinalizeResult.from_json(Path(request.result_uri).read_text())
    assert result.status == "SUCCEEDED" and result.online["status"] == "available", (result.error, result.online)
    return result, prepared


def _rows(name: str, prepared: PrepareResult) -> pd.DataFrame:
    """ROWS rows of the test part (never trained on), without the target; for cancer, the rows with a
    missing size band or texture first, and one more of each made missing."""
    test = pd.read_parquet(prepared.parts["test"]).drop(columns=[CASES[name][0]])
    if name == "cancer":
        missing = test["size_band"].isna() | test["mean_texture"].isna()
        assert missing.sum() >= 2, "the test part should hold rows with missing values"
        test = pd.concat([test[missing], test[~missing]]).reset_index(drop=True)
        test.loc[len(test) - 1, "size_band"] = None
        test.loc[len(test) - 2, "mean_texture"] = np.nan
        return pd.concat([test.head(ROWS - 2), test.tail(2)]).reset_index(drop=True)
    return test.head(ROWS).reset_index(drop=True)


def _spark_scores(spark, package_uri: str, prepared: PrepareResult, rows: pd.DataFrame) -> list[dict]:
    """The packaged PipelineModel's own answers for `rows`: prediction, label, probabilities."""
    from pyspark.ml import PipelineModel
    from pyspark.sql.types import StructType

    schema = spark.read.parquet(prepared.parts["test"]).schema
    fields = [f for f in schema.fields if f.name in rows.columns]
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
               for row in rows.to_dict(orient="records")]
    frame = spark.createDataFrame(records, schema=StructType(fields))
    scored = [r.asDict() for r in PipelineModel.load(package_uri + "model").transform(frame).collect()]
    return [{"prediction": r["prediction"], "label": r.get("predicted_label"),
             "probability": list(r["probability"]) if r.get("probability") is not None else None} for r in scored]


@pytest.fixture(scope="module")
def served(emulators, module_namespace, tmp_path_factory, token_issuer):
    """Each case trained, packaged on the bucket and registered as ana's version 1, and scored by Spark
    (whose session is then stopped); the predict function serving them, once for the module:
    {"url", name: {"rows", "spark", "manifest"}}."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, storage

    from zygarde.adapters.firestore import FirestoreJobRepository
    from zygarde.adapters.gcs import GcsBlobStore

    ns, root = module_namespace, tmp_path_factory.mktemp("serving")
    repo = FirestoreJobRepository(firestore.Client(project=ns.project))
    blobs = GcsBlobStore(storage.Client(project=ns.project, credentials=AnonymousCredentials()))
    out: dict = {}
    with _spark(emulators.storage_url, ns.project) as spark:
        for name, csv in _datasets(root).items():
            result, prepared = _job(spark, name, csv, root / name, ns.bucket)
            version = repo.register_model_version(name, f"job-{name}", {
                "package_uri": result.package_uri, "manifest_uri": result.manifest_uri, "online": result.online,
                "test_metrics": result.test_metrics}, ANA)  # as RegisterModel records a finalised job
            assert version == 1
            rows = _rows(name, prepared)
            out[name] = {"rows": rows, "spark": _spark_scores(spark, result.package_uri, prepared, rows),
                         "manifest": json.loads(blobs.read_bytes(result.manifest_uri))}

    port, run_dir = LocalPorts.free().scheduler, tmp_path_factory.mktemp("predict")
    env = {**os.environ, **ns.env, **token_issuer, "PYTHONPATH": str(REPO_ROOT), "XDG_RUNTIME_DIR": str(run_dir)}
    with running_predict_service(env, port, run_dir / "predict.log") as url:
        yield {"url": url, **out}


def _predict(served, name: str) -> dict:
    rows = json.loads(served[name]["rows"].to_json(orient="records"))  # NaN -> null, as a client sends it
    response = requests.post(f"{served['url']}/v1/models/{name}/versions/1:predict", json={"instances": rows},
                             headers={"Authorization": "Bearer " + fresh_token(ANA, served["url"])}, timeout=60)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["modelVersionId"] == "1" and len(answer["predictions"]) == len(rows)
    return answer


@pytest.mark.parametrize("name", ["cancer", "iris"])
def test_a_classifier_serves_sparks_labels_and_probabilities(served, name):
    answer, spark, manifest = _predict(served, name), served[name]["spark"], served[name]["manifest"]
    assert answer["classes"] == manifest["labels"]
    if name == "cancer":
        assert {i["name"] for i in manifest["online"]["inputs"]} >= {"size_band", "mean_texture"}
    assert [p["label"] for p in answer["predictions"]] == [s["label"] for s in spark]
    assert [p["prediction"] for p in answer["predictions"]] == [s["prediction"] for s in spark]
    for row, (served_row, spark_row) in enumerate(zip(answer["predictions"], spark)):
        assert served_row["probabilities"] == pytest.approx(spark_row["probability"], abs=TOLERANCE), row


def test_a_regressor_serves_sparks_values(served):
    answer, spark = _predict(served, "diabetes"), served["diabetes"]["spark"]
    assert "classes" not in answer and served["diabetes"]["manifest"]["labels"] is None
    for row, (served_row, spark_row) in enumerate(zip(answer["predictions"], spark)):
        assert served_row["prediction"] == pytest.approx(spark_row["prediction"], rel=TOLERANCE), row
