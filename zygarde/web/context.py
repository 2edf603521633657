"""What the views share through the running app: its settings, the service dependencies, the
predict client, and the signed-in viewer. Apart from app.py, so that the route modules, which
app.py registers, do not import it back."""
from __future__ import annotations

import functools
import logging

from flask import redirect, render_template, request, url_for

from zygarde.web.identity import NotSignedIn, current_viewer
from zygarde.web.settings import WebSettings

log = logging.getLogger("zygarde.web")


def settings() -> WebSettings:
    from flask import current_app

    return current_app.extensions["zygarde"]["settings"]


def deps():
    """The service dependencies, built on first use."""
    from flask import current_app

    ext = current_app.extensions["zygarde"]
    if ext["deps"] is None:
        from zygarde.bootstrap import build_deps

        ext["deps"] = build_deps()
    return ext["deps"]


def predictor():
    """The predict service's client; None when no predict service is configured."""
    from flask import current_app

    ext = current_app.extensions["zygarde"]
    if ext["predictor"] is None and ext["settings"].predict_url:
        from zygarde.web.predicting import PredictClient

        ext["predictor"] = PredictClient(ext["settings"].predict_url)
    return ext["predictor"]


def publish_job(data: bytes, **attributes: str) -> str:
    """Publish to the jobs topic as the app's own identity (its token: a trusted delegate's) on behalf of
    the signed-in user, whom IAP (or the local sign-in) verified; the function takes the owner from that."""
    from flask import current_app, g

    from zygarde.domain.identity import ON_BEHALF_OF_ATTRIBUTE, token_attributes

    ext = current_app.extensions["zygarde"]
    if ext["tokens"] is None:
        from zygarde.adapters.auth import TokenSource
        from zygarde.config import jobs_audience

        ext["tokens"] = TokenSource(jobs_audience(settings().project))
    viewer()
    return deps().publisher.publish("jobs", data, **token_attributes(ext["tokens"]()),
                                    **{ON_BEHALF_OF_ATTRIBUTE: g.email}, **attributes)


def manifest_columns():
    """Each version's online input columns, read from its manifest once per app."""
    from flask import current_app

    from zygarde.service_layer.model_card import ManifestColumns

    ext = current_app.extensions["zygarde"]
    if ext["manifest_columns"] is None:
        ext["manifest_columns"] = ManifestColumns(deps().blobs)
    return ext["manifest_columns"]


def viewer():
    from flask import current_app

    return current_viewer(settings(), request.headers, current_app.extensions["zygarde"]["verify_jwt"])


def signed_in(view):
    """The view needs a verified user: dev sign-in page locally, 401 behind IAP."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            viewer()
        except NotSignedIn as exc:
            if settings().dev_login:
                return redirect(url_for("signin", next=request.full_path if request.method == "GET" else None))
            log.warning("request refused: %s", exc)
            return render_template("error.html", code=401, title="Not signed in",
                                   message="This app is reached through Identity-Aware Proxy; no verified "
                                           "user came with the request."), 401
        return view(*args, **kwargs)

    return wrapper
