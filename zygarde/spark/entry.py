"""What the stage entry points (spark_jobs/prepare_data.py, train_pack.py, finalize_model.py)
share: read --request, own a SparkSession unless given one, run the stage, map the outcome to the
exit code. Exit codes: 0 succeeded, 1 failed (the result says why), 2 unreadable request (nowhere
to report), 3 the result itself could not be written."""
from __future__ import annotations

import argparse
import logging
from typing import Any, Callable


# Spark SQL would expand ${env:...}, ${system:...} and ${spark:...} in SQL text: off in every batch,
# local or on Dataproc, whoever launched it (no user text is parsed as SQL anyway).
SESSION_CONF = {"spark.sql.variable.substitute": "false"}


def lock_down(spark) -> None:
    """Sets SESSION_CONF on the batch's session."""
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)


def run_stage(argv: list[str] | None, spark, *, prog: str, description: str, request_type: type,
              execute: Callable[[Any, Any], Any], app_name: Callable[[Any], str],
              ids: Callable[[Any], str], done: Callable[[Any], str], log: logging.Logger) -> int:
    """`ids(request)`: the key=value ids for log lines; `done(result)`: the summary logged at the end."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--request", required=True, help=f"the {request_type.__name__} as JSON")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        request = request_type.from_json(args.request)
    except (ValueError, TypeError) as exc:
        log.error("unreadable --request, no result can be written: %s", exc)
        return 2
    own_session = spark is None
    if own_session:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.appName(app_name(request)).getOrCreate()
    lock_down(spark)
    try:
        result = execute(spark, request)
        log.info("done %s status=%s %s", ids(request), result.status, done(result))
        from zygarde.spark.handoff import serve

        serve(spark, request, ids(request))  # more of the job's work, when the request asks to wait for it
    except Exception as exc:  # noqa: BLE001 - the result write failed: the batch must fail loudly
        log.error("could not write the result %s uri=%s: %s", ids(request), getattr(request, "result_uri", None),
                  str(exc).splitlines()[0] if str(exc) else exc)
        return 3
    finally:
        if own_session:
            spark.stop()
    return 0 if result.status == "SUCCEEDED" else 1
