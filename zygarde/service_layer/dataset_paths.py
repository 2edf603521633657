"""Which dataset paths a job may read. Pure code.

The object-name rules live in zygarde.domain.dataset_paths (the batches check what they list with
them too); here, what needs Zygarde's configuration: in Zygarde's bucket a dataset lives under
`datasets/{owner}/`.
"""
from __future__ import annotations

from zygarde.config import prefix
from zygarde.domain.dataset_paths import (MAX_BRACE_PATTERNS, dataset_object_problem,  # noqa: F401 - re-exported
                                          expand_braces)


def owner_home(bucket: str, owner: str) -> str:
    """gs://BUCKET/datasets/{owner}/: where an owner's datasets live in Zygarde's bucket."""
    return f"gs://{bucket}/{prefix('datasets')}{owner}/"


def dataset_home(uri: str, owner: str, zygarde_bucket: str | None) -> str | None:
    """The owner's folder that every object a job reads from `uri` must lie under (its batch checks
    what it lists against it), or None for a dataset outside Zygarde's bucket."""
    if zygarde_bucket and uri.removeprefix("gs://").partition("/")[0] == zygarde_bucket and uri.startswith("gs://"):
        return owner_home(zygarde_bucket, owner)
    return None


def uri_problem(uri: str, owner: str, zygarde_bucket: str | None) -> str | None:
    """Why a job of `owner` may not read dataset `uri`, or None."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    try:
        names = expand_braces(name) if "{" in name or "}" in name else [name]
    except ValueError as exc:
        return f"dataset {uri}: its glob {exc}"
    for each in names:
        if (reason := dataset_object_problem(each)) is not None:
            return f"dataset {uri} {reason}"
    if zygarde_bucket and bucket == zygarde_bucket:
        home = owner_home(zygarde_bucket, owner)
        if not uri.startswith(home):
            return f"dataset {uri}: datasets in Zygarde's bucket live under {home} (the owner's folder)"
    return None
