"""Resource names (from resources.json, shared with terraform) and runtime settings from env."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources as _package_files


@lru_cache(maxsize=1)
def resources() -> dict:
    """The single definition of topics, subscriptions, collections, prefixes and env var names
    (read as package data, so it also works from the zip shipped to Spark)."""
    return json.loads(_package_files.files("zygarde").joinpath("resources.json").read_text())


def topic(key: str) -> str:
    return resources()["topics"][key]


def collection(key: str) -> str:
    return resources()["collections"][key]


def prefix(key: str) -> str:
    return resources()["bucket_prefixes"][key]


def object_filter(prefix_key: str) -> str:
    """The Pub/Sub subscription filter that lets through bucket notifications of objects under a prefix
    (terraform writes the same expression)."""
    return f'hasPrefix(attributes.objectId, "{prefix(prefix_key)}")'


def subscription_routes() -> list[dict]:
    """Every push subscription feeding a function: {name, function, topic, object_prefix, filter}. Each
    function's own subscription, then the bucket routes (on the bucket notification's topic)."""
    res = resources()
    routes = [{"name": res["subscriptions"][fn["subscription"]], "function": key, "topic": fn["topic"],
               "object_prefix": prefix(fn["object_prefix_key"]) if "object_prefix_key" in fn else None}
              for key, fn in res["functions"].items()]
    [note] = res["bucket_notifications"]
    routes += [{"name": res["subscriptions"][r["subscription"]], "function": r["function"], "topic": note["topic"],
                "object_prefix": prefix(r["object_prefix_key"])} for r in res["bucket_routes"].values()]
    for route in routes:
        route["filter"] = f'hasPrefix(attributes.objectId, "{route["object_prefix"]}")' if route["object_prefix"] else None
    return routes


def env_name(key: str) -> str:
    return resources()["env"][key]


# Google's identity tokens (docs/deploy.md, "Threat model"): where their public keys are, who issues them,
# and the OAuth clients that `gcloud auth print-identity-token` and ADC user credentials mint them for.
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GCLOUD_CLIENT_ID = "32555940559.apps.googleusercontent.com"
ADC_CLIENT_ID = "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com"


def jobs_audience(project: str) -> str:
    """The audience a service account asks its identity token for when it publishes to the jobs topic."""
    return f"//pubsub.googleapis.com/projects/{project}/topics/{topic('jobs')}"


def canonical_identities(emails: tuple[str, ...]) -> frozenset[str]:
    """E-mails as canonical identities (domain/identity.py)."""
    from zygarde.domain.identity import canonical_identity

    return frozenset(canonical_identity(email) for email in emails)


@lru_cache(maxsize=1)
def _env_fields() -> dict:
    """How Settings.from_env reads the fields whose variable differs from their type and default: required
    and non-empty, another default, empty meaning the default, comma-separated lists."""
    from dataclasses import MISSING

    from zygarde.settings_env import REQUIRED, csv_of, empty_is

    return {"project": (REQUIRED, MISSING), "bucket": (REQUIRED, MISSING),
            "region": (str, "us-central1"),
            "batch_container_image": (empty_is(None, str | None), MISSING),
            "token_certs_url": (empty_is(GOOGLE_CERTS_URL), MISSING),
            "token_issuers": (csv_of(lambda parts: parts or GOOGLE_ISSUERS), MISSING),
            "token_audiences": (csv_of(), MISSING), "predict_warm": (csv_of(), MISSING),
            "trusted_delegates": (csv_of(lambda parts: frozenset(p.lower() for p in parts)), MISSING),
            "admins": (csv_of(canonical_identities), MISSING)}


@dataclass(frozen=True)
class Settings:
    """Everything a handler needs to know about where it runs. Built from the environment once, in bootstrap."""

    project: str
    region: str
    bucket: str
    code_version: str = "dev"
    max_concurrent_batches: int = 4
    spark_service_account: str | None = None
    dataproc_endpoint: str | None = None  # e.g. http://127.0.0.1:8086 for the local Dataproc
    dataproc_runtime_version: str = "3.0"  # Spark 4.0, Java 21, Python 3.12 (docs/deploy.md)
    dataproc_subnet: str | None = None
    batch_ttl: str = "14400s"
    batch_container_image: str | None = None  # the batches' image (container/Dockerfile); None: the runtime's
    # A batch's fixed cost before it fits anything (creation, JVM, session, data): packs are sized
    # against it. About a minute on Dataproc Serverless; the local cloud measures its own.
    batch_startup_seconds: float = 60.0
    pack_concurrency: int = 3  # trials a pack batch fits at once (12 cores / about 4 per fit)
    # How long a batch whose work is done waits for more of its job's work (a warm handoff: the next
    # pack, the finalisation) before it exits; 0: never. Far less than a new batch's start-up.
    handoff_seconds: float = 20.0
    # Identity tokens on the jobs topic and the predict service: where the issuers' public keys are, which
    # issuers and audiences are accepted (empty: gcloud's and ADC's clients and jobs_audience(project)),
    # and the service accounts (the web app's) trusted to act on behalf of a user they name.
    token_certs_url: str = GOOGLE_CERTS_URL
    token_issuers: tuple[str, ...] = GOOGLE_ISSUERS
    token_audiences: tuple[str, ...] = ()
    trusted_delegates: frozenset[str] = frozenset()
    # The administrators' e-mails, canonical (domain/identity.py): the web app's admin list, which the
    # predict service reads too (an administrator may score every model).
    admins: frozenset[str] = frozenset()
    # The predict service's models to load as it starts ("name@alias,name@3,name"): ZYGARDE_PREDICT_WARM.
    predict_warm: tuple[str, ...] = ()

    @property
    def audiences(self) -> tuple[str, ...]:
        """The token audiences accepted here."""
        return self.token_audiences or (GCLOUD_CLIENT_ID, ADC_CLIENT_ID, jobs_audience(self.project))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """From the environment (default os.environ), by the names in resources.json "env" (the admins:
        "web_env"), parsed by pydantic-settings (settings_env.py): ConfigError names a missing or bad variable."""
        from zygarde.settings_env import parse

        names = {key: env_name(key) for key in (f.name for f in fields(cls)) if key in resources()["env"]}
        return cls(**parse(cls, {**names, "admins": resources()["web_env"]["admins"]}, environ, _env_fields()))

    def code_uri(self, name: str) -> str:
        """Where deployed Spark code lives: gs://BUCKET/code/VERSION/NAME."""
        return f"gs://{self.bucket}/{prefix('code')}{self.code_version}/{name}"
