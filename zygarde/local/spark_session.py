"""A local SparkSession whose JVM is stopped by PID on exit, so no Java process outlives its user
(the tests, the benchmarks)."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def local_session(app_name: str, conf: dict[str, str], master: str = "local[2]") -> Iterator:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers (xgboost.spark) see this venv
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    java = SparkContext._gateway.proc  # spark-submit execs into the JVM: this is the Java PID
    try:
        yield session
    finally:
        session.stop()
        SparkContext._gateway.shutdown()
        SparkContext._gateway = SparkContext._jvm = None
        java.terminate()
        try:
            java.wait(timeout=30)
        except subprocess.TimeoutExpired:
            java.kill()
            java.wait(timeout=10)
