"""Code paths that Spark 3.5 (Dataproc Serverless runtime 2.x) takes, exercised on whichever Spark
runs the suite: they behave the same on 3.5 and 4.x, so the suite guards production on both."""
from __future__ import annotations

from pyspark.sql import functions as F

from zygarde.spark.failures import describe_failure
from zygarde.spark.resources import ResourceMeter


def test_a_missing_hadoop_input_path_is_a_data_failure(spark, tmp_path):
    """On Spark 3.5 PipelineModel.load reads {model}/metadata with sc.textFile, so a missing model is a
    Hadoop InvalidInputException (innermost cause a bare IOException), not an AnalysisException."""
    missing = tmp_path / "no-model" / "metadata"
    try:
        spark.sparkContext.textFile(str(missing)).first()
    except Exception as exc:  # noqa: BLE001 - the JVM's error, whatever its Python class
        kind, message = describe_failure(exc)
    else:
        raise AssertionError("reading a missing path succeeded")
    assert kind == "data"
    assert message.startswith("Input path does not exist") and str(missing) in message and "\n" not in message


def test_resource_meter_reads_stage_cpu_through_the_spark_3_4_signature(spark):
    """AppStatusStore.stageList takes five arguments from Spark 3.4 on (3.5 and 4.x alike): when the
    call fails the meter leaves executor_cpu_seconds out, so its presence shows the call worked."""
    meter = ResourceMeter(spark)
    assert spark.range(200_000).select(F.sum(F.sqrt("id"))).first()[0] > 0
    usage = meter.usage()
    assert usage.get("executor_cpu_seconds", -1.0) >= 0.0, usage
    assert usage.get("peak_memory_bytes", 0.0) > 0.0, usage
