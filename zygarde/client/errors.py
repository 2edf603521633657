"""The client's own errors. Every one is a `zygarde.ZygardeError` (zygarde.domain.errors), as are the
spec and dataset errors it passes on unchanged (SpecError, DatasetError: the same one-sentence reasons,
naming the field, as the functions give), so `except zygarde.ZygardeError` catches all it raises on purpose."""
from __future__ import annotations

from zygarde.domain.errors import PermanentError, ZygardeError


class NotSignedIn(PermanentError):
    """No identity token could be had (see zygarde.adapters.auth.TokenSource for where one comes from)."""


class NotAllowed(PermanentError):
    """The signed-in user may not do this (another user's job, a model nobody shared with them)."""


class NoModel(PermanentError):
    """A job without a registered model (still running, or it ended without one)."""


class ExplanationsUnavailable(PermanentError):
    """The model version has no per-row attributions (or cannot serve online, where they are computed)."""


class PredictionFailed(PermanentError):
    """The predict service or a scoring batch refused or failed; the message says why."""


class WaitTimeout(ZygardeError, TimeoutError):
    """A job or a scoring batch did not end within the time given to wait for it."""
