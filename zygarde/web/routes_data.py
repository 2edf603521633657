"""Datasets (list, upload under datasets/{owner}/) and the job form (preview, submit)."""
from __future__ import annotations

import json
import logging
import re

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from zygarde.domain import algorithms
from zygarde.domain.errors import SpecError
from zygarde.domain.spec import JOB_ID_PATTERN
from zygarde.service_layer import catalog, submission
from zygarde.web import jobform
from zygarde.web.context import deps, publish_job, settings, signed_in, viewer
from zygarde.web.routes_jobs import remember_pending
from zygarde.web.uploads import content_problem, dataset_object_problem

bp = Blueprint("data", __name__)
log = logging.getLogger("zygarde.web")
CONTENT_TYPES = {"csv": "text/csv", "json": "application/x-ndjson", "parquet": "application/vnd.apache.parquet",
                 "libsvm": "text/plain"}


def _datasets(with_columns: bool = True):
    return catalog.list_datasets(deps().blobs, settings().bucket, viewer().owner, with_columns)


def render_datasets(errors: dict | None = None, status: int = 200):
    return render_template("datasets.html", datasets=_datasets(), errors=errors or {},
                           limit_mib=settings().max_upload_bytes // (1024 * 1024),
                           signed=settings().signed_uploads), status


@bp.route("/datasets")
@signed_in
def list_datasets():
    return render_datasets()


@bp.route("/datasets", methods=["POST"])
@signed_in
def upload():
    """A server-side upload through the BlobStore port (the local cloud; on Google Cloud the browser
    PUTs to a signed URL instead), limited to max_upload_bytes."""
    try:
        file = request.files.get("file")
    except RequestEntityTooLarge:
        return render_datasets({"file": f"the file is larger than the limit of "
                                         f"{settings().max_upload_bytes // (1024 * 1024)} MiB"}, 413)
    if file is None or not file.filename:
        return render_datasets({"file": "choose a file to upload"}, 400)
    name = file.filename
    if (problem := dataset_object_problem(name)) is not None:
        return render_datasets({"file": problem}, 400)
    data = file.read()
    if (problem := content_problem(name, data[:64 * 1024], data[-8:])) is not None:
        return render_datasets({"file": f"{name}: {problem}"}, 400)
    uri = catalog.owner_prefix(settings().bucket, viewer().owner) + name
    fmt = catalog.format_of(name)
    deps().blobs.write_bytes(uri, data, content_type=CONTENT_TYPES.get(fmt, "application/octet-stream"))
    log.info("dataset uploaded bytes=%d format=%s", len(data), fmt)
    return redirect(url_for("data.new_job", dataset=uri))


@bp.route("/datasets/upload-url", methods=["POST"])
@signed_in
def upload_url():
    """A signed URL the browser PUTs a large dataset to, straight into the owner's prefix."""
    name = (request.get_json(silent=True) or {}).get("name", "")
    size = (request.get_json(silent=True) or {}).get("size")
    if (problem := dataset_object_problem(name)) is not None:
        return jsonify({"field": "file", "error": problem}), 400
    uri = catalog.owner_prefix(settings().bucket, viewer().owner) + name
    content_type = CONTENT_TYPES.get(catalog.format_of(name), "application/octet-stream")
    url = deps().blobs.upload_url(uri, content_type) if settings().signed_uploads else None
    if url is None:
        return jsonify({"error": "direct uploads are not available here: use the form"}), 400
    log.info("upload URL signed size=%s", size)
    return jsonify({"url": url, "uri": uri, "content_type": content_type,
                    "next": url_for("data.new_job", dataset=uri)})


def _form_context(form, dataset_uri: str, errors: dict, preview: str | None = None):
    datasets = _datasets(with_columns=False)
    chosen = next((d for d in datasets if d.uri == dataset_uri), None)
    columns, suggestions = [], {}
    if chosen is not None and chosen.format:
        try:
            columns = catalog.columns_of(deps().blobs, chosen.uri, chosen.format)
        except Exception as exc:  # noqa: BLE001 - shown next to the dataset field
            errors.setdefault("dataset", str(exc))
        samples = catalog.column_samples(deps().blobs, chosen.uri, chosen.format)
        suggestions = {c: catalog.suggest_task(v) for c, v in samples.items()}
    return {"form": form, "datasets": datasets, "chosen": chosen, "columns": columns,
            "suggestions": suggestions, "errors": errors, "preview": preview,
            "catalog": jobform.algorithm_catalog(), "metrics": algorithms.METRICS,
            "default_metric": algorithms.DEFAULT_METRIC}


@bp.route("/jobs/new")
@signed_in
def new_job():
    uri = request.args.get("dataset", "")
    return render_template("new_job.html", **_form_context(MultiDict(), uri, {}))


@bp.route("/jobs/new", methods=["POST"])
@signed_in
def submit_job():
    form = request.form
    uri = form.get("dataset", "")
    if uri and not uri.startswith(catalog.owner_prefix(settings().bucket, viewer().owner)):
        ctx = _form_context(form, "", {})
        ctx["errors"]["dataset"] = "pick one of your datasets"
        return render_template("new_job.html", **ctx), 400
    job_id = form.get("job_id") or jobform.new_job_id(form.get("name", ""))
    if not re.match(JOB_ID_PATTERN, job_id):
        job_id = jobform.new_job_id()
    doc, problems = jobform.build_spec(form, viewer().owner, job_id)
    spec, errors = jobform.validate(doc, problems)
    if spec is not None:  # another user's model name: said next to the name field, as submit_job would say it
        try:
            submission.check_model_name(spec, job_id, deps().repo)
        except SpecError as exc:
            spec, errors = None, {jobform.field_of(path, doc): reason for path, reason in exc.problems}
    if spec is None:
        return render_template("new_job.html", **_form_context(form, uri, errors)), 400
    # what the form set, not the defaults: a job whose "Trials at once" is left empty gets its plan's
    # batches at once (max_parallel given caps the plan)
    text = json.dumps(spec.model_dump(mode="json", exclude_none=True, exclude_unset=True), sort_keys=True)
    if form.get("action") == "preview":
        preview = {"json": json.dumps(json.loads(text), indent=2), "command": jobform.publish_command(text),
                   "job_id": job_id}
        return render_template("new_job.html", **_form_context(form, uri, {}, preview))
    publish_job(text.encode())
    remember_pending(job_id)
    log.info("job submitted from the web job_id=%s", job_id)
    return redirect(url_for("jobs.job_page", job_id=job_id))
