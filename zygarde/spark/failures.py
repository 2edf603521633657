"""Any exception from a trial -> (error_kind, one readable sentence), never a stack trace.

"data" means retrying cannot help (bad dataset, bad hyperparameters, a learner's own requirement);
"runtime" is everything else (out of memory, lost executors, I/O), which a new attempt may fix.
"""
from __future__ import annotations

import re

from zygarde.domain.errors import PermanentError

_DATA_PYTHON = ("AnalysisException", "ParseException", "IllegalArgumentException", "NumberFormatException")
_DATA_JAVA = ("java.lang.IllegalArgumentException", "java.lang.NumberFormatException",
              "java.io.FileNotFoundException", "org.apache.spark.sql.AnalysisException")
# InvalidInputException: a Hadoop input path that does not exist, as Spark 3.5 reports a missing
# model (PipelineModel.load reads its metadata with sc.textFile; 4.x reads it as a DataFrame and
# raises PATH_NOT_FOUND). Its innermost cause is a plain java.io.IOException, hence a marker.
_DATA_MARKERS = ("USER_RAISED_EXCEPTION", "MALFORMED", "PATH_NOT_FOUND", "UNRESOLVED_COLUMN",
                 "NumberFormatException", "FileNotFoundException", "CAST_INVALID_INPUT", "InvalidInputException")
_GENERIC = ("An error occurred while calling", "Job aborted due to stage failure")
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


def _sentence(exc: BaseException, java_message: str | None) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    if line.startswith(_GENERIC[0]) and len(lines) > 1:
        line = lines[1].lstrip(": ")
    if (not line or line.startswith(_GENERIC)) and java_message:
        line = java_message.strip().splitlines()[0]
    return _clean(line)[:MAX_CHARS] or type(exc).__name__


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """(error_kind, one readable sentence) for a FAILED TrialResult."""
    java_class, java_message = _java_root(exc)
    message = _sentence(exc, java_message)
    data = (isinstance(exc, PermanentError) or type(exc).__name__ in _DATA_PYTHON or java_class in _DATA_JAVA
            or any(marker in f"{str(exc)[:2000]} {java_message or ''}" for marker in _DATA_MARKERS))
    return ("data" if data else "runtime"), message
