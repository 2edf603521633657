"""The checks a submitted job passes before it is recorded, shared by the submit_job handler and
`zygarde submit`, so both give the same verdict in the same words.

Whatever bytes arrive, the outcome is a JobSpec or a SpecError / DatasetError with a readable
reason; only a TransientError (store or bucket unreachable) passes through, to be retried.
"""
from __future__ import annotations

import logging

from zygarde.domain.errors import DatasetError, PermanentError, SpecError, TransientError
from zygarde.domain.spec import JobSpec, parse_job_spec
from zygarde.service_layer import datasets, model_access
from zygarde.service_layer.ports import BlobStore, JobRepository

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
    """Raises DatasetError when the job's dataset cannot serve it (see datasets.check), its reason
    starting with the field it concerns (dataset.uri unless it names another)."""
    try:
        datasets.check(spec, blobs, bucket)
    except TransientError:
        raise
    except DatasetError as exc:
        raise DatasetError(_named(str(exc))) from None
    except PermanentError as exc:  # e.g. the bucket refuses the request
        raise DatasetError(f"dataset.uri: {spec.dataset.uri} cannot be read: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - as above
        log.exception("dataset check failed unexpectedly owner=%s error=%s", spec.owner, type(exc).__name__)
        raise DatasetError(f"dataset.uri: {spec.dataset.uri} could not be checked ({type(exc).__name__} in "
                           "Zygarde's dataset checks); please report it") from None


def _named(reason: str) -> str:
    """A dataset reason naming its field: the one it starts with, else dataset.uri."""
    if reason.startswith(("dataset.", "data.")):
        return reason
    return "dataset.uri: " + reason.removeprefix("dataset ")


def check_model_name(spec: JobSpec, job_id: str, repo: JobRepository) -> None:
    """Raises SpecError naming `name` (or `job_id`, the model's name by default) when the model the job
    would register under belongs to another user who has not granted the job's owner write access."""
    name = spec.name or job_id
    reason = model_access.registration_problem(repo, name, spec.owner)
    if reason is None:
        return
    if spec.name:
        raise SpecError([("name", reason)])
    raise SpecError([("job_id", f"a job's model is named after its job id unless name is set, and {reason}")])
