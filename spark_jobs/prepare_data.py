"""Dataproc Serverless entry point: prepare a job's data once, before any trial.

    prepare_data.py --request '<PrepareRequest JSON>'

Pins the input, writes the data report (report.json) and the train / validation / test parts as
Parquet under request.output_prefix, then a PrepareResult JSON to request.result_uri as its last act.
Exits 0 when the data can serve the job, 1 when it cannot or the preparation failed (the result says
why), 2 for an unreadable request (nowhere to report) and 3 when the result could not be written.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger("zygarde.spark.prepare_data")


def main(argv: list[str] | None = None, spark=None) -> int:
    """Prepares one job's data. `spark`: an existing session (tests); by default one is created and stopped."""
    from zygarde.domain.contracts import PrepareRequest
    from zygarde.spark.prepare import execute

    parser = argparse.ArgumentParser(prog="prepare_data.py", description="Prepare a Zygarde job's data.")
    parser.add_argument("--request", required=True, help="the PrepareRequest as JSON")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        request = PrepareRequest.from_json(args.request)
    except (ValueError, TypeError) as exc:
        log.error("unreadable --request, no result can be written: %s", exc)
        return 2
    own_session = spark is None
    if own_session:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.appName(f"zygarde-{request.job_id}-prepare").getOrCreate()
    try:
        result = execute(spark, request)
    except Exception as exc:  # noqa: BLE001 - the result write failed: the batch must fail loudly
        log.error("could not write the preparation result job_id=%s uri=%s: %s", request.job_id,
                  request.result_uri, str(exc).splitlines()[0] if str(exc) else exc)
        return 3
    finally:
        if own_session:
            spark.stop()
    log.info("preparation done job_id=%s status=%s rows=%s", result.job_id, result.status,
             json.dumps(result.rows, sort_keys=True))
    return 0 if result.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
