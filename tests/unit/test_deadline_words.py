"""A job with a deadline, in words: "N trials so far, until HH:MM UTC" on the web job page (and its live
refresh), in `zygarde status` and in the client, all from one function (queries.trials_progress); and
the trials its deadline stops say so (DeadlineReached), on the leaderboard and in `zygarde status`,
however often the events that stop them are delivered."""
from __future__ import annotations

import re
from datetime import timedelta


from tests.unit.conftest import OWNER, job_message, spec_dict, token
from tests.unit.test_cli_extras import run
from tests.unit.test_handlers import finish, submit
from tests.unit.web.conftest import delegate_token, sign_in
from zygarde.client import Client
from zygarde.domain.model import JobState, TrialState
from zygarde.service_layer import edge
from zygarde.web.app import create_app
from zygarde.web.settings import WebSettings

SO_FAR = "4 trials so far, until 00:30 UTC"  # submitted at 00:00:01 UTC with a 30-minute deadline


def deadline_job(deps) -> None:
    """A 30-minute job searching the default space, two of its trials done, two running."""
    spec = spec_dict(budget={"deadline_minutes": 30}, max_parallel=2)
    spec.pop("candidates")
    submit(job_message(spec), deps)
    for trial_id in ("t0000", "t0001"):
        finish(deps, "job-1", trial_id, auc=0.8)
    assert deps.repo.get_job("job-1").trial_count > 4  # the cap, which is no total for a deadline job


def web(deps):
    app = create_app(WebSettings(bucket=deps.settings.bucket, dev_login=True, max_upload_bytes=20_000,
                                 secret_key="s"), deps, tokens=delegate_token)
    return sign_in(app.test_client(), OWNER)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_web_cli_and_client_say_trials_so_far_until_the_deadline(deps, monkeypatch):
    deadline_job(deps)
    page = web(deps)
    html = page.get("/jobs/job-1").get_data(as_text=True)
    assert f"Progress: {SO_FAR}" in text(html)
    live = page.get("/jobs/job-1/progress.json").get_json()
    assert live["trials_text"] == SO_FAR and live["until"] == "00:30 UTC"
    result = run(deps, monkeypatch, "status", "job-1")
    assert result.exit_code == 0 and f"trials: {SO_FAR}" in result.output, result.output
    listing = run(deps, monkeypatch, "status")
    assert "until 00:30 UTC" in listing.output and "270" not in listing.output, listing.output
    status = Client(deps=deps, tokens=lambda: token(OWNER)).job("job-1").status()
    assert f"; {SO_FAR}" in str(status)


def test_a_job_without_a_deadline_counts_trials_done_of_its_total(deps, monkeypatch):
    submit(job_message(), deps)
    finish(deps, "job-1", "t0000")
    assert "Progress: 1/4 trials done" in text(web(deps).get("/jobs/job-1").get_data(as_text=True))
    assert "trials: 1/4 trials done" in run(deps, monkeypatch, "status", "job-1").output


def test_trials_stopped_by_the_deadline_say_so_and_a_replay_changes_nothing(deps, monkeypatch):
    deadline_job(deps)
    running = [t.trial_id for t in deps.repo.list_trials("job-1")
               if t.state in (TrialState.RUNNING, TrialState.PAUSED)]  # PAUSED: scored at the first rung
    assert len(running) == 4
    deps.clock.t += timedelta(minutes=31)  # the deadline passes; the reconciler's tick reviews the job
    for _ in range(2):  # the tick delivered twice
        edge.reconcile(deps)
        trials = {t.trial_id: t for t in deps.repo.list_trials("job-1")}
        for trial_id in running:
            t = trials[trial_id]
            assert t.state is TrialState.CANCELLED
            assert [(c.reason, c.message) for c in t.conditions[-1:]] == [
                ("DeadlineReached", "stopped at the deadline 00:30 UTC, 2 trials had finished "
                                    "(deadline of 30 minutes reached)")]
            assert sum(c.state == "CANCELLED" for c in t.conditions) == 1  # once, not again on the replay
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.RUNNING  # the best so far is being finalised
    live = web(deps).get("/jobs/job-1/progress.json").get_json()
    why = {r["trial_id"]: r["why"] for r in live["leaderboard"]}
    assert all(why[t].startswith("DeadlineReached: stopped at the deadline 00:30 UTC") for t in running)
    html = web(deps).get("/jobs/job-1").get_data(as_text=True)  # under the state, in the leaderboard
    assert html.count('<div class="why">DeadlineReached: stopped at the deadline 00:30 UTC, 2 trials had finished') == 4
    out = " ".join(run(deps, monkeypatch, "status", "job-1").output.split())
    assert f"{', '.join(running)} cancelled: stopped at the deadline 00:30 UTC, 2 trials had finished" in out
