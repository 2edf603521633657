"""Online prediction through the local predict service (functions-framework + Firestore emulator +
fake-gcs-server) vs scoring the same rows with Spark, for one model per task.

    .venv/bin/python bench/bench_online_predict.py [--requests 200] [--ports 18650-18699]

Per task: a Zygarde pipeline (logistic / linear regression) fitted on a sklearn data set, exported
as finalisation does (ONNX + parity on its rows), registered; then 1-row and 100-row requests (p50,
p99), rows/s of a loopback client sending 100-row requests, the cold start (process start to the
first answer, and the first request's model load), and a warm local Spark `transform` + collect of
the same rows. Then a new instance with ZYGARDE_PREDICT_WARM naming the binary model by its alias:
its cold start and first request. Writes bench/results_online_predict.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import requests  # noqa: E402

USER = "bench@example.com"  # who registers the models and calls the service (an identity token of theirs)
TASKS = {  # task -> (sklearn loader, target, algorithm)
    "binary_classification": ("load_breast_cancer", "diagnosis", "logistic_regression"),
    "multiclass_classification": ("load_iris", "species", "logistic_regression"),
    "regression": ("load_diabetes", "progression", "linear_regression"),
}


def _frame(loader: str, target: str, task: str):
    from sklearn import datasets

    frame = getattr(datasets, loader)(as_frame=True).frame
    frame.columns = [c.replace(" ", "_").replace("(", "").replace(")", "") for c in frame.columns]
    frame = frame.rename(columns={"target": target})
    if task != "regression":
        frame[target] = "class_" + frame[target].astype(str)
    return frame


def _fit(spark, frame, target: str, task: str, algorithm: str):
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import IndexToString

    from zygarde.domain import algorithms
    from zygarde.spark.dataset import LABEL, with_label
    from zygarde.spark.estimators import build_estimator
    from zygarde.spark.features import FEATURES, fit_preprocessing, plan_features, profile

    df = spark.createDataFrame(frame)
    labelled, labels = with_label(df, target, task)
    alg = algorithms.get(algorithm)
    plan = plan_features(df, {target})
    prep = fit_preprocessing(labelled, plan, profile(labelled, plan), alg)
    est = build_estimator(alg, {"maxIter": 50}, 1, features_col=FEATURES, label_col=LABEL,
                          n_features=prep.n_features, n_classes=len(labels) if labels else None, max_categories=0)
    fitted = est.fit(prep.model.transform(labelled))
    stages = [*prep.model.stages, fitted]
    if labels:
        stages.append(IndexToString(inputCol="prediction", outputCol="predicted_label", labels=labels))
    return PipelineModel(stages), df.drop(target), labelled, labels


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--ports", default="18650-18699")
    args = parser.parse_args()
    low, high = (int(p) for p in args.ports.split("-"))

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, storage

    from tests.unit.spark.session import local_session
    from zygarde.adapters.firestore import FirestoreJobRepository
    from zygarde.adapters.gcs import GcsBlobStore
    from zygarde.config import env_name
    from zygarde.domain.identity import owner_key
    from zygarde.local.cloud import EMULATORS, IDENTITY, LocalCloud, LocalPorts, function_component
    from zygarde.local.processes import ManagedProcess
    from zygarde.spark.online import export_and_check

    state = Path(tempfile.mkdtemp(prefix="zygarde-bench-"))
    cloud = LocalCloud(state, LocalPorts.free(low, high), project="zygarde-bench", bucket="zygarde-bench",
                       components=(*EMULATORS, IDENTITY, function_component("predict")))
    predict = function_component("predict")
    spark_conf = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", "spark.driver.host": "127.0.0.1",
                  "spark.driver.bindAddress": "127.0.0.1", "spark.ui.showConsoleProgress": "false"}
    results: dict = {"requests": args.requests}
    try:
        cloud.components = (*EMULATORS, IDENTITY)  # the token issuer: the service verifies its callers
        os.environ.pop(env_name("predict_warm"), None)
        cloud.up()
        os.environ.update(cloud.env())
        repo = FirestoreJobRepository(firestore.Client(project=cloud.project))
        blobs = GcsBlobStore(storage.Client(project=cloud.project, credentials=AnonymousCredentials()))
        batch: dict = {}
        with local_session("zygarde-bench", spark_conf) as spark:
            for task, (loader, target, algorithm) in TASKS.items():
                frame = _frame(loader, target, task)
                model, features, labelled, labels = _fit(spark, frame, target, task, algorithm)
                root = f"gs://{cloud.bucket}/models/bench-{task}/job-1/"
                scored = model.transform(labelled).cache()
                local = state / f"package-{task}"
                online = export_and_check(spark, model, scored, labels is not None, str(local))
                assert online["status"] == "available", online
                online["onnx_uri"] = root + "model.onnx"
                blobs.write_bytes(online["onnx_uri"], (local / "model.onnx").read_bytes())
                blobs.write_bytes(root + "manifest.json", json.dumps({"labels": labels, "online": online}).encode())
                repo.register_model_version(f"bench-{task}", "job-1", {
                    "package_uri": root, "manifest_uri": root + "manifest.json",
                    "online": {k: online[k] for k in ("status", "onnx_uri")}}, owner_key(USER))
                rows = [{k: (None if v != v else v) for k, v in r.items()}
                        for r in frame.drop(columns=[target]).to_dict("records")]
                batch[task] = {"rows": rows, "parity": online["parity"]}
                one, hundred = spark.createDataFrame(features.limit(1).collect(), features.schema), \
                    spark.createDataFrame(features.limit(100).collect(), features.schema)
                for df in (one, hundred):
                    model.transform(df).select("prediction").collect()  # warm-up
                batch[task]["spark_1_row_ms"] = _pct(_timed(lambda: model.transform(one).select("prediction")
                                                            .collect(), 20), 50)
                batch[task]["spark_100_rows_ms"] = _pct(_timed(lambda: model.transform(hundred).select("prediction")
                                                               .collect(), 20), 50)
        cloud.components = (*EMULATORS, IDENTITY, predict)
        started = time.perf_counter()
        cloud.up()
        url = cloud.url(predict)
        auth = {"Authorization": "Bearer " + cloud.identity_token(USER)}
        for task, data in batch.items():
            path = f"{url}/v1/models/bench-{task}/versions/1:predict"
            session = requests.Session()
            session.headers.update(auth)
            one, hundred = {"instances": data["rows"][:1]}, {"instances": (data["rows"] * 2)[:100]}
            t0 = time.perf_counter()
            first = session.post(path, json=one, timeout=60)
            first.raise_for_status()
            first_ms = (time.perf_counter() - t0) * 1000
            if "cold_start_ms" not in results:
                results["cold_start_ms"] = (time.perf_counter() - started) * 1000  # process start -> first answer
            lat1 = _timed(lambda: session.post(path, json=one, timeout=60).raise_for_status(), args.requests)
            lat100 = _timed(lambda: session.post(path, json=hundred, timeout=60).raise_for_status(), args.requests)
            results[task] = {
                "first_request_ms (model load)": round(first_ms, 2),
                "1_row_p50_ms": round(_pct(lat1, 50), 2), "1_row_p99_ms": round(_pct(lat1, 99), 2),
                "100_rows_p50_ms": round(_pct(lat100, 50), 2), "100_rows_p99_ms": round(_pct(lat100, 99), 2),
                "rows_per_s (100-row requests, 1 client)": round(100 * 1000 / statistics.fmean(lat100)),
                "spark_transform_1_row_ms": round(data["spark_1_row_ms"], 2),
                "spark_transform_100_rows_ms": round(data["spark_100_rows_ms"], 2),
                "parity": data["parity"],
            }
            print(task, json.dumps(results[task]), flush=True)
        # a new instance again, now told to load the binary model (by its alias) as it starts
        repo.set_alias("bench-binary_classification", "prod", 1, owner_key(USER), "2026-01-01T00:00:00+00:00")
        ManagedProcess(cloud.probe(predict), cloud.state_dir).stop()
        os.environ[env_name("predict_warm")] = "bench-binary_classification@prod"
        started = time.perf_counter()
        cloud.up()
        t0 = time.perf_counter()
        first = requests.post(f"{url}/v1/models/bench-binary_classification/versions/prod:predict",
                              json={"instances": batch["binary_classification"]["rows"][:1]}, headers=auth, timeout=60)
        first.raise_for_status()
        results["cold_start_warm_ms (ZYGARDE_PREDICT_WARM)"] = (time.perf_counter() - started) * 1000
        results["first_request_warm_ms"] = (time.perf_counter() - t0) * 1000
        print(json.dumps({k: v for k, v in results.items() if "ms" in k and not isinstance(v, dict)}), flush=True)
    finally:
        cloud.down()
    out = Path(__file__).with_name("results_online_predict.json")
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
