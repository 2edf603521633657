"""Any exception from a batch -> (error_kind, one readable sentence), never a stack trace.

"data" means retrying cannot help (bad dataset, bad hyperparameters, a learner's own requirement);
"resource" means the stage ran out of memory: the same attempt would fail the same way, so it is not
retried identically; "runtime" is everything else (lost executors, I/O), which a new attempt may fix.
"""
from __future__ import annotations

import re

from zygarde.domain.errors import PermanentError

DATA, RESOURCE, RUNTIME = "data", "resource", "runtime"
_DATA_PYTHON = ("AnalysisException", "ParseException", "IllegalArgumentException", "NumberFormatException")
_DATA_JAVA = ("java.lang.IllegalArgumentException", "java.lang.NumberFormatException",
              "java.io.FileNotFoundException", "org.apache.spark.sql.AnalysisException")
# InvalidInputException: a Hadoop input path that does not exist, as Spark 3.5 reports a missing
# model (PipelineModel.load reads its metadata with sc.textFile; 4.x reads it as a DataFrame and
# raises PATH_NOT_FOUND). Its innermost cause is a plain java.io.IOException, hence a marker.
_DATA_MARKERS = ("USER_RAISED_EXCEPTION", "MALFORMED", "PATH_NOT_FOUND", "UNRESOLVED_COLUMN",
                 "NumberFormatException", "FileNotFoundException", "CAST_INVALID_INPUT", "InvalidInputException")
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
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    if line.startswith(_GENERIC[0]) and len(lines) > 1:
        line = lines[1].lstrip(": ")
    if (not line or line.startswith(_GENERIC)) and java_message:
        line = java_message.strip().splitlines()[0]
    return _readable(_clean(line))[:MAX_CHARS] or type(exc).__name__


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


def describe_failure(exc: BaseException, stage: str = "batch") -> tuple[str, str]:
    """(error_kind, one readable sentence) for a FAILED result; `stage` names the batch's work in the
    sentence ("data preparation", "training", "finalisation", "prediction")."""
    java_class, java_message = _java_root(exc)
    text = f"{str(exc)[:5000]} {java_class or ''} {java_message or ''}"
    if isinstance(exc, MemoryError) or any(marker in text for marker in _OUT_OF_MEMORY):
        return RESOURCE, _memory_sentence(stage, text)
    if any(marker in text for marker in DECOMPRESSION):
        return DATA, (f"the file{_file(text)} cannot be decompressed: it is truncated or corrupt, or its name "
                      "ends in a compression suffix (.gz) that does not match its content")
    message = _sentence(exc, java_message)
    if isinstance(exc, UnicodeError):
        return DATA, ("the file is not valid UTF-8 text; save it as UTF-8 or name its encoding in the dataset "
                      "options (\"encoding\")")
    searched = f"{str(exc)[:2000]} {java_message or ''}"
    data = (isinstance(exc, PermanentError) or type(exc).__name__ in _DATA_PYTHON or java_class in _DATA_JAVA
            or any(marker in searched for marker in _DATA_MARKERS))
    return (DATA if data else RUNTIME), message
