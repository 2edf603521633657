"""Runs one batch script's main() for several requests in one process and one SparkSession, in order,
as a warm batch takes stage after stage: `python -m tests.unit.spark.batch_driver SCRIPT REQUEST...`.
Exits 0 when every request's main() returned 0, else the first other exit code."""
from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> int:
    script, *requests = argv
    from pyspark.sql import SparkSession

    entry = importlib.import_module(f"spark_jobs.{script.removesuffix('.py')}")
    spark = SparkSession.builder.getOrCreate()  # PYSPARK_SUBMIT_ARGS: the caller's master and conf
    try:
        codes = [entry.main(["--request", request], spark=spark) for request in requests]
    finally:
        spark.stop()
    return next((code for code in codes if code != 0), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
