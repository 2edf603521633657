"""Zygarde's exception tree: one root, permanent vs transient at the top."""
from __future__ import annotations


class ZygardeError(Exception):
    """Root of every error Zygarde raises on purpose."""


class PermanentError(ZygardeError):
    """Retrying will not help: record it, acknowledge the message."""


class TransientError(ZygardeError):
    """Retrying may help (network, quota, contention): re-raise so Pub/Sub redelivers."""


class ConfigError(PermanentError):
    """The deployment is misconfigured (missing env var, bad setting)."""


class SpecError(PermanentError):
    """A job spec is invalid. `problems` is a list of (field path, reason)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {reason}" if path else reason for path, reason in self.problems))


class DatasetError(PermanentError):
    """The dataset cannot serve the job (missing, unreadable, no target column...)."""


class InvalidTransition(PermanentError):
    """A state change that the transition table does not allow."""


class Unstorable(PermanentError):
    """The store refuses a record as it is (too large, a value it cannot hold such as an integer beyond
    64 bits); nothing of it was written."""


class NotFound(PermanentError):
    """A job, trial or object that should exist does not."""


class AccessDenied(PermanentError):
    """Zygarde's service account may not read or write an object or bucket (e.g. a user's dataset)."""


class ModelNameTaken(PermanentError):
    """A model name that belongs to another user, who has not granted write access to the job's owner."""


class MessageError(PermanentError):
    """A Pub/Sub message or bucket notification that cannot be decoded."""


class TokenError(PermanentError):
    """An identity token that proves nothing: malformed, badly signed, expired, for another audience or
    issuer, or naming no e-mail."""


class BatchAlreadyExists(ZygardeError):
    """The batch id is taken: the launch already happened (a duplicate delivery)."""


class BatchNotFound(ZygardeError):
    """No batch with this id."""


class PreconditionFailed(ZygardeError):
    """An object write's generation precondition did not hold."""
