"""The identity-token adapter (zygarde/adapters/auth.py) with real signatures: keys made here, served as
Google serves its certificates by the local cloud's token server on a loopback port, and checked by
google-auth. Nothing of the verification is mocked."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from google.auth import crypt, jwt

from tests.unit.identities import ISSUER, SETTINGS, issuer, verifier
from zygarde.adapters.auth import GoogleTokenVerifier, TokenSource, TokenUnavailable, token_email
from zygarde.config import GCLOUD_CLIENT_ID, jobs_audience
from zygarde.domain.errors import TokenError, TransientError
from zygarde.domain.identity import Identity
from zygarde.local import token_server
from zygarde.local.identity import TokenIssuer

AUDIENCE = jobs_audience(SETTINGS.project)
NOW = time.time()


def mint(user="ana@example.com", audience=AUDIENCE, **claims):
    return issuer().mint(user, audience, issued_at=claims.pop("issued_at", NOW), **claims)


def test_a_good_token_proves_its_e_mail_canonically():
    assert verifier().verify(mint("Ana.Lopez@Example.com")) == Identity("ana.lopez@example.com")
    assert verifier().verify(mint(audience=GCLOUD_CLIENT_ID)).key == "ana@example.com"  # gcloud's tokens
    assert verifier().verify(mint(audience="https://svc.example"), audiences=["https://svc.example"])


@pytest.mark.parametrize("token, words", [
    (lambda: TokenIssuer.generate(ISSUER).mint("ana@example.com", AUDIENCE, issued_at=NOW), "signature does not verify"),
    (lambda: mint(audience="https://elsewhere.example"), "another audience"),
    (lambda: mint(iss="https://accounts.evil.example"), "issuer"),
    (lambda: mint(email=None), "names no e-mail"),
    (lambda: mint(email_verified=False), "not verified"),
    (lambda: mint(issued_at=NOW - 7200), "expired"),
    (lambda: mint(issued_at=NOW + 7200), "not valid yet"),
    (lambda: "a.b.c", "cannot be decoded"),
    (lambda: "no-dots", "not a JSON Web Token"),
    (lambda: "x" * 9000, "not a JSON Web Token"),
    (lambda: jwt.encode(crypt.RSASigner.from_string(issuer().private_pem, "other-key"),
                        {"iss": ISSUER, "aud": AUDIENCE, "email": "a@b", "iat": int(NOW), "exp": int(NOW) + 60}).decode(),
     "signature does not verify"),
], ids=["other-key", "audience", "issuer", "no-email", "unverified-email", "expired", "future", "garbage", "no-dots",
        "huge", "unknown-key-id"])
def test_a_token_that_proves_nothing_is_refused_with_the_reason(token, words):
    with pytest.raises(TokenError, match=words):
        verifier().verify(token())


def test_an_unsigned_or_hmac_token_is_refused():
    import base64
    import json

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    claims = {"iss": ISSUER, "aud": AUDIENCE, "email": "ana@example.com", "iat": int(NOW), "exp": int(NOW) + 600}
    for alg in ("none", "HS256"):
        with pytest.raises(TokenError):
            verifier().verify(f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}.c2ln")


def test_a_token_is_checked_at_the_time_given_not_the_clock():
    old = mint(issued_at=NOW - 86400)  # valid yesterday for an hour
    with pytest.raises(TokenError, match="expired"):
        verifier().verify(old)
    at = datetime.fromtimestamp(NOW - 86400 + 1800, timezone.utc)
    assert verifier().verify(old, at=at).email == "ana@example.com"
    with pytest.raises(TokenError):
        verifier().verify(old, at=at + timedelta(hours=2))


@pytest.fixture
def certs_server():
    """The local cloud's token server, serving the test issuer's certificate (and tokens)."""
    server = token_server.serve("127.0.0.1", 0, issuer())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(timeout=10)


def test_keys_are_fetched_from_the_certs_url_once_and_again_for_an_unknown_key(certs_server, monkeypatch):
    base = f"http://127.0.0.1:{certs_server.server_port}"
    real = GoogleTokenVerifier([AUDIENCE], [ISSUER], certs_url=base + token_server.CERTS_PATH)
    fetched = []
    original = real._certs._fetch
    monkeypatch.setattr(real._certs, "_fetch", lambda: fetched.append(1) or original())
    assert real.verify(mint()).email == "ana@example.com"
    assert real.verify(mint("bob@example.com")).email == "bob@example.com"
    assert len(fetched) == 1  # cached
    with pytest.raises(TokenError, match="signature"):
        real.verify(TokenIssuer.generate(ISSUER).mint("eve@example.com", AUDIENCE, issued_at=NOW))
    assert len(fetched) == 2  # an unknown key id: fetched again (the issuer may have rotated its keys)


def test_unreachable_keys_are_a_transient_error_so_the_message_is_redelivered():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = GoogleTokenVerifier([AUDIENCE], [ISSUER], certs_url=f"http://127.0.0.1:{port}/certs")
    with pytest.raises(TransientError, match="could not be fetched"):
        dead.verify(mint())


def test_a_client_token_comes_from_the_environment_or_the_local_issuer(certs_server):
    given = mint("carol@example.com")
    assert TokenSource(AUDIENCE, environ={"ZYGARDE_IDENTITY_TOKEN": given})() == given
    local = {"ZYGARDE_LOCAL_TOKEN_URL": f"http://127.0.0.1:{certs_server.server_port}/token",
             "ZYGARDE_OWNER": "dave@example.com", "USER": "root"}
    source = TokenSource(AUDIENCE, environ=local)
    first = source()
    assert token_email(first) == "dave@example.com" and source() == first  # kept until near its expiry
    assert verifier().verify(first).email == "dave@example.com"
    web = TokenSource(AUDIENCE, environ={**local, "ZYGARDE_LOCAL_IDENTITY": "zygarde-web@p.iam.gserviceaccount.com"})
    assert token_email(web()) == "zygarde-web@p.iam.gserviceaccount.com"
    with pytest.raises(TokenUnavailable):
        TokenSource(AUDIENCE, environ={})()  # unit tests never ask Google (conftest)
