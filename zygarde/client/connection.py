"""Where the client talks to and who it is, found as the CLI finds them: the settings from the environment
(`eval "$(zygarde local env)"` for the local cloud, a local cloud started from this folder, or a Google
Cloud project with Application Default Credentials), the real adapters (zygarde.bootstrap), and the
user's identity token for the jobs topic (zygarde.adapters.auth.TokenSource), which signs every message
it publishes."""
from __future__ import annotations

import logging
import os
from typing import Callable

from zygarde.client.errors import NotSignedIn
from zygarde.config import Settings, env_name, jobs_audience
from zygarde.domain.errors import ConfigError
from zygarde.service_layer.deps import Deps

log = logging.getLogger("zygarde.client")

PredictHttp = Callable[[str, str, bytes], "tuple[int, dict]"]  # (model name, version or alias, body) -> answer


def _deps(settings: Settings | None) -> Deps:
    from zygarde.bootstrap import build_deps
    from zygarde.cli_common import use_local_cloud_env

    use_local_cloud_env()  # a local cloud started from this folder, as the CLI does (explicit env vars win)
    try:
        settings = settings or Settings.from_env()
    except ConfigError as exc:
        raise ConfigError(f"{exc}: run `eval \"$(zygarde local env)\"` for the local cloud, or set them for your "
                          "Google Cloud project") from None
    return build_deps(settings)


class Connection:
    """The ports (repository, bucket, publisher, launcher), the signed-in identity, signed publishing and
    the predict service. `deps`, `tokens` and `predict_http` replace the real ones (tests: the in-memory
    adapters, the service called in-process)."""

    def __init__(self, settings: Settings | None = None, deps: Deps | None = None,
                 tokens: Callable[[], str] | None = None, predict_url: str | None = None,
                 predict_http: PredictHttp | None = None):
        from zygarde.adapters.auth import TokenSource

        self.deps = deps if deps is not None else _deps(settings)
        self.settings = self.deps.settings
        self._tokens = tokens or TokenSource(jobs_audience(self.settings.project))
        self.predict_url = (predict_url or os.environ.get(env_name("predict_url")) or "").rstrip("/") or None
        self._predict_http = predict_http
        self._predict_client = None

    @property
    def serves_online(self) -> bool:
        """Whether a predict service is configured ($ZYGARDE_PREDICT_URL, set by `zygarde local env`)."""
        return self._predict_http is not None or self.predict_url is not None

    def predict_http(self, name: str, ref: str, data: bytes) -> tuple[int, dict]:
        """POST data to the predict service's /v1/models/NAME/versions/REF:predict, with an identity token for
        the service (as `zygarde predict` sends it): (HTTP status, JSON body). Unreachable: a 503 body."""
        if self._predict_http is not None:
            return self._predict_http(name, ref, data)
        import requests

        from zygarde.adapters.auth import AuthorizedClient, TokenSource, TokenUnavailable

        if self.predict_url is None:
            return 503, {"error": {"code": 503, "message": f"no predict service: set {env_name('predict_url')}"}}
        if self._predict_client is None:
            self._predict_client = AuthorizedClient(TokenSource(self.predict_url), timeout=60)
        quote = requests.utils.quote
        url = f"{self.predict_url}/v1/models/{quote(name, safe='')}/versions/{quote(ref, safe='')}:predict"
        try:
            response = self._predict_client.post(url, data, **{"Content-Type": "application/json"})
        except TokenUnavailable as exc:
            raise NotSignedIn(f"cannot prove who you are to the predict service: {exc}") from None
        except requests.RequestException as exc:
            return 503, {"error": {"code": 503, "message": f"the predict service at {self.predict_url} cannot be "
                                                           f"reached ({type(exc).__name__})"}}
        try:
            body = response.json()
        except ValueError:
            body = {"error": {"code": response.status_code, "message": response.text[:500]}}
        return response.status_code, body if isinstance(body, dict) else {"error": {"message": str(body)[:500]}}

    def token(self) -> str:
        from zygarde.adapters.auth import TokenUnavailable

        try:
            return self._tokens()
        except TokenUnavailable as exc:
            raise NotSignedIn(f"cannot prove who you are: {exc}") from None

    @property
    def identity(self):
        """The signed-in user (zygarde.domain.identity.Identity: `email`, owner `key`), as their token names them."""
        from zygarde.adapters.auth import TokenUnavailable, token_email
        from zygarde.domain.identity import Identity, IdentityError

        try:
            return Identity(token_email(self.token()))
        except (TokenUnavailable, IdentityError) as exc:
            raise NotSignedIn(f"cannot prove who you are: {exc}") from None

    def publish(self, data: bytes, **attributes: str) -> str:
        """Publish to the jobs topic, signed: the `token` attribute(s) carry the identity token (as the CLI's)."""
        from zygarde.domain.identity import token_attributes

        return self.deps.publisher.publish("jobs", data, **token_attributes(self.token()), **attributes)
