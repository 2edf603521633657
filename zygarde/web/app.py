"""The Flask app: identity on every request, CSRF on every form, security headers, error pages.
It reads through the service layer's queries and changes state only by publishing to the jobs topic."""
from __future__ import annotations

import logging
from importlib import resources as package_files

from flask import Flask, Response, g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from zygarde.web.context import viewer
from zygarde.web.identity import NotSignedIn
from zygarde.web.settings import WebSettings

log = logging.getLogger("zygarde.web")
csrf = CSRFProtect()
SIGNED_UPLOAD_ORIGIN = "https://storage.googleapis.com"


def create_app(settings: WebSettings | None = None, deps=None, verify_jwt=None, predictor=None,
               tokens=None) -> Flask:
    """deps: the service Deps (repo, blobs, publisher); built from the environment when None.
    verify_jwt(token, audience) -> e-mail replaces IAP's key fetching (tests).
    predictor(name, ref, body bytes, on_behalf_of=e-mail) -> (status, JSON) replaces the predict service's
    HTTP client (zygarde.web.predicting.PredictClient on settings.predict_url) in tests.
    tokens() -> the app's own identity token for the jobs topic (default: zygarde.adapters.auth.TokenSource)."""
    settings = settings or WebSettings.from_env()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_upload_bytes,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=not settings.dev_login, WTF_CSRF_TIME_LIMIT=None)
    app.extensions["zygarde"] = {"settings": settings, "deps": deps, "verify_jwt": verify_jwt,
                                 "predictor": predictor, "manifest_columns": None, "tokens": tokens}
    csrf.init_app(app)

    from zygarde.web import routes_data, routes_jobs, routes_models

    for module in (routes_jobs, routes_data, routes_models):
        app.register_blueprint(module.bp)
    _auth_routes(app, settings)
    _hardening(app, settings)
    app.add_url_rule("/", "index", lambda: redirect(url_for("jobs.list_jobs")))
    app.add_url_rule("/healthz", "healthz", lambda: "ok")
    app.add_url_rule("/static/plotly.min.js", "plotly_js", _plotly_js)
    return app


def _plotly_js() -> Response:
    data = package_files.files("plotly").joinpath("package_data/plotly.min.js").read_bytes()
    resp = Response(data, mimetype="application/javascript")
    resp.cache_control.max_age = 86400
    return resp


def same_site_path(target: str | None) -> str | None:
    """`target` when it is a path on this site (one leading "/", no "//", no backslash, no control or
    space character, once percent-decoded as a browser would read it), else None: sign-in never sends
    anyone elsewhere (issue 22: /%09/evil.example/ became //evil.example/)."""
    from urllib.parse import unquote, urlsplit

    if not target or len(target) > 2048:
        return None
    for text in (target, unquote(target)):
        if not text.startswith("/") or text.startswith("//") or "\\" in text:
            return None
        if any(ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text):
            return None
        parts = urlsplit(text)
        if parts.scheme or parts.netloc:
            return None
    return target


def _auth_routes(app: Flask, cfg: WebSettings) -> None:
    @app.route("/signin", methods=["GET", "POST"])
    def signin():
        if not cfg.dev_login:
            return render_template("error.html", code=404, title="Not found",
                                   message="Sign-in is done by Identity-Aware Proxy."), 404
        error = None
        if request.method == "POST":
            user = (request.form.get("user") or "").strip()
            if not user or len(user) > 128 or not all(c.isalnum() or c in "@._-+" for c in user):
                error = "enter a user name or e-mail (letters, digits, @ . _ - +)"
            else:
                from flask import session

                session.clear()
                session["user"] = user
                return redirect(same_site_path(request.args.get("next")) or url_for("jobs.list_jobs"))
        return render_template("signin.html", error=error), 400 if error else 200

    @app.route("/signout", methods=["POST"])
    def signout():
        from flask import session

        session.clear()
        return redirect(url_for("signin") if cfg.dev_login else url_for("index"))


def _hardening(app: Flask, cfg: WebSettings) -> None:
    connect = "'self'" + (f" {SIGNED_UPLOAD_ORIGIN}" if cfg.signed_uploads else "")
    csp = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
           f"connect-src {connect}; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if not cfg.dev_login:
            resp.headers["Strict-Transport-Security"] = "max-age=31536000"
        return resp

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return render_template("error.html", code=400, title="The form could not be accepted",
                               message="Its security token is missing or has expired: reload the page and "
                                       "try again."), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 413:
            message = f"The upload is larger than the limit of {cfg.max_upload_bytes // (1024 * 1024)} MiB."
            if request.endpoint == "data.upload":  # shown next to the file field
                from zygarde.web.routes_data import render_datasets

                try:
                    return render_datasets({"file": message}, 413)
                except NotSignedIn:
                    pass
        else:
            message = exc.description
        return render_template("error.html", code=exc.code, title=exc.name, message=message), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error path=%s", request.path)
        return render_template("error.html", code=500, title="Something went wrong",
                               message="The error was logged. Try again in a moment."), 500

    @app.template_filter("num")
    def num(value):
        """Numbers shown with at most 4 significant digits; anything else as it is."""
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else value

    @app.context_processor
    def inject():
        email = None
        try:
            viewer()
            email = g.get("email")
        except NotSignedIn:
            pass
        return {"user_email": email, "user_admin": g.get("viewer").admin if g.get("viewer") else False,
                "dev_login": cfg.dev_login}
