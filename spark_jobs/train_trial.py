"""Dataproc Serverless entry point: train and score one trial.

    train_trial.py --request '<TrialRequest JSON>'

Writes a TrialResult JSON to request.result_uri as its last act, then exits 0 when the trial
succeeded, 1 when it failed (the result says why), 2 for an unreadable request (nowhere to report)
and 3 when the result itself could not be written. The code lives in zygarde/spark (--py-files zip).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger("zygarde.spark.train_trial")


def main(argv: list[str] | None = None, spark=None) -> int:
    """Runs one trial. `spark`: an existing session (tests); by default one is created and stopped."""
    from zygarde.domain.contracts import TrialRequest
    from zygarde.spark.trial import execute

    parser = argparse.ArgumentParser(prog="train_trial.py", description="Train and score one Zygarde trial.")
    parser.add_argument("--request", required=True, help="the TrialRequest as JSON")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        request = TrialRequest.from_json(args.request)
    except (ValueError, TypeError) as exc:
        log.error("unreadable --request, no result can be written: %s", exc)
        return 2
    own_session = spark is None
    if own_session:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.appName(f"zygarde-{request.job_id}-{request.trial_id}").getOrCreate()
    try:
        result = execute(spark, request)
    except Exception as exc:  # noqa: BLE001 - the result write failed: the batch must fail loudly
        log.error("could not write the trial result job_id=%s trial_id=%s uri=%s: %s", request.job_id,
                  request.trial_id, request.result_uri, str(exc).splitlines()[0] if str(exc) else exc)
        return 3
    finally:
        if own_session:
            spark.stop()
    log.info("trial done job_id=%s trial_id=%s status=%s metrics=%s", result.job_id, result.trial_id,
             result.status, json.dumps(result.metrics, sort_keys=True))
    return 0 if result.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
