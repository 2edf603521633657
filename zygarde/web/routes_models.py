"""Registered models: names, versions with metrics, lineage and online status, aliases, who may use the
model (its owner grants and revokes, by publishing), a form to try a prediction (through the predict
service: see zygarde.web.predicting), the package as a zip, comparison. A model the viewer may not read
(model_access), and any string that cannot name a model, is a 404."""
from __future__ import annotations

import io
import json
import logging
import zipfile

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from zygarde.config import env_name
from zygarde.domain.errors import NotFound
from zygarde.domain.raw_doc import safe_text
from zygarde.service_layer import grants, insights, model_access, model_card
from zygarde.web import predicting
from zygarde.web.context import deps, manifest_columns, predictor, publish_job, signed_in, viewer
from zygarde.web.importance_chart import importance_svg, measure

bp = Blueprint("models", __name__)
log = logging.getLogger("zygarde.web")
MAX_PACKAGE_BYTES = 512 * 1024 * 1024


@bp.route("/models")
@signed_in
def list_models():
    return render_template("models.html", models=insights.visible_models(deps().repo, viewer()))


def _not_found(name: str):
    abort(404, description=f"There is no model {safe_text(name, 100)} that you can see.")


def _versions_or_404(name: str) -> list[dict]:
    versions = insights.visible_versions(deps().repo, viewer(), name)
    if not versions:
        _not_found(name)
    return versions


def _access(name: str) -> dict:
    """The model's owner, the viewer's role and, for its owner, the grants (grantee's e-mail, role) by e-mail."""
    who = viewer()
    doc = model_access.readable_model(deps().repo, name, who.owner, who.admin) or {}
    role = model_access.role_of(doc, who.owner)
    grants = sorted((model_access.member_identity(k), r) for k, r in (doc.get("grants") or {}).items()) \
        if role == model_access.OWNER else []
    return {"owner": doc.get("owner"), "role": role, "grants": grants, "roles": model_access.ROLES}


@bp.route("/models/<name>/grants", methods=["POST"])
@signed_in
def change_grant(name: str):
    """The owner grants (role reader or writer) or revokes (role empty) a user's access (typed as their
    e-mail), by publishing a grant request to the jobs topic on their behalf; the page shows the grants
    once it is handled."""
    who = viewer()
    doc = model_access.readable_model(deps().repo, name, who.owner, who.admin)
    if doc is None:
        _not_found(name)
    if model_access.role_of(doc, who.owner) != model_access.OWNER:
        abort(403, description=f"Only the owner of model {name} can change who may use it.")
    typed = (request.form.get("grantee") or "").strip()
    grantee, problem = grants.grantee_key(typed) if typed else ("", "grantee: type the user's e-mail")
    role = request.form.get("role") or None
    problem = problem or grants.request_problem(name, grantee, role)
    if problem is None and grantee == who.owner:
        problem = "grantee: you own this model; name another user"
    if problem is not None:
        flash(f"Access not changed: {problem}.", "error")
    else:
        data, attributes = grants.grant_request(name, grantee, role)
        publish_job(data, **attributes)
        log.info("model access change requested model=%s role=%s", name, role)
        flash(f"Requested: {typed} {'becomes a ' + role if role else 'loses access'} (applied in a moment).",
              "info")
    return redirect(url_for("models.model_page", name=name, _anchor="access"))


@bp.route("/models/<name>")
@signed_in
def model_page(name: str):
    return _render_model(name, _versions_or_404(name))


@bp.route("/models/<name>/predict", methods=["POST"])
@signed_in
def try_prediction(name: str):
    """Scores the form's rows with the picked version or alias through the predict service: the
    predictions as a table, or the service's error (its 400s name the field) in place of them."""
    versions = _versions_or_404(name)
    serving = _serving(name, versions)
    ref, text = request.form.get("ref", ""), request.form.get("body", "")
    client = predictor()
    if ref not in {r["ref"] for r in serving["refs"]}:
        status, answer = predicting.error(400, f"pick a version or alias of {name} that serves online", "ref")
    elif client is None:
        status, answer = predicting.error(503, f"No predict service is configured ({env_name('predict_url')}).")
    else:
        body = predicting.request_body(text)
        status, answer = body if isinstance(body, tuple) else client(name, ref, body, on_behalf_of=g.email)
    if status == 200 and str(answer.get("modelVersionId")) not in {str(v["row"].version) for v in versions}:
        status, answer = predicting.error(409, f"{name}@{ref} now points at a version this page does not show: "
                                               "reload it.", "ref")
        serving = _serving(name, versions)  # the aliases as they are now
    trial: dict = {"ref": ref, "text": text}
    if status == 200:
        trial["result"] = predicting.result_table(answer)
    else:
        trial["error"] = answer.get("error") or {}
    log.info("prediction tried model=%s ref=%s status=%d", name, ref, status)
    return _render_model(name, versions, serving, trial, status if status in (200, 400, 409) else 502)


def _serving(name: str, versions: list[dict]) -> dict:
    """The model's aliases (those pointing at versions the viewer sees), each version's online status,
    and what the form offers: the aliases, then the versions, that serve online, each with an example
    request built from its version's input columns."""
    columns, examples = manifest_columns(), {}
    status = {v["row"].version: model_card.online_status(v["online"]) for v in versions}
    for v in versions:
        if status[v["row"].version]["available"]:
            cols = columns.get(v["manifest_uri"])
            row = model_card.example_instance(cols, v["column_stats"]) if cols else {}
            examples[v["row"].version] = json.dumps({"instances": [row]}, indent=1)
    aliases = model_card.alias_rows(deps().repo, name, set(status))
    refs = [{"ref": a["alias"], "label": f"{a['alias']} (version {a['version']})", "example": examples[a["version"]]}
            for a in aliases if a["version"] in examples]
    refs += [{"ref": str(n), "label": f"version {n}", "example": e} for n, e in sorted(examples.items(), reverse=True)]
    return {"aliases": aliases, "status": status, "refs": refs}


def _render_model(name: str, versions: list[dict], serving: dict | None = None, trial: dict | None = None,
                  code: int = 200):
    serving = serving or _serving(name, versions)
    trial = trial or {}
    if "text" not in trial and serving["refs"]:
        trial.update(ref=serving["refs"][0]["ref"], text=serving["refs"][0]["example"])
    charts = [(v["row"], importance_svg(v["row"].importance)) for v in reversed(versions)]
    return render_template("model.html", name=name, versions=versions, trial=trial, importance=charts, measure=measure,
                           can_predict=predictor() is not None, access=_access(name), **serving), code


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
