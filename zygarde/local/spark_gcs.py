"""Spark settings that let a local Spark read and write gs:// against fake-gcs-server.

Uses the shaded GCS connector 2.2.6 shipped by the `pyspark-gcs` package. Two traps:
Hadoop 3.5's core-default.xml points fs.gs.impl at its own (absent) connector, and gives
fs.gs.* sizes as "64m"-style strings that connector 2.2.6 reads with getInt/getLong and
rejects, so every size the connector reads is set here as a plain byte count.
"""
from __future__ import annotations

from pathlib import Path

_JAR_NAME = "gcs-connector-hadoop3-2.2.6-shaded.jar"
_MIB = 1024 * 1024

# Sizes connector 2.2.6 parses as plain numbers. The first four have "Nm" defaults in Hadoop 3.5.
_BYTE_SIZES = {
    "fs.gs.block.size": 64 * _MIB,
    "fs.gs.outputstream.buffer.size": 8 * _MIB,
    "fs.gs.inputstream.inplace.seek.limit": 8 * _MIB,
    "fs.gs.inputstream.min.range.request.size": 2 * _MIB,
    "fs.gs.rewrite.max.chunk.size": 512 * _MIB,
    "fs.gs.outputstream.upload.chunk.size": 8 * _MIB,
    "fs.gs.outputstream.upload.cache.size": 0,
    "fs.gs.outputstream.pipe.buffer.size": _MIB,
    "fs.gs.io.buffersize.write": 8 * _MIB,
    "fs.gs.rewrite.max.bytes.per.call": 512 * _MIB,
}


def gcs_connector_jar() -> str:
    """Absolute path of the shaded GCS connector jar from the pyspark_gcs package."""
    import pyspark_gcs  # local import: only needed when Spark is about to start

    jar = Path(pyspark_gcs.__file__).parent / "jars" / _JAR_NAME
    if not jar.is_file():
        raise FileNotFoundError(f"GCS connector jar not found at {jar}; reinstall pyspark-gcs")
    return str(jar)


def hadoop_conf_for_emulator(storage_emulator_host: str, project: str = "local-project") -> dict[str, str]:
    """The fs.gs.* Hadoop settings (without the spark.hadoop. prefix) for fake-gcs-server."""
    root = storage_emulator_host.strip()
    if not root.startswith(("http://", "https://")):
        root = "http://" + root
    conf = {
        "fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
        "fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
        "fs.gs.storage.root.url": root.rstrip("/") + "/",
        "fs.gs.storage.service.path": "storage/v1/",
        "fs.gs.project.id": project,
        # No credentials at all: connector 2.2.x keys (fs.gs.auth.type is the 3.x key; set for clarity).
        "fs.gs.auth.service.account.enable": "false",
        "fs.gs.auth.null.enable": "true",
        "fs.gs.auth.type": "UNAUTHENTICATED",
        "fs.gs.outputstream.sync.min.interval.ms": "0",
        "fs.gs.http.max.retry": "3",
        "fs.gs.implicit.dir.repair.enable": "false",
    }
    conf.update({key: str(value) for key, value in _BYTE_SIZES.items()})
    return conf


def spark_conf_for_emulator(storage_emulator_host: str, project: str = "local-project") -> dict[str, str]:
    """Spark conf (spark.jars + spark.hadoop.fs.gs.*) for gs:// against `storage_emulator_host`
    (e.g. "http://127.0.0.1:4443", the value of STORAGE_EMULATOR_HOST)."""
    conf = {"spark.jars": gcs_connector_jar()}
    conf.update({f"spark.hadoop.{k}": v for k, v in hadoop_conf_for_emulator(storage_emulator_host, project).items()})
    return conf
