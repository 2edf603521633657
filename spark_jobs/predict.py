"""Dataproc Serverless entry point: score a dataset with a registered model version.

    predict.py --model-uri gs://.../models/NAME/JOB/model --input gs://.../data.csv --format csv
               [--options '{"sep": ";"}'] --output gs://.../predictions/

Writes the input's columns plus prediction, predicted_label (classification) and probability (an
array) as Parquet to --output. Exits 0 on success, 1 when scoring failed (one readable sentence in
the log) and 2 for unusable arguments.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger("zygarde.spark.predict")


def main(argv: list[str] | None = None, spark=None) -> int:
    """Scores one dataset. `spark`: an existing session (tests); by default one is created and stopped."""
    from zygarde.spark.dataset import FORMATS
    from zygarde.spark.failures import describe_failure
    from zygarde.spark.predict import score

    parser = argparse.ArgumentParser(prog="predict.py", description="Score a dataset with a Zygarde model.")
    parser.add_argument("--model-uri", required=True, help="the model directory of a registered version")
    parser.add_argument("--input", required=True, help="the dataset to score (gs:// or a path)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the dataset's format")
    parser.add_argument("--options", default="{}", help="reader options as a JSON object, e.g. {\"sep\": \";\"}")
    parser.add_argument("--output", required=True, help="where to write the predictions (Parquet)")
    try:
        args = parser.parse_args(argv)
        options = json.loads(args.options)
        if not isinstance(options, dict):
            raise ValueError("--options must be a JSON object")
    except SystemExit:
        return 2
    except ValueError as exc:
        log.error("unusable arguments: %s", exc)
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    own_session = spark is None
    if own_session:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.appName("zygarde-predict").getOrCreate()
    from zygarde.spark.entry import lock_down

    lock_down(spark)
    try:
        summary = score(spark, args.model_uri, args.input, args.format, options, args.output)
    except Exception as exc:  # noqa: BLE001 - report one sentence, never a stack trace
        kind, message = describe_failure(exc, "prediction")
        log.error("prediction failed model_uri=%s input=%s error_kind=%s error=%s", args.model_uri, args.input,
                  kind, message)
        return 1
    finally:
        if own_session:
            spark.stop()
    log.info("prediction done model_uri=%s rows=%d output=%s", args.model_uri, summary["rows"], summary["output"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
