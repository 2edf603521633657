"""Any exception from a batch -> (error_kind, one readable sentence), never a stack trace and never a
data value.

The kinds (zygarde.domain.contracts) decide retries: only "runtime" (lost executors, I/O, anything
not known to repeat) is retried. "data": the dataset, the selection or a value in it (Spark's ANSI
errors: a cast, an overflow, a division by zero, translated by zygarde.domain.value_free without the
value); "resource": out of memory (not retried with the same memory; the reason says which stage and
what to change); "deterministic": the same input breaks the same code the same way (a stack
overflow, an unsupported operation, a Python type error); "time_limit": the stage was stopped at its
time limit (zygarde.spark.time_limit). Any other Spark text is scrubbed of quoted values.
"""
from __future__ import annotations

import re

from zygarde.domain.contracts import DATA, DETERMINISTIC, RESOURCE, RUNTIME, TIME_LIMIT
from zygarde.domain.errors import PermanentError
from zygarde.domain.value_free import scrub, translate
from zygarde.spark import time_limit

__all__ = ["DATA", "DETERMINISTIC", "RESOURCE", "RUNTIME", "TIME_LIMIT", "DECOMPRESSION", "describe_failure",
           "value_error"]
_DATA_PYTHON = ("AnalysisException", "ParseException", "IllegalArgumentException", "NumberFormatException")
_DATA_JAVA = ("java.lang.IllegalArgumentException", "java.lang.NumberFormatException",
              "java.io.FileNotFoundException", "org.apache.spark.sql.AnalysisException")
# InvalidInputException: a Hadoop input path that does not exist, as Spark 3.5 reports a missing
# model (PipelineModel.load reads its metadata with sc.textFile; 4.x reads it as a DataFrame and
# raises PATH_NOT_FOUND). Its innermost cause is a plain java.io.IOException, hence a marker.
_DATA_MARKERS = ("USER_RAISED_EXCEPTION", "MALFORMED", "PATH_NOT_FOUND", "UNRESOLVED_COLUMN",
                 "NumberFormatException", "FileNotFoundException", "CAST_INVALID_INPUT", "InvalidInputException")
# Failures another attempt would repeat: the same plan on the same data breaks the same way.
_DETERMINISTIC_PYTHON = ("TypeError", "ValueError", "KeyError", "AttributeError", "IndexError", "AssertionError",
                         "ZeroDivisionError", "NotImplementedError", "RecursionError", "PySparkTypeError",
                         "PySparkValueError", "PySparkAssertionError", "UnsupportedOperationException",
                         "ArrayIndexOutOfBoundsException")
_DETERMINISTIC_JAVA = ("java.lang.StackOverflowError", "java.lang.UnsupportedOperationException",
                       "org.apache.spark.SparkUnsupportedOperationException", "java.lang.ClassCastException",
                       "scala.MatchError", "java.lang.ArrayIndexOutOfBoundsException",
                       "java.lang.NegativeArraySizeException", "org.apache.spark.SparkArithmeticException")
_STACK = ("StackOverflowError",)
_OUT_OF_MEMORY = ("OutOfMemoryError", "Java heap space", "GC overhead limit exceeded", "Requested array size exceeds",
                  "exceeding memory limits", "Unable to acquire", "Cannot grow BufferHolder")
DECOMPRESSION = ("Not in GZIP format", "not a gzip file", "Unexpected end of input stream", "Corrupt GZIP trailer",
                 "invalid stored block lengths", "invalid block type", "invalid distance", "incorrect header check",
                 "invalid code lengths", "too many length or distance symbols", "ZipException")
_GENERIC = ("An error occurred while calling", "Job aborted due to stage failure")
_STAGE_ADVICE = {
    "data preparation": "or select fewer columns (data.include_columns / data.exclude_columns)",
    "training": "or select fewer columns (data.include_columns / data.exclude_columns)",
    "finalisation": "or select fewer columns (data.include_columns / data.exclude_columns)",
    "prediction": "or score the data in smaller files",
}
MAX_CHARS = 500


def _java_root(exc: BaseException) -> tuple[str | None, str | None]:
    """(class name, message) of the innermost Java cause, when the error came from the JVM."""
    java = getattr(exc, "java_exception", None) or getattr(getattr(exc, "_origin", None), "java_exception", None)
    if java is None:
        return None, None
    try:
        for _ in range(20):
            cause = java.getCause()
            if cause is None:
                break
            java = cause
        return str(java.getClass().getName()), (str(java.getMessage()) if java.getMessage() else None)
    except Exception:  # noqa: BLE001 - the JVM may be gone
        return None, None


def _clean(line: str) -> str:
    cause = re.search(r"most recent failure: Lost task .*?\): (.*)$", line)
    if cause:
        line = cause.group(1)
    line = re.sub(r"^(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error): ", "", line.strip())
    line = re.sub(r"^\[USER_RAISED_EXCEPTION\]\s*", "", line)
    line = re.sub(r"^requirement failed:\s*", "", line)
    return re.sub(r"\s*SQLSTATE: \w+\.?\s*$", "", line)


def _readable(text: str) -> str:
    """Text without control characters or undecodable bytes (a binary file's bytes never reach a reason)."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd\ufeff\ud800-\udfff]", "", text)


def _sentence(exc: BaseException, java_message: str | None) -> str:
    if isinstance(exc, PermanentError):  # Zygarde's own sentence: it names what it shows on purpose
        own = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        return _readable(own[0] if own else "")[:MAX_CHARS] or type(exc).__name__
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    if line.startswith(_GENERIC[0]) and len(lines) > 1:
        line = lines[1].lstrip(": ")
    if (not line or line.startswith(_GENERIC)) and java_message:
        line = java_message.strip().splitlines()[0]
    return scrub(_readable(_clean(line)))[:MAX_CHARS] or type(exc).__name__


def _file(text: str) -> str:
    found = re.search(r"while reading file (\S+?)\.?(?:\s|$)", text)
    return f" {found.group(1)}" if found else ""


def _memory_sentence(stage: str, text: str) -> str:
    detail = next((m for m in ("Java heap space", "GC overhead limit exceeded", "exceeding memory limits")
                   if m in text), "out of memory")
    where = "an executor" if ("Lost task" in text or "stage failure" in text) else "the driver"
    advice = _STAGE_ADVICE.get(stage, "or give it less data at once")
    return (f"the {stage} ran out of memory in {where} ({detail}); give the batch more memory "
            f"(spark.driver.memory / spark.executor.memory) {advice}")


def value_error(exc: BaseException) -> str | None:
    """A value-free sentence when `exc` is an error a data value caused (zygarde.domain.value_free), else None."""
    java_class, java_message = _java_root(exc)
    return translate(f"{str(exc)[:5000]} {java_message or ''}", java_class)


def describe_failure(exc: BaseException, stage: str = "batch") -> tuple[str, str]:
    """(error_kind, one readable sentence) for a FAILED result; `stage` names the batch's work in the
    sentence ("data preparation", "training", "finalisation", "prediction")."""
    limit = time_limit.exceeded()
    if limit is not None:
        return TIME_LIMIT, (f"the {stage} ran past its time limit of {limit:.0f} s (set from its predicted cost) "
                            "and was stopped; another attempt would be stopped too")
    java_class, java_message = _java_root(exc)
    text = f"{str(exc)[:5000]} {java_class or ''} {java_message or ''}"
    if isinstance(exc, MemoryError) or any(marker in text for marker in _OUT_OF_MEMORY):
        return RESOURCE, _memory_sentence(stage, text)
    if any(marker in text for marker in DECOMPRESSION):
        return DATA, (f"the file{_file(text)} cannot be decompressed: it is truncated or corrupt, or its name "
                      "ends in a compression suffix (.gz) that does not match its content")
    if isinstance(exc, UnicodeError):
        return DATA, ("the file is not valid UTF-8 text; save it as UTF-8 or name its encoding in the dataset "
                      "options (\"encoding\")")
    if isinstance(exc, RecursionError) or any(marker in text for marker in _STACK):
        return DETERMINISTIC, (f"the {stage} ran out of stack space (a StackOverflowError: an expression or plan "
                               f"too deep for this data), as another attempt would; "
                               f"{_STAGE_ADVICE.get(stage, 'give it less data at once').removeprefix('or ')}")
    value = translate(text, java_class)
    if value is not None:
        return DATA, f"the {stage} failed on a value of the data: {value}"
    message = _sentence(exc, java_message)
    searched = f"{str(exc)[:2000]} {java_message or ''}"
    if (isinstance(exc, PermanentError) or type(exc).__name__ in _DATA_PYTHON or java_class in _DATA_JAVA
            or any(marker in searched for marker in _DATA_MARKERS)):
        return DATA, message
    if (type(exc).__name__ in _DETERMINISTIC_PYTHON or java_class in _DETERMINISTIC_JAVA
            or any(f"{name}:" in searched for name in _DETERMINISTIC_JAVA)):
        return DETERMINISTIC, message
    return RUNTIME, message
