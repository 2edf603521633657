"""Identity tokens for tests: a key made once per session (in this module, which every test imports
by one name), tokens from it, and the real verifier (zygarde.adapters.auth) holding its certificate."""
from __future__ import annotations

import functools
from datetime import datetime, timezone

from zygarde.adapters.auth import GoogleTokenVerifier
from zygarde.config import Settings, jobs_audience
from zygarde.domain.identity import identity_of_key, is_owner_key, token_attributes
from zygarde.local.identity import TokenIssuer

OWNER = "ana@example.com"
ISSUER = "https://issuer.zygarde.test"
DELEGATE = "zygarde-web@p.iam.gserviceaccount.com"  # a trusted delegate, as the web app is
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
PUBLISHED = "2026-01-01T00:00:01Z"  # the publish time Pub/Sub gives the unit tests' messages
SETTINGS = Settings(project="p", region="r", bucket="bkt", token_issuers=(ISSUER,), trusted_delegates=frozenset({DELEGATE}))


@functools.cache
def issuer() -> TokenIssuer:
    return TokenIssuer.generate(ISSUER)


def verifier(settings: Settings = SETTINGS) -> GoogleTokenVerifier:
    """The real verifier, with the test issuer's public certificate instead of a certs URL."""
    return GoogleTokenVerifier(settings.audiences, settings.token_issuers, certs=issuer().certs())


@functools.cache
def token(user: str = OWNER, issued_at: float = T0.timestamp()) -> str:
    """An identity token for `user`, issued at T0 and valid for an hour, for the jobs topic."""
    return issuer().mint(user, jobs_audience(SETTINGS.project), issued_at=issued_at)


def signed(user: str = OWNER, **attributes: str) -> dict[str, str]:
    """Message attributes carrying `user`'s token (and `attributes`)."""
    return {**token_attributes(token(user)), **attributes}


def sender_of(spec: object) -> str:
    owner = spec.get("owner") if isinstance(spec, dict) else None
    return identity_of_key(owner) if is_owner_key(owner) else OWNER




def fresh_token(user: str = OWNER, audience: str | None = None) -> str:
    """A token for `user` valid now (the HTTP path checks tokens against the clock)."""
    import time

    return issuer().mint(user, audience or jobs_audience(SETTINGS.project), issued_at=time.time())
