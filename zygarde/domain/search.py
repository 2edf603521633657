"""Search strategies: turn a spec's candidates into trials."""
from __future__ import annotations

import itertools

from zygarde.domain import algorithms
from zygarde.domain.model import Trial
from zygarde.domain.spec import JobSpec


def trial_id(index: int) -> str:
    return f"t{index:04d}"


def grid(spec: JobSpec, job_id: str, now: str) -> list[Trial]:
    """Every combination of every candidate's values, in spec order, indexed from 0."""
    trials: list[Trial] = []
    for cand in spec.candidates:
        algo = algorithms.get(cand.algorithm)
        keys = sorted(cand.params)
        for values in itertools.product(*(cand.params[k] for k in keys)):
            params = {k: algo.params[k].coerce(v) for k, v in zip(keys, values)}
            idx = len(trials)
            trials.append(Trial(job_id=job_id, trial_id=trial_id(idx), index=idx, algorithm=cand.algorithm,
                                params=params, created_at=now))
    return trials


def expand(spec: JobSpec, job_id: str, now: str) -> list[Trial]:
    """The trials of a job, by its search strategy."""
    if spec.search.strategy == "grid":
        return grid(spec, job_id, now)
    raise ValueError(f"unknown search strategy {spec.search.strategy}")  # the spec forbids it
