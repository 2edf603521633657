"""Registered models: names, versions with metrics and lineage, the package as a zip, comparison."""
from __future__ import annotations

import io
import logging
import zipfile

from flask import Blueprint, Response, abort, render_template, request

from zygarde.domain.errors import NotFound
from zygarde.service_layer import insights
from zygarde.web.app import deps, signed_in, viewer

bp = Blueprint("models", __name__)
log = logging.getLogger("zygarde.web")
MAX_PACKAGE_BYTES = 512 * 1024 * 1024


@bp.route("/models")
@signed_in
def list_models():
    return render_template("models.html", models=insights.visible_models(deps().repo, viewer()))


def _versions_or_404(name: str) -> list[dict]:
    versions = insights.visible_versions(deps().repo, viewer(), name)
    if not versions:
        abort(404, description=f"There is no model {name} that you can see.")
    return versions


@bp.route("/models/<name>")
@signed_in
def model_page(name: str):
    return render_template("model.html", name=name, versions=_versions_or_404(name))


@bp.route("/models/<name>/compare")
@signed_in
def compare(name: str):
    versions = {v["row"].version: v for v in _versions_or_404(name)}
    picked = []
    for key in ("a", "b"):
        try:
            picked.append(versions[int(request.args.get(key, ""))])
        except (ValueError, KeyError):
            abort(404, description=f"Pick two versions of {name} to compare.")
    metrics = sorted({m for v in picked for m in (*v["validation_metrics"], *v["test_metrics"])})
    params = sorted({p for v in picked for p in v["row"].params})
    return render_template("compare_models.html", name=name, picked=picked, metrics=metrics, params=params)


@bp.route("/models/<name>/<int:version>/package.zip")
@signed_in
def download(name: str, version: int):
    """The version's package (the PipelineModel folder and manifest.json) as one zip."""
    entry = next((v for v in _versions_or_404(name) if v["row"].version == version), None)
    if entry is None or not entry["row"].package_uri:
        abort(404, description=f"Model {name} has no version {version} with a package.")
    base = entry["row"].package_uri.rstrip("/") + "/"
    blobs, total, buffer = deps().blobs, 0, io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for uri in blobs.list(base):
            try:
                data = blobs.read_bytes(uri)
            except NotFound:
                continue
            total += len(data)
            if total > MAX_PACKAGE_BYTES:
                abort(413, description="The package is too large to download here: copy it with gsutil.")
            zf.writestr(uri[len(base):], data)
    log.info("package downloaded version=%d bytes=%d", version, total)
    return Response(buffer.getvalue(), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}-v{version}.zip"'})
