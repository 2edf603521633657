"""Who sent a message on the jobs topic, or a request to the predict service: the identity its token
proves, and the owner it acts for (its own key; a trusted delegate, such as the web app, may name the
user it acts for, whom it verified itself). Nothing here trusts what a message says about its sender."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Sequence

from zygarde.domain.errors import PermanentError, TokenError
from zygarde.domain.identity import (ON_BEHALF_OF_ATTRIBUTE, Identity, IdentityError, identity_of_key, joined_token,
                                     owner_key)
from zygarde.service_layer.ports import IdentityVerifier

# The owner recorded on a rejection whose sender could not be verified (and of a job file outside
# jobs/{owner}/): no owner key looks like it, so no user sees those records; admins do, and the log.
UNVERIFIED_OWNER = "(unverified)"
PUBLISH_HINT = "--attribute=token=$(gcloud auth print-identity-token)"


class Refused(PermanentError):
    """The sender is not proven, or may not act for the owner it names; the message is one sentence."""


@dataclass(frozen=True)
class Requester:
    """`identity` signed the token; it acts for the owner `key` (its own, unless it is a delegate)."""

    identity: Identity
    key: str

    @property
    def delegated(self) -> bool:
        return self.key != self.identity.key

    def describe(self) -> str:
        if not self.delegated:
            return self.identity.email
        return f"{self.identity.email} on behalf of {identity_of_key(self.key)}"


def authenticate(token: str | None, on_behalf_of: str | None, verifier: IdentityVerifier | None,
                 delegates: frozenset[str], at: datetime | None = None, audiences: Sequence[str] = ()) -> Requester:
    """The requester a token (and, for a trusted delegate, the user it names) proves. Raises Refused
    (one sentence, no token in it), TransientError when the issuer's keys cannot be fetched."""
    if not token:
        raise Refused(f"the message carries no identity token (attribute token): publish it with {PUBLISH_HINT}")
    if verifier is None:
        raise Refused("no identity verifier is configured here, so no sender can be proven")
    try:
        identity = verifier.verify(token, at=at, audiences=audiences)
    except TokenError as exc:
        raise Refused(f"the identity token proves no sender: {exc}") from None
    if on_behalf_of is None:
        return Requester(identity, identity.key)
    if identity.email not in delegates:
        raise Refused(f"{identity.email} may not act on behalf of another user ({ON_BEHALF_OF_ATTRIBUTE}): "
                      "only the trusted delegates may")
    try:
        return Requester(identity, owner_key(on_behalf_of))
    except IdentityError as exc:
        raise Refused(f"{ON_BEHALF_OF_ATTRIBUTE} names no user: {exc}") from None


def message_sender(attributes: Mapping[str, str], publish_time: str, verifier: IdentityVerifier | None,
                   delegates: frozenset[str], now: datetime) -> Requester:
    """The requester of a Pub/Sub message: its `token` attribute checked at its publish time (set by
    Pub/Sub, so a redelivery hours later still verifies; `now` when the message has none)."""
    return authenticate(joined_token(dict(attributes)), attributes.get(ON_BEHALF_OF_ATTRIBUTE), verifier,
                        delegates, publish_moment(publish_time) or now)


def bearer_caller(authorization: str | None, on_behalf_of: str | None, verifier: IdentityVerifier | None,
                  delegates: frozenset[str], audiences: Sequence[str] = ()) -> Requester:
    """The requester of an HTTP request: `Authorization: Bearer TOKEN`, checked now."""
    match = re.fullmatch(r"\s*Bearer\s+(\S+)\s*", authorization or "", flags=re.IGNORECASE)
    if match is None:
        raise Refused("the request carries no identity token: send Authorization: Bearer "
                      "$(gcloud auth print-identity-token)")
    return authenticate(match.group(1), on_behalf_of, verifier, delegates, audiences=audiences)


def publish_moment(text: str | None) -> datetime | None:
    """A Pub/Sub publish time (RFC 3339, up to nanoseconds) as a datetime; None if absent or unreadable."""
    if not text:
        return None
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text.strip())
    if match is None:
        return None
    fraction = (match.group(2) or "")[:6].ljust(6, "0")
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    try:
        return datetime.fromisoformat(f"{match.group(1)}.{fraction}{zone}")
    except ValueError:
        return None
