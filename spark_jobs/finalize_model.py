"""Dataproc Serverless entry point: finalise a job's winning model.

    finalize_model.py --request '<FinalizeRequest JSON>'

Scores the winner once on the test part, copies its PipelineModel to {package_uri}model, writes
{package_uri}manifest.json, then a FinalizeResult JSON to request.result_uri as its last act.
Exits 0 on success, 1 when finalisation failed (the result says why), 2 for an unreadable request
(nowhere to report) and 3 when the result could not be written.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger("zygarde.spark.finalize_model")


def main(argv: list[str] | None = None, spark=None) -> int:
    """Finalises one job's winner. `spark`: an existing session (tests); by default one is created and stopped."""
    from zygarde.domain.contracts import FinalizeRequest
    from zygarde.spark.package import execute

    parser = argparse.ArgumentParser(prog="finalize_model.py", description="Score and package a job's winner.")
    parser.add_argument("--request", required=True, help="the FinalizeRequest as JSON")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        request = FinalizeRequest.from_json(args.request)
    except (ValueError, TypeError) as exc:
        log.error("unreadable --request, no result can be written: %s", exc)
        return 2
    own_session = spark is None
    if own_session:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.appName(f"zygarde-{request.job_id}-finalize").getOrCreate()
    try:
        result = execute(spark, request)
    except Exception as exc:  # noqa: BLE001 - the result write failed: the batch must fail loudly
        log.error("could not write the finalisation result job_id=%s uri=%s: %s", request.job_id,
                  request.result_uri, str(exc).splitlines()[0] if str(exc) else exc)
        return 3
    finally:
        if own_session:
            spark.stop()
    log.info("finalisation done job_id=%s status=%s test_metrics=%s", result.job_id, result.status,
             json.dumps(result.test_metrics, sort_keys=True))
    return 0 if result.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
