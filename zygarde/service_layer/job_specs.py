"""A job's validated spec, parsed once per process per distinct spec."""
from __future__ import annotations

import json

from zygarde.domain.model import Job
from zygarde.domain.spec import JobSpec

_SPECS: dict[str, JobSpec] = {}
_BY_IDENTITY: dict[int, tuple[dict, JobSpec]] = {}  # holds the dict, so its id is not reused


def job_spec(job: Job) -> JobSpec:
    """The job's validated spec, parsed once per process per distinct spec (validation is the
    costliest step of a dispatch)."""
    hit = _BY_IDENTITY.get(id(job.spec))
    if hit is not None and hit[0] is job.spec:
        return hit[1]
    key = json.dumps(job.spec, sort_keys=True)
    spec = _SPECS.get(key)
    if spec is None:
        if len(_SPECS) > 10_000:
            _SPECS.clear()
            _BY_IDENTITY.clear()
        spec = _SPECS[key] = JobSpec.model_validate(job.spec)
    if len(_BY_IDENTITY) < 10_000:
        _BY_IDENTITY[id(job.spec)] = (job.spec, spec)
    return spec
