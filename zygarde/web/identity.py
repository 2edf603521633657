"""Who is signed in: on Google Cloud the user IAP let through, from its signed JWT header
(x-goog-iap-jwt-assertion, verified against IAP's public keys and the app's audience); on the local
cloud the user picked on the development sign-in page. Their jobs and datasets carry the owner key of
their e-mail (zygarde.domain.identity: injective, so two addresses never share an owner)."""
from __future__ import annotations

from typing import Callable

from flask import g, session

from zygarde.domain.identity import IdentityError, canonical_identity, owner_key
from zygarde.service_layer.insights import Viewer

IAP_JWT_HEADER = "x-goog-iap-jwt-assertion"
IAP_CERTS_URL = "https://www.gstatic.com/iap/verify/public_key"
IAP_ISSUER = "https://cloud.google.com/iap"


class NotSignedIn(Exception):
    """No verified user on this request."""


_iap_certs = None  # IAP's public keys (zygarde.adapters.auth.PublicCerts), fetched on first use


def iap_certs(refresh: bool = False) -> dict:
    """IAP's public keys (key id -> PEM), fetched at most once an hour (or when a key is unknown)."""
    global _iap_certs
    from zygarde.adapters.auth import PublicCerts

    if _iap_certs is None:
        _iap_certs = PublicCerts(IAP_CERTS_URL)
    return _iap_certs.get(refresh)


def verify_iap_jwt(token: str, audience: str, certs: dict | None = None) -> str:
    """The verified e-mail of an IAP JWT (google-auth's jwt.decode: ES256 signature against IAP's
    public keys, expiry, audience; then the issuer). `certs` (key id -> PEM) replaces fetching IAP's
    keys (tests). Raises NotSignedIn."""
    from zygarde.adapters.auth import decode_verified
    from zygarde.domain.errors import TokenError, TransientError

    try:
        claims = decode_verified(token, (lambda _refresh: certs) if certs is not None else iap_certs, [audience])
    except (TokenError, TransientError) as exc:
        raise NotSignedIn(f"the IAP assertion does not verify: {exc}") from None
    if claims.get("iss") != IAP_ISSUER:
        raise NotSignedIn("the IAP assertion has the wrong issuer")
    email = claims.get("email")
    if not email:
        raise NotSignedIn("the IAP assertion names no e-mail")
    return str(email)


def current_viewer(settings, headers, verify: Callable[[str, str], str] | None = None) -> Viewer:
    """The signed-in user as a Viewer (cached on flask.g). Raises NotSignedIn."""
    if "viewer" in g:
        return g.viewer
    if settings.dev_login:
        email = session.get("user")
        if not email:
            raise NotSignedIn("not signed in")
    else:
        token = headers.get(IAP_JWT_HEADER)
        if not token:
            raise NotSignedIn("no IAP assertion on the request")
        email = (verify or verify_iap_jwt)(token, settings.iap_audience)
    try:
        key = owner_key(email)
    except IdentityError as exc:
        raise NotSignedIn(str(exc)) from None
    g.viewer = Viewer(key, admin=canonical_identity(email) in settings.admins)
    g.email = canonical_identity(email)
    return g.viewer
