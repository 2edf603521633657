"""Zygarde: tabular ML models trained on demand on Google Cloud.

`zygarde.Client` is the Python client (zygarde/client/); `zygarde.ZygardeError` the root of every error
Zygarde raises on purpose. Both are imported on first use, so `import zygarde` (a Spark batch, a
function) stays cheap and imports no Google library."""
from __future__ import annotations

from typing import Any

__all__ = ["Client", "Job", "JobStatus", "Model", "ZygardeError"]


def __getattr__(name: str) -> Any:
    if name in ("Client", "Job", "JobStatus", "Model"):
        from zygarde import client

        return getattr(client, name)
    if name == "ZygardeError":
        from zygarde.domain.errors import ZygardeError

        return ZygardeError
    raise AttributeError(f"module 'zygarde' has no attribute {name!r}")
