"""At finalisation: the winner exported to ONNX and proved equal to Spark on the test part.

`export_and_check` never raises: it returns the manifest's `online` section, either
{"status": "available", "onnx_uri", "inputs", "outputs", "parity", ...} (model.onnx written) or
{"status": "unavailable", "reason", ...} (nothing written: never a half-working export).
"""
from __future__ import annotations

import decimal
import logging
from typing import Any

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from zygarde.spark import hadoop_fs
from zygarde.spark.dataset import column

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
PARITY_ROWS = 5000
PROBABILITY_TOLERANCE = 1e-4  # absolute, per class
PREDICTION_TOLERANCE = 1e-4  # relative to max(1, |prediction|), regression


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, decimal.Decimal) else value


def parity(onnx_bytes: bytes, spec: dict[str, Any], scored: DataFrame, classes: bool) -> dict[str, Any]:
    """Scores up to PARITY_ROWS of `scored` (Spark's output) with the ONNX model: the differences."""
    from zygarde.serving.runtime import OnlineModel

    names = [i["name"] for i in spec["inputs"]]
    extra = [vector_to_array(F.col("probability")).alias("zy__p")] if "probability" in spec["outputs"] else []
    rows = scored.select(*[column(n) for n in names], F.col("prediction").alias("zy__y"), *extra) \
        .limit(PARITY_ROWS).collect()
    instances = [{n: _plain(r[n]) for n in names} for r in rows]
    onnx_model = OnlineModel(onnx_bytes, {**spec, "max_rows": len(rows)})
    predicted, probability = onnx_model.raw(instances)
    expected = np.array([r["zy__y"] for r in rows], dtype=np.float64)
    out: dict[str, Any] = {"rows": len(rows)}
    if classes:
        out["labels_agree"] = int(np.sum(predicted == expected))
        out["labels_disagree"] = int(len(rows) - out["labels_agree"])
    diff = np.abs(predicted - expected)
    out["max_abs_prediction_diff"] = float(diff.max(initial=0.0))
    out["max_rel_prediction_diff"] = float((diff / np.maximum(1.0, np.abs(expected))).max(initial=0.0))
    if extra and probability is not None:
        spark_p = np.array([r["zy__p"] for r in rows], dtype=np.float64)
        out["max_abs_probability_diff"] = float(np.abs(probability - spark_p).max(initial=0.0))
    return out


def _failure(result: dict[str, Any], classes: bool) -> str | None:
    if classes and result.get("labels_disagree"):
        return f"ONNX and Spark disagree on {result['labels_disagree']} of {result['rows']} test labels"
    if result.get("max_abs_probability_diff", 0.0) > PROBABILITY_TOLERANCE:
        return f"probabilities differ by up to {result['max_abs_probability_diff']:.3g} (> {PROBABILITY_TOLERANCE})"
    if not classes and result["max_rel_prediction_diff"] > PREDICTION_TOLERANCE:
        return (f"predictions differ by up to {result['max_rel_prediction_diff']:.3g} "
                f"(> {PREDICTION_TOLERANCE} relative)")
    return None


def export_and_check(spark: SparkSession, model: PipelineModel, scored: DataFrame, classes: bool,
                     package_uri: str, context: str = "", members: list | None = None) -> dict[str, Any]:
    """ONNX export + parity on `scored` (the test part as Spark scored it); writes model.onnx if both pass.
    `members`: an ensemble's (ensemble_model.Member), exported as one graph (onnx_ensemble) instead of `model`."""
    try:
        from zygarde.spark.onnx_export import Unsupported, export
        if members is not None:
            from zygarde.spark.onnx_ensemble import export as export_ensemble

            def export(_, session):
                return export_ensemble(members, session)
    except ImportError as exc:  # a Spark runtime without onnx / onnxmltools / onnxruntime
        return {"status": "unavailable", "reason": f"this Spark runtime cannot export ONNX ({exc})"}
    try:
        onnx_bytes, spec = export(model, spark)
    except Unsupported as exc:
        log.info("online export unavailable %s reason=%s", context, exc)
        return {"status": "unavailable", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a converter bug must not fail the finalisation
        log.warning("online export failed %s", context, exc_info=True)
        return {"status": "unavailable", "reason": f"ONNX export failed: {type(exc).__name__}: {str(exc)[:200]}"}
    try:
        result = parity(onnx_bytes, spec, scored, classes)
    except Exception as exc:  # noqa: BLE001
        log.warning("online parity failed %s", context, exc_info=True)
        return {"status": "unavailable", "reason": f"ONNX model could not score the test part: {str(exc)[:200]}"}
    reason = _failure(result, classes)
    if reason:
        log.info("online parity failed %s reason=%s", context, reason)
        return {"status": "unavailable", "reason": reason, "parity": result}
    uri = package_uri.rstrip("/") + "/" + ONNX_FILE
    hadoop_fs.write_bytes(spark, uri, onnx_bytes)
    log.info("online export written %s onnx_uri=%s bytes=%d parity_rows=%d", context, uri, len(onnx_bytes),
             result["rows"])
    return {"status": "available", "format": "onnx", "onnx_uri": uri, "onnx_bytes": len(onnx_bytes), **spec,
            "parity": result}
