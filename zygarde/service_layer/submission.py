"""The checks a submitted job passes before it is recorded, shared by the submit_job handler and
`zygarde submit`, so both give the same verdict in the same words.

Whatever bytes arrive, the outcome is a JobSpec or a SpecError / DatasetError with a readable
reason; only a TransientError (store or bucket unreachable) passes through, to be retried.
"""
from __future__ import annotations

import logging

from zygarde.domain.errors import DatasetError, PermanentError, SpecError, TransientError
from zygarde.domain.spec import JobSpec, parse_job_spec
from zygarde.service_layer import datasets
from zygarde.service_layer.ports import BlobStore

log = logging.getLogger("zygarde")


def parse(raw: bytes | str) -> JobSpec:
    """The job's spec; raises SpecError (with a reason even for a defect of the checks themselves)."""
    try:
        return parse_job_spec(raw)
    except (SpecError, TransientError):
        raise
    except Exception as exc:  # noqa: BLE001 - a defect of the checks must not fail the message forever
        log.exception("spec check failed unexpectedly error=%s", type(exc).__name__)
        raise SpecError([("", f"the job could not be checked ({type(exc).__name__} in Zygarde's spec "
                              "checks); please report it")]) from None


def check_dataset(spec: JobSpec, blobs: BlobStore, bucket: str | None) -> None:
    """Raises DatasetError when the job's dataset cannot serve it (see datasets.check)."""
    try:
        datasets.check(spec, blobs, bucket)
    except (DatasetError, TransientError):
        raise
    except PermanentError as exc:  # e.g. the bucket refuses the request
        raise DatasetError(f"dataset {spec.dataset.uri} cannot be read: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - as above
        log.exception("dataset check failed unexpectedly owner=%s error=%s", spec.owner, type(exc).__name__)
        raise DatasetError(f"dataset {spec.dataset.uri} could not be checked ({type(exc).__name__} in "
                           "Zygarde's dataset checks); please report it") from None
