"""Identity tokens on google-auth: verifying them (the functions, the predict service, the web app's
IAP header) and fetching one (the CLI, the web app, the demo), plus one authenticated HTTP client.

Verification is `google.auth.jwt.decode` (the engine of `google.oauth2.id_token.verify_token`)
against public keys fetched from a certs URL (Google's, IAP's or the local cloud's, all "key id ->
PEM"), cached for an hour and fetched again for an unknown key id. A token is checked at a given
time, a Pub/Sub message's publish time, so that a redelivery hours later still verifies.

A client's token comes from, in order: $ZYGARDE_IDENTITY_TOKEN; on the local cloud its issuer
($ZYGARDE_LOCAL_TOKEN_URL, for $ZYGARDE_LOCAL_IDENTITY, else $ZYGARDE_OWNER, else $USER);
`google.oauth2.id_token.fetch_id_token` (a service account: key file or metadata server); the id_token
of ADC user credentials (`gcloud auth application-default login`); `gcloud auth print-identity-token`.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from zygarde.config import GOOGLE_CERTS_URL, GOOGLE_ISSUERS, env_name
from zygarde.domain.errors import TokenError, TransientError
from zygarde.domain.identity import ON_BEHALF_OF_HEADER, Identity, IdentityError
from zygarde.service_layer.ports import IdentityVerifier

log = logging.getLogger("zygarde")

MAX_CLOCK_SKEW_SECONDS = 300  # between the issuer's clock and the time a token is checked at
MAX_TOKEN_CHARS = 8192
CERTS_TTL_SECONDS = 3600
REFRESH_BEFORE_SECONDS = 300  # a client fetches a new token this long before its current one expires


class PublicCerts:
    """Public keys (key id -> PEM) from a URL, fetched at most once an hour unless asked to refresh."""

    def __init__(self, url: str, ttl: float = CERTS_TTL_SECONDS):
        self.url, self.ttl = url, ttl
        self._certs: dict[str, str] | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def get(self, refresh: bool = False) -> dict[str, str]:
        with self._lock:
            if refresh or self._certs is None or time.monotonic() - self._at > self.ttl:
                self._certs, self._at = self._fetch(), time.monotonic()
            return self._certs

    def _fetch(self) -> dict[str, str]:
        from google.auth import exceptions
        from google.auth.transport import requests as google_requests

        try:
            response = google_requests.Request()(self.url, method="GET", timeout=10)
        except exceptions.TransportError as exc:
            raise TransientError(f"the public keys at {self.url} could not be fetched: {exc}") from None
        if response.status != 200:
            raise TransientError(f"the public keys at {self.url} could not be fetched (HTTP {response.status})")
        try:
            certs = json.loads(response.data)
        except ValueError:
            raise TransientError(f"the public keys at {self.url} are not JSON") from None
        if not isinstance(certs, dict):
            raise TransientError(f"the public keys at {self.url} are not a key id -> PEM mapping")
        return certs


def decode_verified(token: str, certs: Callable[[bool], Mapping[str, str]], audiences: Sequence[str] | None,
                    at: datetime | None = None) -> dict[str, Any]:
    """The claims of `token` once its signature (against `certs(refresh)`), its audience (one of
    `audiences`; None: not checked) and its lifetime at time `at` (default now, give or take
    MAX_CLOCK_SKEW_SECONDS) hold. Raises TokenError, or TransientError when the keys cannot be fetched."""
    from google.auth import exceptions, jwt

    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise TokenError("it is not a JSON Web Token")
    now = datetime.now(timezone.utc)
    at = at or now
    # google-auth checks iat/exp against its own clock; widen its window to cover `at`, then check `at`
    skew = int(abs((now - at).total_seconds())) + MAX_CLOCK_SKEW_SECONDS + 1

    def decode(keys: Mapping[str, str]) -> dict[str, Any]:
        return dict(jwt.decode(token, certs=keys, audience=list(audiences) if audiences is not None else None,
                               clock_skew_in_seconds=skew))

    try:
        try:
            claims = decode(certs(False))
        except ValueError as exc:
            if "Certificate for key id" not in str(exc):
                raise
            claims = decode(certs(True))  # the issuer rotated its keys
    except (ValueError, exceptions.GoogleAuthError) as exc:
        raise TokenError(_why(exc)) from None
    moment = at.timestamp()
    try:
        iat, exp = float(claims["iat"]), float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        raise TokenError("it has no valid iat and exp") from None
    if moment < iat - MAX_CLOCK_SKEW_SECONDS:
        raise TokenError("it was issued after the time it is checked at")
    if moment > exp + MAX_CLOCK_SKEW_SECONDS:
        when = datetime.fromtimestamp(exp, timezone.utc).isoformat(timespec="seconds")
        raise TokenError(f"it expired at {when}, before {at.isoformat(timespec='seconds')}")
    return claims


def _why(exc: Exception) -> str:
    text = str(exc)
    if "Token has wrong audience" in text:
        return "it was issued for another audience"
    if "Could not verify token signature" in text or "Certificate for key id" in text:
        return "its signature does not verify against the issuer's public keys"
    if "Token expired" in text:
        return "it has expired"
    if "Token used too early" in text:
        return "it is not valid yet"
    return "it cannot be decoded (" + text[:120].replace("\n", " ") + ")"


class GoogleTokenVerifier(IdentityVerifier):
    """Google-signed OIDC identity tokens (or the local cloud's, with its certs URL and issuer)."""

    def __init__(self, audiences: Sequence[str], issuers: Sequence[str] = GOOGLE_ISSUERS,
                 certs_url: str = GOOGLE_CERTS_URL, certs: Mapping[str, str] | None = None):
        """certs (key id -> PEM) replaces fetching the certs URL: a fixed set of keys."""
        self.audiences, self.issuers = tuple(audiences), frozenset(issuers)
        self._certs = PublicCerts(certs_url) if certs is None else None
        self._fixed = dict(certs) if certs is not None else None

    def certs(self, refresh: bool = False) -> Mapping[str, str]:
        return self._fixed if self._fixed is not None else self._certs.get(refresh)

    def verify(self, token: str, at: datetime | None = None, audiences: Sequence[str] = ()) -> Identity:
        claims = decode_verified(token, self.certs, (*self.audiences, *audiences), at)
        if claims.get("iss") not in self.issuers:
            raise TokenError(f"its issuer {str(claims.get('iss'))[:100]!r} is not one Zygarde trusts")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise TokenError("it names no e-mail (a service account's token must be fetched with its e-mail)")
        if claims.get("email_verified") is False:
            raise TokenError("its e-mail is not verified")
        try:
            return Identity(email)
        except IdentityError as exc:
            raise TokenError(str(exc)) from None


# ---------------------------------------------------------------- clients: fetching a token
class TokenUnavailable(Exception):
    """No identity token can be had here; the message says how to get one."""


def _expiry(token: str) -> float:
    from google.auth import jwt

    try:
        return float(jwt.decode(token, verify=False).get("exp", 0))
    except (ValueError, TypeError):
        return 0.0


def token_email(token: str) -> str:
    """The e-mail a token names, read without verifying it: a client reading its own token."""
    from google.auth import jwt

    try:
        email = jwt.decode(token, verify=False).get("email")
    except (ValueError, TypeError):
        email = None
    if not isinstance(email, str) or not email:
        raise TokenUnavailable("the identity token names no e-mail")
    return email


def _local_token(url: str, email: str, audience: str) -> str:
    import requests

    try:
        response = requests.get(url, params={"email": email, "audience": audience}, timeout=10)
    except requests.RequestException as exc:
        raise TokenUnavailable(f"the local cloud's token issuer {url} cannot be reached: {exc}") from None
    if response.status_code != 200:
        raise TokenUnavailable(f"the local cloud's token issuer refused: {response.text[:200]}")
    return response.text.strip()


def _google_token(audience: str) -> str:
    from google.auth import exceptions

    try:
        import google.auth.transport.requests
        from google.oauth2 import id_token

        return id_token.fetch_id_token(google.auth.transport.requests.Request(), audience)
    except exceptions.GoogleAuthError:
        pass  # not a service account: try the user's credentials
    try:
        import google.auth
        import google.auth.transport.requests

        credentials, _ = google.auth.default()
        credentials.refresh(google.auth.transport.requests.Request())
        token = getattr(credentials, "id_token", None)
        if token:
            return token
    except exceptions.GoogleAuthError:
        pass
    try:
        done = subprocess.run(["gcloud", "auth", "print-identity-token"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is not None and done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip()
    raise TokenUnavailable(f"no identity token: set {env_name('identity_token')}, run `gcloud auth login`, or run "
                           "as a service account")


class TokenSource:
    """A client's identity token for `audience`, fetched once and again shortly before it expires."""

    def __init__(self, audience: str, identity: str | None = None, environ: Mapping[str, str] | None = None):
        """identity: on the local cloud, whom to ask its issuer for (default: from the environment)."""
        self.audience, self._identity = audience, identity
        self._env = os.environ if environ is None else environ
        self._token: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def local_identity(self) -> str | None:
        env = self._env
        return self._identity or env.get(env_name("local_identity")) or env.get("ZYGARDE_OWNER") or env.get("USER")

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or time.time() > self._token[0] - REFRESH_BEFORE_SECONDS:
                token = self._fetch()
                self._token = (_expiry(token), token)
            return self._token[1]

    def _fetch(self) -> str:
        given = self._env.get(env_name("identity_token"))
        if given:
            return given.strip()
        local = self._env.get(env_name("local_token_url"))
        if local:
            who = self.local_identity()
            if not who:
                raise TokenUnavailable("who are you? set ZYGARDE_OWNER (the local cloud issues a token for it)")
            return _local_token(local, who, self.audience)
        return _google_token(self.audience)


class AuthorizedClient:
    """One authenticated HTTP client: every request carries `Authorization: Bearer <token>` from a
    TokenSource (and, for a trusted delegate, the user it acts for in ON_BEHALF_OF_HEADER)."""

    def __init__(self, tokens: Callable[[], str], timeout: float = 30.0):
        import requests

        self.tokens, self.timeout = tokens, timeout
        self._session = requests.Session()

    def post(self, url: str, data: bytes, on_behalf_of: str | None = None, **headers: str):
        """The requests.Response. Raises TokenUnavailable, requests.RequestException."""
        headers = {**headers, "Authorization": "Bearer " + self.tokens()}
        if on_behalf_of:
            headers[ON_BEHALF_OF_HEADER] = on_behalf_of
        return self._session.post(url, data=data, headers=headers, timeout=self.timeout)
