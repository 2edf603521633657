"""The web app's settings, from the environment (names in resources.json "web_env")."""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import MISSING, dataclass
from functools import lru_cache

from zygarde.config import canonical_identities, env_name, resources
from zygarde.domain.errors import ConfigError
from zygarde.settings_env import REQUIRED, csv_of, empty_is, flag, parse

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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebSettings:
        """From the environment (default os.environ), by the names in resources.json "web_env" (bucket,
        project, predict_url: "env"), parsed by pydantic-settings (zygarde/settings_env.py)."""
        env = os.environ if environ is None else environ
        local = all(env.get(v) for v in LOCAL_EMULATOR_VARS)
        names = {**{key: env_name(key) for key in ("bucket", "project", "predict_url")},
                 **{key: web_env_name(key) for key in resources()["web_env"]}}
        values = parse(cls, names, env, _env_fields())
        if values["dev_login"] and not local:
            raise ConfigError(f"{web_env_name('dev_login')} is for the local cloud only: "
                              f"set {', '.join(LOCAL_EMULATOR_VARS)} (zygarde local env) or unset it")
        if not values["dev_login"] and not values["iap_audience"]:
            raise ConfigError(f"set {web_env_name('iap_audience')} (IAP's audience, /projects/NUMBER/...) or, "
                              f"on the local cloud, {web_env_name('dev_login')}=1")
        return cls(**{**values, "secret_key": values["secret_key"] or secrets.token_hex(32)}, signed_uploads=not local)


def price_per_dcu_hour(environ: Mapping[str, str] | None = None) -> float:
    """ZYGARDE_WEB_PRICE_PER_DCU_HOUR (what the CLI's cost estimates use too), as WebSettings reads it."""
    return parse(WebSettings, {"price_per_dcu_hour": web_env_name("price_per_dcu_hour")}, environ)[
        "price_per_dcu_hour"]


@lru_cache(maxsize=1)
def _env_fields() -> dict:
    """The fields whose variable reads otherwise than their type: the bucket required and non-empty, a
    yes/no flag, empty meaning unset, the admins' comma-separated e-mails."""
    return {"bucket": (REQUIRED, MISSING), "dev_login": (flag(), MISSING),
            "iap_audience": (empty_is(None, str | None), MISSING), "predict_url": (empty_is(None, str | None), MISSING),
            "admins": (csv_of(canonical_identities), MISSING)}
