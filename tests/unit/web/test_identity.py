"""Who is signed in: the development sign-in locally, IAP's signed JWT on Google Cloud."""
from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import crypt, jwt

from tests.unit.web.conftest import add_job, csrf_token, sign_in
from zygarde.domain.errors import ConfigError
from zygarde.web.app import create_app
from zygarde.web.identity import NotSignedIn, verify_iap_jwt
from zygarde.web.settings import WebSettings

AUDIENCE = "/projects/123/locations/us-central1/services/zygarde-web"


@pytest.fixture(scope="module")
def iap_key():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return crypt.ES256Signer.from_string(pem, key_id="k1"), {"k1": public.decode()}


def iap_token(signer, email="ana@example.com", audience=AUDIENCE, issuer="https://cloud.google.com/iap"):
    now = int(time.time())
    return jwt.encode(signer, {"iss": issuer, "aud": audience, "email": email, "sub": "accounts.google.com:1",
                               "iat": now, "exp": now + 600}).decode()


def test_iap_jwt_is_verified_against_keys_and_audience(iap_key):
    signer, certs = iap_key
    assert verify_iap_jwt(iap_token(signer), AUDIENCE, certs) == "ana@example.com"
    with pytest.raises(NotSignedIn):
        verify_iap_jwt(iap_token(signer, audience="/projects/999/other"), AUDIENCE, certs)
    with pytest.raises(NotSignedIn):
        verify_iap_jwt(iap_token(signer, issuer="https://evil.example"), AUDIENCE, certs)
    other = crypt.ES256Signer.from_string(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), key_id="k1")
    with pytest.raises(NotSignedIn):
        verify_iap_jwt(iap_token(other), AUDIENCE, certs)


def test_behind_iap_the_user_comes_from_the_signed_header_only(iap_key, deps):
    signer, certs = iap_key
    settings = WebSettings(bucket="zb", iap_audience=AUDIENCE, secret_key="s")
    app = create_app(settings, deps, verify_jwt=lambda token, aud: verify_iap_jwt(token, aud, certs))
    add_job(deps.repo, "ana@example.com", "ana-job")
    client = app.test_client()
    # the plain e-mail header alone is not trusted
    resp = client.get("/jobs", headers={"x-goog-authenticated-user-email": "accounts.google.com:ana@example.com"})
    assert resp.status_code == 401 and "Identity-Aware Proxy" in resp.get_data(as_text=True)
    resp = client.get("/jobs", headers={"x-goog-iap-jwt-assertion": "not-a-jwt"})
    assert resp.status_code == 401
    resp = client.get("/jobs", headers={"x-goog-iap-jwt-assertion": iap_token(signer)})
    assert resp.status_code == 200 and "ana-job" in resp.get_data(as_text=True)
    assert client.get("/signin").status_code == 404  # no development sign-in behind IAP
    resp = client.get("/jobs/ana-job", headers={"x-goog-iap-jwt-assertion": iap_token(signer, "bob@example.com")})
    assert resp.status_code == 404


def test_dev_sign_in_only_against_the_local_cloud():
    env = {"ZYGARDE_BUCKET": "b", "ZYGARDE_WEB_DEV_LOGIN": "1"}
    with pytest.raises(ConfigError, match="local cloud only"):
        WebSettings.from_env(env)
    local = {**env, "PUBSUB_EMULATOR_HOST": "h:1", "FIRESTORE_EMULATOR_HOST": "h:2", "STORAGE_EMULATOR_HOST": "h:3"}
    assert WebSettings.from_env(local).dev_login
    with pytest.raises(ConfigError, match="IAP"):
        WebSettings.from_env({"ZYGARDE_BUCKET": "b"})
    cloud = WebSettings.from_env({"ZYGARDE_BUCKET": "b", "ZYGARDE_WEB_IAP_AUDIENCE": AUDIENCE,
                                  "ZYGARDE_WEB_ADMINS": "Root@Example.com"})
    assert not cloud.dev_login and cloud.signed_uploads and cloud.admins == {"root@example.com"}
    assert cloud.predict_url is None  # the model page then says no predict service is configured
    local = {**local, "ZYGARDE_PREDICT_URL": "http://127.0.0.1:8089"}  # set by the local cloud
    assert WebSettings.from_env(local).predict_url == "http://127.0.0.1:8089"


def test_sign_in_and_out(app):
    client = app.test_client()
    assert client.get("/jobs").headers["Location"].startswith("/signin")
    token = csrf_token(client)
    bad = client.post("/signin", data={"user": "<script>", "csrf_token": token})
    assert bad.status_code == 400 and "letters, digits" in bad.get_data(as_text=True)
    sign_in(client, "ana")
    assert "ana" in client.get("/jobs").get_data(as_text=True)
    client.post("/signout", data={"csrf_token": csrf_token(client, "/jobs")})
    assert client.get("/jobs").status_code == 302


@pytest.mark.parametrize("a, b", [("owner+a@zygarde.dev", "owner-a@zygarde.dev"),
                                  ("owner-a@zygarde.dev.", "owner-a@zygarde.dev")])
def test_two_addresses_are_two_owners_who_cannot_open_each_other_s_jobs(app, deps, a, b):
    """Issue 22: the owner key turned + into - and stripped dots, so these pairs were one owner."""
    from zygarde.domain.identity import owner_key

    add_job(deps.repo, owner_key(a), "first-job")
    first, second = (sign_in(app.test_client(), user) for user in (a, b))
    assert first.get("/jobs/first-job").status_code == 200
    assert second.get("/jobs/first-job").status_code == 404
    assert "first-job" not in second.get("/jobs").get_data(as_text=True)


@pytest.mark.parametrize("target", [
    "%2F%09%2Fevil.example%2F", "//evil.example/", "/%2Fevil.example/", "%2F%5Cevil.example", "/\\evil.example",
    "https://evil.example/", "%2F%0D%0A%2Fevil.example", "/%20/evil.example", "evil.example", "/%E3%80%80/evil",
    "%252F%252Fevil.example", "javascript:alert(1)",
])
def test_sign_in_follows_only_same_site_paths(app, target):
    """Issue 22: POST /signin?next=%2F%09%2Fevil.example%2F answered 302 to //evil.example/."""
    client = app.test_client()
    resp = client.post(f"/signin?next={target}", data={"user": "ana", "csrf_token": csrf_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/jobs", (target, resp.headers["Location"])


def test_sign_in_returns_to_the_page_asked_for(app, deps):
    add_job(deps.repo, "ana", "ana-job")
    client = app.test_client()
    first = client.get("/jobs/ana-job")
    assert first.status_code == 302 and "next=" in first.headers["Location"]
    resp = client.post(first.headers["Location"], data={"user": "ana", "csrf_token": csrf_token(client)})
    assert resp.headers["Location"] in ("/jobs/ana-job", "/jobs/ana-job?")


def test_iap_keys_are_fetched_once_and_again_when_iap_rotates_them(iap_key, monkeypatch):
    import json as _json
    from types import SimpleNamespace

    from google.auth.transport import requests as google_requests

    from zygarde.web import identity

    signer, certs = iap_key
    served = [{"old": next(iter(certs.values()))}, certs]  # first a key set without k1, then with it
    calls = []

    def fake_call(self, url, method="GET", **kwargs):
        calls.append(url)
        return SimpleNamespace(status=200, data=_json.dumps(served[min(len(calls) - 1, 1)]).encode())

    monkeypatch.setattr(google_requests.Request, "__call__", fake_call)
    monkeypatch.setattr(identity, "_iap_certs", None)
    assert verify_iap_jwt(iap_token(signer), AUDIENCE) == "ana@example.com"
    assert verify_iap_jwt(iap_token(signer), AUDIENCE) == "ana@example.com"
    assert calls == [identity.IAP_CERTS_URL, identity.IAP_CERTS_URL]  # the refresh, then the cache
