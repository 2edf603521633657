"""Jobs in the web app: list, page, live progress JSON, owner checks, cancel, re-run, comparison."""
from __future__ import annotations

import json

from tests.unit.web.conftest import add_job, csrf_token, sign_in


def published(deps):
    return [(topic, json.loads(data), attrs) for topic, data, attrs in deps.publisher.messages]


def test_jobs_list_shows_only_the_users_jobs_with_progress_best_and_cost(ana, deps):
    add_job(deps.repo, "ana", "ana-job")
    add_job(deps.repo, "bob", "bob-job")
    page = ana.get("/jobs").get_data(as_text=True)
    assert "ana-job" in page and "bob-job" not in page
    assert "2/2" in page and "0.9300" in page and "SUCCEEDED" in page
    # prepare 60 s + trials 60 s and 120 s + finalize 30 s billed as the minute Dataproc bills at least:
    # 300 s x 12 DCU = 1.0 DCU-h at $0.5
    assert "1.0000" in page and "0.5000" in page


def test_admin_sees_every_job(app, deps):
    add_job(deps.repo, "ana", "ana-job")
    add_job(deps.repo, "bob", "bob-job")
    root = sign_in(app.test_client(), "root")
    page = root.get("/jobs").get_data(as_text=True)
    assert "ana-job" in page and "bob-job" in page and "All jobs" in page
    assert root.get("/jobs/bob-job").status_code == 200


def test_job_page_has_leaderboard_report_charts_winner_and_cost(ana, deps):
    add_job(deps.repo, "ana", "ana-job")
    resp = ana.get("/jobs/ana-job")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    lead = page.index('id="leaderboard-body"')
    assert page.index("t001", lead) < page.index("t000", lead)  # best first
    assert "areaUnderROC=0.93" in page and "TrainingSucceeded" in page
    assert "city &lt;b&gt;odd&lt;/b&gt;" in page  # escaped data report warning
    assert "Class balance" in page and "ana-job v1" in page and "package.zip" in page
    figures = json.loads(page.split('id="figures">')[1].split("</script>")[0])
    assert {"objective", "timeline", "parcoords-logistic_regression",
            "param-logistic_regression-regParam"} <= set(figures)
    assert figures["objective"]["data"][1]["y"] == [0.81, 0.93]  # best so far
    assert "DCU-hours" in page and 'id="rerun"' in page and 'id="cancel"' not in page
    assert "took 300.0 s" in page  # created to finished
    # the plan made at acceptance beside what the job took and cost (1.0 DCU-h at this app's $0.5)
    assert "plan: about 4 minutes, about 0.80 DCU-hours, about $0.05; actual: 5.0 minutes, 1.00 DCU-hours, $0.50" \
        in page


def test_progress_json_follows_the_job(ana, deps):
    add_job(deps.repo, "ana", "ana-run", finished=False)
    data = ana.get("/jobs/ana-run/progress.json").get_json()
    assert data["state"] == "RUNNING" and data["done"] == 1 and data["total"] == 2 and not data["finished"]
    assert data["leaderboard"][0]["trial_id"] == "t000" and data["leaderboard"][0]["rank"] == 1
    assert data["counts"]["WAITING"] == 1 and "objective" in data["figures"]
    assert data["cost"]["dcu_hours"] > 0
    assert data["plan"] == {"predicted_seconds": 228.4, "predicted_dcu_hours": 0.8, "predicted_dollars": 0.048}
    assert data["duration_seconds"] is None and data["plan_line"] == "plan: about 4 minutes, about 0.80 DCU-hours, " \
        "about $0.05"  # no actual figures before the job ends


def test_another_users_job_is_a_404_everywhere(bob, deps):
    add_job(deps.repo, "ana", "ana-job")
    token = csrf_token(bob, "/jobs")
    assert bob.get("/jobs/ana-job").status_code == 404
    assert bob.get("/jobs/ana-job/progress.json").status_code == 404
    assert bob.post("/jobs/ana-job/cancel", data={"csrf_token": token}).status_code == 404
    assert bob.post("/jobs/ana-job/rerun", data={"csrf_token": token}).status_code == 404
    assert bob.get("/compare?a=ana-job&b=ana-job").status_code == 404
    assert deps.publisher.messages == []


def test_cancel_publishes_a_cancel_signed_by_the_app_for_the_user_which_the_handler_accepts(ana, deps):
    from zygarde.domain.model import JobState
    from zygarde.service_layer import edge
    from zygarde.service_layer.edge import PubSubMessage

    add_job(deps.repo, "ana", "ana-run", finished=False)
    resp = ana.post("/jobs/ana-run/cancel", data={"csrf_token": csrf_token(ana, "/jobs")})
    assert resp.status_code == 302
    [(topic, data, attrs)] = published(deps)
    assert topic == "jobs" and data == {"job_id": "ana-run"}
    assert attrs["action"] == "cancel" and attrs["on_behalf_of"] == "ana" and attrs["token"]
    edge.submit_job(PubSubMessage(json.dumps(data).encode(), attrs, "c1"), deps)  # published now
    assert deps.repo.get_job("ana-run").state is JobState.CANCELLED


def test_an_admin_sees_but_does_not_cancel_or_rerun_another_users_job(app, deps):
    add_job(deps.repo, "bob", "bob-run", finished=False)
    root = sign_in(app.test_client(), "root")
    page = root.get("/jobs/bob-run").get_data(as_text=True)
    assert 'id="cancel"' not in page and 'id="rerun"' not in page
    token = csrf_token(root, "/jobs")
    for action in ("cancel", "rerun"):
        resp = root.post(f"/jobs/bob-run/{action}", data={"csrf_token": token}, follow_redirects=True)
        assert "Only the owner of job bob-run (bob)" in resp.get_data(as_text=True)
    assert deps.publisher.messages == []


def test_rerun_publishes_the_same_spec_and_seed_under_a_new_id(ana, deps):
    job = add_job(deps.repo, "ana", "ana-job")
    resp = ana.post("/jobs/ana-job/rerun", data={"csrf_token": csrf_token(ana, "/jobs")})
    [(topic, spec, _)] = published(deps)
    assert topic == "jobs" and spec["job_id"] != "ana-job" and spec["job_id"].startswith("ana-")
    assert spec["seed"] == 7 and spec["dataset"] == job.spec["dataset"] and spec["name"] == "ana-job"
    assert resp.headers["Location"] == f"/jobs/{spec['job_id']}"
    pending = ana.get(resp.headers["Location"])  # not recorded yet: a waiting page, not a 404
    assert pending.status_code == 200 and "waiting for it to be recorded" in pending.get_data(as_text=True)
    assert ana.get(f"/jobs/{spec['job_id']}/progress.json").get_json()["state"] == "PENDING"


def test_posts_without_csrf_token_are_refused(ana, deps):
    add_job(deps.repo, "ana", "ana-run", finished=False)
    for path in ("/jobs/ana-run/cancel", "/jobs/ana-run/rerun", "/jobs/new", "/datasets", "/signout"):
        resp = ana.post(path, data={})
        assert resp.status_code == 400, path
        assert "security token" in resp.get_data(as_text=True)
    assert deps.publisher.messages == []


def test_compare_two_jobs(ana, deps):
    add_job(deps.repo, "ana", "ana-one")
    add_job(deps.repo, "ana", "ana-two", finished=False)
    page = ana.get("/compare?a=ana-one&b=ana-two").get_data(as_text=True)
    assert "ana-one" in page and "ana-two" in page and "spec job_id" in page and "top trials" in page
    assert ana.get("/compare").status_code == 200


def test_security_headers_and_error_pages(ana, app, deps):
    resp = ana.get("/jobs/nope")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 404 and "There is no job nope" in body and "Traceback" not in body
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["X-Content-Type-Options"] == "nosniff"

    def boom(*a, **k):
        raise RuntimeError("secret internals")
    deps.repo.list_jobs = boom
    resp = ana.get("/jobs")
    assert resp.status_code == 500 and "secret internals" not in resp.get_data(as_text=True)
    assert ana.get("/static/plotly.min.js").status_code == 200


def test_a_rejected_job_shows_its_reason_and_cannot_be_rerun(ana, deps):
    from tests.unit.conftest import raw_message
    from zygarde.service_layer import edge

    edge.submit_job(raw_message(json.dumps({"job_id": "ana-bad", "owner": "ana", "task": "astrology"}).encode(),
                                    sender="ana"), deps)
    page = ana.get("/jobs/ana-bad").get_data(as_text=True)
    assert "REJECTED" in page and "task" in page and 'id="rerun"' not in page
    resp = ana.post("/jobs/ana-bad/rerun", data={"csrf_token": csrf_token(ana, "/jobs")})
    assert resp.status_code == 302 and deps.publisher.messages == []
