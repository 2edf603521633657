"""Starting and stopping a local[2] SparkSession for tests: its JVM is stopped by PID at the end,
so no Java process outlives the test session."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def local_session(app_name: str, conf: dict[str, str]) -> Iterator:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers (xgboost.spark) see this venv
    builder = SparkSession.builder.master("local[2]").appName(app_name)
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
