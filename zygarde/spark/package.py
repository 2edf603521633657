"""Finalising the winner of a job: scored once on the test part (never used for choosing), then
packaged as a model version: the fitted PipelineModel copied to {package_uri}model and a manifest
at {package_uri}manifest.json, with its explanations (feature importance, what online attributions
need) and the MLflow model files (MLmodel, input example): package_extras.

When the request names no model (no trial model was kept), the winner is fitted again first, from
`request.refit` (zygarde.spark.refit), and the manifest records it under "refit".

When the request names ensemble candidates, the ensemble selection runs first (ensemble_package); an
ensemble that beats the best single trial on validation is packaged instead: its members' PipelineModels
under {package_uri}members/{i} and the manifest's `ensemble` section (members with their weights), with
no model/ directory; it is scored once on the test part (its batch scoring latency measured as a single
model's is: the manifest's `predict_ms_per_1k`), and batch prediction averages its members. Its feature
importance is its members', weighted, and it has the MLflow files too (ensemble_explain).

`run_finalize` never raises (any failure is a FAILED FinalizeResult with one readable sentence);
`execute` also writes the result to request.result_uri, as the very last act of the batch.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import platform
from typing import Any

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession

from zygarde.domain.algorithms import CLUSTERING
from zygarde.domain.contracts import FinalizeRequest, FinalizeResult
from zygarde.domain.errors import DatasetError
from zygarde.spark import ensemble_explain, ensemble_model, ensemble_package, hadoop_fs
from zygarde.spark.dataset import LABEL, read_dataset
from zygarde.spark.evaluation import evaluate
from zygarde.spark.failures import describe_failure
from zygarde.spark.features import FEATURES
from zygarde.spark.fitting import predict_ms_per_1k
from zygarde.spark.importance import for_record
from zygarde.spark.online import export_and_check
from zygarde.spark.package_extras import build as build_extras, write_mlflow_files
from zygarde.spark.predict import MANIFEST, label_as_model, load_model, model_labels
from zygarde.spark.refit import refit

log = logging.getLogger(__name__)

MODEL_DIR = "model"


def _context(request: FinalizeRequest) -> str:
    return f"job_id={request.job_id} stage=finalize attempt={request.attempt}"


def _under(prefix: str, name: str) -> str:
    return prefix.rstrip("/") + "/" + name


def copy_tree(spark: SparkSession, source: str, destination: str) -> None:
    """Copies a file or directory (e.g. a saved model) with Hadoop's FileUtil, replacing the
    destination: across file systems, gs:// included."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    src = jvm.org.apache.hadoop.fs.Path(hadoop_fs.qualify(source))
    dst = jvm.org.apache.hadoop.fs.Path(hadoop_fs.qualify(destination))
    src_fs, dst_fs = src.getFileSystem(conf), dst.getFileSystem(conf)
    if not src_fs.exists(src):
        raise DatasetError(f"no model at {source}")
    if dst_fs.exists(dst):  # a retried attempt: FileUtil would copy *into* the existing directory
        dst_fs.delete(dst, True)
    if not jvm.org.apache.hadoop.fs.FileUtil.copy(src_fs, src, dst_fs, dst, False, True, conf):
        raise OSError(f"could not copy {source} to {destination}")


def versions(spark: SparkSession) -> dict[str, str | None]:
    """Spark, Python, Java, Scala and Python package versions of this batch."""
    jvm = spark.sparkContext._jvm
    out: dict[str, str | None] = {"spark_version": spark.version, "python_version": platform.python_version()}
    try:
        out["java_version"] = str(jvm.java.lang.System.getProperty("java.version"))
        out["scala_version"] = str(jvm.scala.util.Properties.versionNumberString())
    except Exception:  # noqa: BLE001 - informational only
        pass
    packages = {}
    for name in ("pyspark", "numpy", "pandas", "pyarrow", "xgboost", "onnx", "onnxruntime", "onnxmltools"):
        try:
            packages[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 - not installed in this runtime
            continue
    out["packages"] = packages
    return out


def _input_schema(test: DataFrame, target: str) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable}
            for f in test.schema.fields if f.name != target and not f.name.startswith("zy__")]


def _score_test(spark: SparkSession, request: FinalizeRequest, model: PipelineModel, cached: list[DataFrame]):
    """(test frame, test metrics, test rows, class names, scored test frame, batch scoring ms per 1,000
    rows): the latency is measured here, for the registered model only (an ensemble's in
    _finalize_ensemble, the same way), not for every trial."""
    labels = model_labels(model)
    test = read_dataset(spark, request.test_uri, "parquet")
    labelled = test if request.task == CLUSTERING else label_as_model(test, request.target, request.task, labels)
    scored = model.transform(labelled).cache()
    cached.append(scored)
    rows = scored.count()
    if rows == 0:
        raise DatasetError(f"the test part at {request.test_uri} has no rows the model can be scored on")
    clusterer = next((s for s in reversed(model.stages) if s.hasParam("distanceMeasure")), None)
    distance = clusterer.getOrDefault("distanceMeasure") if clusterer is not None else "euclidean"
    metrics = evaluate(request.task, scored, label_col=LABEL, features_col=FEATURES, distance=distance)
    return test, metrics, rows, labels, scored, predict_ms_per_1k(spark, model.transform, labelled, rows)


def _finalize_ensemble(spark: SparkSession, request: FinalizeRequest, selection, summary: dict[str, Any],
                       cached: list[DataFrame]) -> FinalizeResult:
    """The ensemble scored once on the test part and packaged: members/{i}, manifest.json."""
    fitted = ensemble_package.fit_members(spark, request, selection, cached)
    members = [member for _, member, _ in fitted]
    labels = model_labels(members[0].model)
    test = read_dataset(spark, request.test_uri, "parquet")
    labelled = label_as_model(test, request.target, request.task, labels)
    scored = ensemble_model.transform(members, labelled, labels).cache()
    cached.append(scored)
    rows = scored.count()
    if rows == 0:
        raise DatasetError(f"the test part at {request.test_uri} has no rows the ensemble can be scored on")
    metrics = evaluate(request.task, scored, label_col=LABEL, features_col=FEATURES)
    log.info("ensemble test scored %s rows=%d %s=%s", _context(request), rows, request.metric,
             metrics.get(request.metric))
    predict_ms = predict_ms_per_1k(spark, lambda df: ensemble_model.transform(members, df, labels), labelled, rows)
    hadoop_fs.delete(spark, _under(request.package_uri, ensemble_model.MEMBERS_DIR))  # a retried attempt's
    uris = ensemble_model.save(spark, members, request.package_uri)
    section = {**summary, "members": [{**entry, "params": candidate.params, "model_uri": uri, "fit": info}
                                      for entry, (candidate, _, info), uri in zip(summary["members"], fitted, uris)]}
    online = export_and_check(spark, None, scored, classes=labels is not None, package_uri=request.package_uri,
                              context=_context(request), members=members)
    input_schema = _input_schema(test, request.target)
    extras = ensemble_explain.build(spark, request, [(c.trial_id, m) for c, m, _ in fitted], labels, input_schema,
                                    cached, _context(request))
    manifest = {**request.manifest, **extras,
                "input_schema": input_schema, "target": request.target,
                "task": request.task, "metric": request.metric or request.manifest.get("metric"),
                "labels": labels, "test_metrics": metrics, "test_rows": rows, "test_uri": request.test_uri,
                "predict_ms_per_1k": predict_ms, "model_uri": None, "source_model_uri": None, "online": online,
                "ensemble": section,
                **versions(spark),
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")}
    manifest_uri = _under(request.package_uri, MANIFEST)
    hadoop_fs.write_bytes(spark, manifest_uri, json.dumps(manifest, sort_keys=True, indent=1, default=str).encode())
    write_mlflow_files(spark, request.package_uri, manifest)
    log.info("ensemble package written %s package_uri=%s members=%d", _context(request), request.package_uri,
             len(members))
    return FinalizeResult(job_id=request.job_id, attempt=request.attempt, status="SUCCEEDED", test_metrics=metrics,
                          package_uri=request.package_uri, manifest_uri=manifest_uri,
                          online=_online_summary(online), importance=for_record(extras["importance"]),
                          explanations=_explanations_summary(extras["explanations"]), ensemble=summary)


def _finalize(spark: SparkSession, request: FinalizeRequest, cached: list[DataFrame]) -> FinalizeResult:
    selection, summary = ensemble_package.choose(spark, request, _context(request))
    if selection is not None and selection.improved:
        return _finalize_ensemble(spark, request, selection, summary, cached)
    fitted: dict[str, Any] | None = None
    if request.model_uri is None:
        model, fitted = refit(spark, request, cached)
    else:
        model = load_model(request.model_uri)
    test, metrics, rows, labels, scored, predict_ms = _score_test(spark, request, model, cached)
    log.info("test scored %s rows=%d %s=%s", _context(request), rows, request.metric, metrics.get(request.metric))
    model_copy = _under(request.package_uri, MODEL_DIR)
    if request.model_uri is None:
        model.write().overwrite().save(hadoop_fs.qualify(model_copy))
    else:
        copy_tree(spark, request.model_uri, model_copy)
    online = export_and_check(spark, model, scored, classes=labels is not None or request.task == CLUSTERING,
                              package_uri=request.package_uri, context=_context(request))
    input_schema = _input_schema(test, request.target)
    extras = build_extras(spark, request, model, online, labels, input_schema, cached, _context(request))
    manifest = {**request.manifest, **extras,
                "input_schema": input_schema, "target": request.target,
                "task": request.task, "metric": request.metric or request.manifest.get("metric"),
                "labels": labels, "test_metrics": metrics, "test_rows": rows, "test_uri": request.test_uri,
                "predict_ms_per_1k": predict_ms, "model_uri": model_copy, "source_model_uri": request.model_uri, "online": online,
                **({"refit": fitted} if fitted is not None else {}),
                **versions(spark),
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")}
    manifest_uri = _under(request.package_uri, MANIFEST)
    hadoop_fs.write_bytes(spark, manifest_uri, json.dumps(manifest, sort_keys=True, indent=1, default=str).encode())
    write_mlflow_files(spark, request.package_uri, manifest)
    log.info("package written %s package_uri=%s", _context(request), request.package_uri)
    return FinalizeResult(job_id=request.job_id, attempt=request.attempt, status="SUCCEEDED", test_metrics=metrics,
                          package_uri=request.package_uri, manifest_uri=manifest_uri,
                          online=_online_summary(online), importance=for_record(extras["importance"]),
                          explanations=_explanations_summary(extras["explanations"]), ensemble=summary)


def _explanations_summary(explanations: dict[str, Any]) -> dict[str, Any]:
    """What the registry record keeps of the manifest's explanations section."""
    return {k: explanations[k] for k in ("status", "reason", "method", "output") if k in explanations}


def _online_summary(online: dict[str, Any]) -> dict[str, Any]:
    """What the registry record keeps of the manifest's online section."""
    return {k: online[k] for k in ("status", "reason", "onnx_uri", "parity") if k in online}


def run_finalize(spark: SparkSession, request: FinalizeRequest) -> FinalizeResult:
    """Scores the winner on the test part and writes its package. Never raises."""
    cached: list[DataFrame] = []
    log.info("finalisation started %s model_uri=%s refit=%s", _context(request), request.model_uri,
             request.refit is not None and request.model_uri is None)
    try:
        return _finalize(spark, request, cached)
    except Exception as exc:  # noqa: BLE001 - every failure must become a result
        kind, message = describe_failure(exc, "finalisation")
        log.error("finalisation failed %s error_kind=%s error=%s", _context(request), kind, message, exc_info=True)
        return FinalizeResult(job_id=request.job_id, attempt=request.attempt, status="FAILED", error=message,
                              error_kind=kind)
    finally:
        for df in cached:
            df.unpersist()


def execute(spark: SparkSession, request: FinalizeRequest) -> FinalizeResult:
    """run_finalize, then write the result to request.result_uri (last). Raises only if that write fails."""
    return hadoop_fs.run_then_report(spark, run_finalize, request, "finalize")
