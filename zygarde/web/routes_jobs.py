"""Jobs: the list, a job's page with live progress (polling JSON), cancel, re-run, comparison."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for

from zygarde.service_layer import insights
from zygarde.service_layer.queries import job_view
from zygarde.web import charts
from zygarde.web.context import deps, publish_job, settings, signed_in, viewer
from zygarde.web.jobform import new_job_id

bp = Blueprint("jobs", __name__)
log = logging.getLogger("zygarde.web")
PENDING_KEY = "pending_jobs"


def remember_pending(job_id: str) -> None:
    """A job just published but maybe not recorded yet: its page waits for it instead of a 404."""
    session[PENDING_KEY] = ([job_id] + [j for j in session.get(PENDING_KEY, []) if j != job_id])[:20]


def _view_or_404(job_id: str):
    view = insights.visible_job(deps().repo, viewer(), job_id)
    if view is None:
        abort(404, description=f"There is no job {job_id} that you can see.")
    return view


@bp.route("/jobs")
@signed_in
def list_jobs():
    repo, price = deps().repo, settings().price_per_dcu_hour
    rows = []
    for job in insights.visible_jobs(repo, viewer(), limit=100):
        view = job_view(repo, job.job_id)
        rows.append({"job": job, "done": view.finished_trials if view else 0, "total": len(view.trials) if view else 0,
                     "age": insights.age_seconds(job), "cost": insights.job_cost(view, price) if view else None})
    return render_template("jobs.html", rows=rows, all_jobs=viewer().admin)


@bp.route("/jobs/<job_id>")
@signed_in
def job_page(job_id: str):
    view = insights.visible_job(deps().repo, viewer(), job_id)
    if view is None:
        if job_id in session.get(PENDING_KEY, []):
            return render_template("job_pending.html", job_id=job_id)
        abort(404, description=f"There is no job {job_id} that you can see.")
    data = insights.progress(view, settings().price_per_dcu_hour)
    figures = charts.figures(data["series"], view.metric)
    package = view.finalize.outputs.get("package_uri") if view.finalize else None
    return render_template("job.html", view=view, data=data, figures=figures, package=package,
                           mine=view.job.owner == viewer().owner,
                           spec_json=json.dumps(view.job.spec, indent=2, sort_keys=True),
                           report=view.data_report, jobs=insights.visible_jobs(deps().repo, viewer(), 50))


@bp.route("/jobs/<job_id>/progress.json")
@signed_in
def progress(job_id: str):
    view = insights.visible_job(deps().repo, viewer(), job_id)
    if view is None:
        if job_id in session.get(PENDING_KEY, []):
            return jsonify({"job_id": job_id, "state": "PENDING", "finished": False})
        return jsonify({"error": "not found"}), 404
    data = insights.progress(view, settings().price_per_dcu_hour)
    data["figures"] = charts.figures(data.pop("series"), view.metric)
    return jsonify(data)


@bp.route("/jobs/<job_id>/cancel", methods=["POST"])
@signed_in
def cancel(job_id: str):
    view = _view_or_404(job_id)
    if view.job.state.is_finished():
        flash(f"Job {job_id} has already ended ({view.job.state.value}).", "error")
        return redirect(url_for("jobs.job_page", job_id=job_id))
    if view.job.owner != viewer().owner:  # an admin sees every job, but only its owner may cancel it
        flash(f"Only the owner of job {job_id} ({view.job.owner}) can cancel it.", "error")
        return redirect(url_for("jobs.job_page", job_id=job_id))
    publish_job(json.dumps({"job_id": job_id}).encode(), action="cancel")
    log.info("cancel requested job_id=%s", job_id)
    flash(f"Cancel requested for job {job_id}.", "info")
    return redirect(url_for("jobs.job_page", job_id=job_id))


@bp.route("/jobs/<job_id>/rerun", methods=["POST"])
@signed_in
def rerun(job_id: str):
    """The same validated spec (dataset, seed, search) under a new job id: the preparation splits the
    same data the same way, and the winner registers as the model's next version."""
    view = _view_or_404(job_id)
    spec = dict(view.job.spec)
    if "raw" in spec and "dataset" not in spec:
        flash("A rejected job has no valid spec to run again: fix it in a new job.", "error")
        return redirect(url_for("jobs.job_page", job_id=job_id))
    if view.job.owner != viewer().owner:  # its owner is who runs it: an admin runs their own jobs only
        flash(f"Only the owner of job {job_id} ({view.job.owner}) can run it again.", "error")
        return redirect(url_for("jobs.job_page", job_id=job_id))
    spec["name"] = spec.get("name") or job_id  # its winner registers as the same model's next version
    spec["job_id"] = new_job_id(job_id.rsplit("-", 1)[0])
    publish_job(json.dumps(spec).encode())
    remember_pending(spec["job_id"])
    log.info("job re-run job_id=%s from=%s", spec["job_id"], job_id)
    flash(f"Job {job_id} submitted again as {spec['job_id']} (same data, seed and search).", "info")
    return redirect(url_for("jobs.job_page", job_id=spec["job_id"]))


@bp.route("/compare")
@signed_in
def compare():
    a, b = request.args.get("a", ""), request.args.get("b", "")
    views = [_view_or_404(j) for j in (a, b)] if a and b else []
    price = settings().price_per_dcu_hour
    sides = [{"view": v, "data": insights.progress(v, price)} for v in views]
    keys = sorted({k for s in sides for k in s["view"].job.spec}) if sides else []
    return render_template("compare.html", sides=sides, keys=keys, a=a, b=b,
                           jobs=insights.visible_jobs(deps().repo, viewer(), 100))
