"""Structured (JSON lines) logging that Cloud Logging understands; key=value pairs in messages stay readable."""
from __future__ import annotations

import json
import logging
import re
import sys

_KV = re.compile(r"(\w+)=('[^']*'|\"[^\"]*\"|\S+)")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry = {"severity": record.levelname, "message": message, "logger": record.name,
                 "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S")}
        for key, value in _KV.findall(message):
            if key in ("job_id", "trial_id", "attempt", "batch_id", "owner", "message_id", "model", "version",
                       "rows", "latency_ms"):
                entry[key] = value.strip("'\"")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger("zygarde")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
