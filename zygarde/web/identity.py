"""Who is signed in: on Google Cloud the user IAP let through, from its signed JWT header
(x-goog-iap-jwt-assertion, verified against IAP's public keys and the app's audience); on the local
cloud the user picked on the development sign-in page."""
from __future__ import annotations

import re
from typing import Callable

from flask import g, session

from zygarde.service_layer.insights import Viewer

IAP_JWT_HEADER = "x-goog-iap-jwt-assertion"
IAP_CERTS_URL = "https://www.gstatic.com/iap/verify/public_key"
IAP_ISSUER = "https://cloud.google.com/iap"


class NotSignedIn(Exception):
    """No verified user on this request."""


def owner_name(email: str) -> str:
    """The owner name a user's jobs and datasets carry: the e-mail, lowercased, as one safe path
    segment (letters, digits, '.', '_', '@', '-')."""
    name = re.sub(r"[^a-z0-9._@-]", "-", email.strip().lower())[:128].strip(".")
    return name


_CERTS_TTL_SECONDS = 3600
_certs_cache: dict = {"at": 0.0, "certs": None}


def _iap_certs(refresh: bool = False) -> dict:
    """IAP's public keys (key id -> PEM), fetched at most once an hour (or when a key is unknown)."""
    import json
    import time

    from google.auth.transport import requests as google_requests

    if refresh or _certs_cache["certs"] is None or time.monotonic() - _certs_cache["at"] > _CERTS_TTL_SECONDS:
        response = google_requests.Request()(IAP_CERTS_URL, method="GET")
        if response.status != 200:
            raise NotSignedIn(f"IAP's public keys could not be fetched (HTTP {response.status})")
        _certs_cache.update(at=time.monotonic(), certs=json.loads(response.data))
    return _certs_cache["certs"]


def verify_iap_jwt(token: str, audience: str, certs: dict | None = None) -> str:
    """The verified e-mail of an IAP JWT (google-auth's jwt.decode: ES256 signature against IAP's
    public keys, expiry, audience; then the issuer). `certs` (key id -> PEM) replaces fetching IAP's
    keys (tests). Raises NotSignedIn."""
    from google.auth import exceptions, jwt

    def decode(keys: dict) -> dict:
        return jwt.decode(token, certs=keys, audience=audience)

    try:
        if certs is not None:
            claims = decode(certs)
        else:
            try:
                claims = decode(_iap_certs())
            except ValueError as exc:
                if "Certificate for key id" not in str(exc):
                    raise
                claims = decode(_iap_certs(refresh=True))  # IAP rotated its keys
    except (ValueError, exceptions.GoogleAuthError) as exc:
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
    g.viewer = Viewer(owner_name(email), admin=email.lower() in settings.admins)
    g.email = email
    return g.viewer
