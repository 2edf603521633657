"""What the Firestore adapters share: retryable errors as TransientError."""
from __future__ import annotations

from google.api_core import exceptions as gexc

from zygarde.domain.errors import TransientError

_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.TooManyRequests,
              gexc.Aborted)


def transient(func):
    """Retryable Firestore errors become TransientError, so Pub/Sub redelivers quietly. That includes
    contention: a transaction aborted max_attempts times, which the library raises as a plain
    ValueError("Failed to commit transaction in 5 attempts.") from the last Aborted."""
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _TRANSIENT as exc:
            raise TransientError(f"firestore: {exc}") from exc
        except ValueError as exc:
            if isinstance(exc.__cause__, gexc.Aborted) or str(exc).startswith("Failed to commit transaction"):
                raise TransientError(f"firestore contention: {exc}") from exc
            raise
    wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
    return wrapper
