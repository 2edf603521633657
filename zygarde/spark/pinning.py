"""Pinning a job's input: exactly which bytes the preparation read (files, sizes, modification time,
checksum, GCS generation), through Hadoop's FileSystem API so gs:// and local paths work alike.

The checksum of a gs:// object is its CRC32C from the object's metadata (no data is read); elsewhere
the file system's own checksum, or else a SHA-256 of the content computed in the JVM when the input is
small enough. Best effort beyond size and time: what cannot be obtained is None.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from pyspark.sql import SparkSession

from zygarde.spark.listing import list_dataset

log = logging.getLogger(__name__)

HASH_MAX_BYTES = 1 << 30  # content hashes (when the file system has no checksum) up to this total size
MAX_OBJECTS = 1000  # per-file details kept in the fingerprint
# Where connector classes live: 2.2.x shades gcsio, 3.x does not.
_GCSIO = ("com.google.cloud.hadoop.repackaged.gcs.com.google.cloud.hadoop.gcsio", "com.google.cloud.hadoop.gcsio")


def _iso(millis: int) -> str:
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _hex(data) -> str | None:
    return bytes(data).hex() if data is not None and len(data) else None


def _gcs_object(spark: SparkSession, fs, path) -> dict[str, Any] | None:
    """Generation and CRC32C of a gs:// object from its metadata, or None (not GCS, other connector)."""
    if path.toUri().getScheme() != "gs":
        return None
    jvm = spark.sparkContext._jvm
    try:
        gcs = fs.getGcsFs().getGcs()
    except Exception:  # noqa: BLE001 - another connector version
        return None
    for package in _GCSIO:
        try:
            resource = getattr(jvm, package + ".StorageResourceId").fromUriPath(path.toUri(), False)
            info = gcs.getItemInfo(resource)
            checks = info.getVerificationAttributes()
            crc = _hex(checks.getCrc32c()) if checks is not None else None
            md5 = _hex(checks.getMd5hash()) if checks is not None else None
            return {"generation": int(info.getContentGeneration()), "crc32c": crc, "md5": md5}
        except Exception:  # noqa: BLE001 - try the next package name
            continue
    return None


def _fs_checksum(spark: SparkSession, path) -> str | None:
    """The file system's own checksum (HDFS, or GCS with fs.gs.checksum.type), as algorithm:hex."""
    jvm = spark.sparkContext._jvm
    conf = jvm.org.apache.hadoop.conf.Configuration(spark.sparkContext._jsc.hadoopConfiguration())
    conf.set("fs.gs.checksum.type", "CRC32C")
    fs = jvm.org.apache.hadoop.fs.FileSystem.newInstance(path.toUri(), conf)
    try:
        checksum = fs.getFileChecksum(path)
        value = _hex(checksum.getBytes()) if checksum is not None else None
        algorithm = str(checksum.getAlgorithmName()).lower() if value else ""
        if algorithm == "composite-crc32c" and path.toUri().getScheme() == "gs":
            algorithm = "crc32c"  # the object's own CRC32C, as in its metadata
        return f"{algorithm}:{value}" if value else None
    except Exception:  # noqa: BLE001 - not supported by this file system
        return None
    finally:
        fs.close()


def _content_sha256(spark: SparkSession, fs, path) -> str:
    stream = fs.open(path)
    try:
        return "sha256:" + str(spark.sparkContext._jvm.org.apache.commons.codec.digest.DigestUtils.sha256Hex(stream))
    finally:
        stream.close()


def fingerprint(spark: SparkSession, uri: str, home: str | None = None) -> dict[str, Any]:
    """{uri, files, size, modification_time, checksum, generation, objects}: checksum is one
    "algorithm:hex" string (for several files, a SHA-256 over their paths, sizes and checksums);
    generation is the GCS generation of a single-object input. The files are those of the one
    checked listing (zygarde.spark.listing; `home`: the owner's folder)."""
    found = list_dataset(spark, uri, home)
    fs, files = found.fs, list(found.files)
    size = sum(int(f.getLen()) for f in files)
    objects = []
    for status in files:
        path = status.getPath()
        obj = {"path": str(path), "size": int(status.getLen()), "modification_time": _iso(status.getModificationTime()),
               "checksum": None, "generation": None}
        if len(files) <= MAX_OBJECTS:
            gcs = _gcs_object(spark, fs, path)
            if gcs:
                obj["generation"] = gcs["generation"]
                obj["checksum"] = f"crc32c:{gcs['crc32c']}" if gcs["crc32c"] else None
            obj["checksum"] = obj["checksum"] or _fs_checksum(spark, path)
            if obj["checksum"] is None and size <= HASH_MAX_BYTES:
                obj["checksum"] = _content_sha256(spark, fs, path)
        objects.append(obj)
    if len(objects) == 1:
        checksum = objects[0]["checksum"]
    elif all(o["checksum"] for o in objects):
        lines = "".join(f"{o['path']}\t{o['size']}\t{o['checksum']}\n" for o in objects)
        checksum = "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest()
    else:
        checksum = None
    return {"uri": uri, "files": len(objects), "size": size,
            "modification_time": _iso(max(int(f.getModificationTime()) for f in files)),
            "checksum": checksum, "generation": objects[0]["generation"] if len(objects) == 1 else None,
            "objects": objects[:MAX_OBJECTS]}
