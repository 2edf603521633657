"""The first bytes of a text dataset (CSV, JSON lines), checked before Spark reads it, so that a file
that is not what the job says fails with one sentence naming the problem instead of binary column
names, a codec's message or a driver log: another format under a .csv name, binary content, text
that is not UTF-8, a compressed file that is corrupt or expands into one endless line."""
from __future__ import annotations

import logging
import posixpath

from pyspark.sql import SparkSession

from zygarde.domain.errors import DatasetError
from zygarde.spark.failures import DECOMPRESSION

log = logging.getLogger(__name__)

HEAD_BYTES = 1024 * 1024  # read (after decompression) from the first file; its first line must end within it
_MAGIC = (  # leading bytes -> what the file is
    (b"PAR1", "a Parquet file", "set the dataset format to parquet"),
    (b"PK\x03\x04", "a ZIP archive (an Excel workbook?)", "export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "an Office document (an old Excel workbook?)", "export the sheet as CSV"),
    (b"ORC", "an ORC file", "convert it to Parquet"),
    (b"Obj\x01", "an Avro file", "convert it to Parquet"),
    (b"%PDF", "a PDF document", "export the table as CSV"),
    (b"\x1f\x8b", "gzip-compressed", "name it with a .gz suffix so that it is decompressed"),
    (b"BZh91AY&SY", "bzip2-compressed", "name it with a .bz2 suffix so that it is decompressed"),
)


def text_problem(head: bytes, fmt: str, encoding: str | None = None, multiline: bool = False) -> str | None:
    """What is wrong with a text dataset whose first (decompressed) bytes are `head`, as the end of
    a sentence starting "the file NAME ...", or None when it looks like text of the format."""
    kind = "CSV" if fmt == "csv" else "JSON lines"
    for magic, what, fix in _MAGIC:
        if head.startswith(magic):
            return f"is {what}, not {kind} text; {fix}"
    utf8 = encoding is None or encoding.lower().replace("-", "").replace("_", "") == "utf8"
    if utf8 and head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "is UTF-16 text; save it as UTF-8"
    if utf8 and b"\x00" in head:
        return f"is binary (it contains NUL bytes), not {kind} text"
    if utf8:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3 or len(head) < HEAD_BYTES:  # not just a character cut at the end
                return (f"is not valid UTF-8 text (byte 0x{head[exc.start]:02X} at offset {exc.start}); save it as "
                        "UTF-8 or name its encoding in the dataset options, e.g. {\"encoding\": \"ISO-8859-1\"}")
    if len(head) >= HEAD_BYTES and b"\n" not in head and b"\r" not in head and not multiline:
        return (f"has a first line longer than {HEAD_BYTES // (1024 * 1024)} MB, which no {kind} header has "
                "(a compressed file that expands into one endless line?)")
    return None


def _head(spark: SparkSession, fs, path) -> bytes:
    """Up to HEAD_BYTES of the file, decompressed when its name has a codec's suffix (.gz, .bz2, ...)."""
    jvm, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(path)
    stream = fs.open(path)
    try:
        if codec is not None:
            stream = codec.createInputStream(stream)
        return bytes(stream.readNBytes(HEAD_BYTES))  # Java 9+: up to n bytes, fewer at the end
    finally:
        stream.close()


def check_text_input(spark: SparkSession, found, fmt: str, options: dict[str, str]) -> None:
    """Raises DatasetError when the first listed file (a zygarde.spark.listing.Listing) is not CSV /
    JSON lines text."""
    fs, path = found.fs, found.files[0].getPath()
    name = posixpath.basename(str(path.toString()))
    try:
        head = _head(spark, fs, path)
    except Exception as exc:  # the JVM's error, whatever its Python class
        text = str(exc)[:3000]
        if any(marker in text for marker in (*DECOMPRESSION, "EOFException")):
            raise DatasetError(f"the file {name} cannot be decompressed: it is truncated or corrupt, or its name "
                               "ends in a compression suffix (.gz) that does not match its content") from None
        raise
    lower = {k.lower(): v for k, v in options.items()}  # Spark's reader options ignore case
    problem = text_problem(head, fmt, lower.get("encoding") or lower.get("charset"),
                           str(lower.get("multiline", "")).lower() == "true")
    if problem:
        log.info("input refused file=%s format=%s", name, fmt)
        raise DatasetError(f"the file {name} {problem}")
