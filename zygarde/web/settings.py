"""The web app's settings, from the environment (names in resources.json "web_env")."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from zygarde.config import admin_identities, resources
from zygarde.domain.errors import ConfigError

LOCAL_EMULATOR_VARS = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")


def web_env_name(key: str) -> str:
    return resources()["web_env"][key]


@dataclass(frozen=True)
class WebSettings:
    """dev_login: a sign-in form picks the user (only against the local cloud); otherwise the user is
    the one in IAP's signed header, verified against iap_audience."""

    bucket: str
    project: str = "zygarde-local"
    dev_login: bool = False
    iap_audience: str | None = None
    admins: frozenset[str] = frozenset()
    price_per_dcu_hour: float = 0.06  # Dataproc Serverless standard tier, USD, us-central1
    max_upload_bytes: int = 256 * 1024 * 1024
    secret_key: str = ""
    signed_uploads: bool = False  # browsers PUT datasets straight to the bucket with a signed URL
    predict_url: str | None = None  # the predict service, for the model page's "Try a prediction"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "WebSettings":
        env = os.environ if environ is None else environ
        from zygarde.config import env_name

        def get(key: str, default: str = "") -> str:
            return env.get(web_env_name(key), default)

        local = all(env.get(v) for v in LOCAL_EMULATOR_VARS)
        dev_login = get("dev_login").lower() in ("1", "true", "yes")
        if dev_login and not local:
            raise ConfigError(f"{web_env_name('dev_login')} is for the local cloud only: "
                              f"set {', '.join(LOCAL_EMULATOR_VARS)} (zygarde local env) or unset it")
        audience = get("iap_audience") or None
        if not dev_login and not audience:
            raise ConfigError(f"set {web_env_name('iap_audience')} (IAP's audience, /projects/NUMBER/...) or, "
                              f"on the local cloud, {web_env_name('dev_login')}=1")
        bucket = env.get(env_name("bucket"))
        if not bucket:
            raise ConfigError(f"missing environment variable {env_name('bucket')}")
        return cls(
            bucket=bucket, project=env.get(env_name("project"), "zygarde-local"), dev_login=dev_login,
            iap_audience=audience,
            admins=admin_identities(get("admins")),
            price_per_dcu_hour=float(get("price_per_dcu_hour", "0.06")),
            max_upload_bytes=int(get("max_upload_bytes", str(256 * 1024 * 1024))),
            secret_key=get("secret_key") or secrets.token_hex(32),
            signed_uploads=not local,
            predict_url=env.get(env_name("predict_url")) or None,
        )
