"""The web app in headless Chromium against the whole local cloud: sign in, upload a CSV, fill the
job form and submit; watch the job to SUCCEEDED with its leaderboard and charts; cancel a second
job; re-run the first; another user sees neither. Chromium runs without WebGL (as a machine without a
GPU may), so every chart must draw as SVG. Screenshots go to tests/e2e/artifacts/."""
from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("ZYGARDE_CHROMIUM", "/usr/bin/chromium")
FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED", "BUDGET_EXHAUSTED", "REJECTED")
JOB_TIMEOUT_MS = 900_000
NO_WEBGL = ["--no-sandbox", "--disable-gpu", "--disable-webgl", "--disable-3d-apis"]
# Every chart of the job page has drawn its data as SVG paths (a WebGL chart draws none: a blank plot).
CHARTS_DRAWN = """() => {
  const charts = Array.from(document.querySelectorAll('#charts .chart'));
  return charts.length > 0 && charts.every((c) => Array.from(c.querySelectorAll('svg.main-svg .cartesianlayer .trace path'))
    .some((p) => (p.getAttribute('d') || '').length > 2));
}"""


def tiny_csv(path: Path, rows: int = 200) -> Path:
    rng = random.Random(3)
    lines = ["x1,x2,colour,label"]
    for _ in range(rows):
        x1, x2 = rng.random(), rng.random()
        lines.append(f"{x1:.4f},{x2:.4f},{rng.choice(['red', 'blue'])},{int(x1 + x2 + rng.gauss(0, 0.1) > 1)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=NO_WEBGL)
        yield b
        b.close()


def signed_in(browser, url: str, user: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.csp_errors = []
    page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_errors.append(m.text))
    page.goto(f"{url}/jobs")
    assert "/signin" in page.url
    page.fill("#user", user)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/jobs")
    assert user in page.inner_text("#user")
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_state(page, states=FINISHED, timeout=JOB_TIMEOUT_MS) -> str:
    """Wait (the page polls and updates itself) until the job state is one of `states`."""
    page.wait_for_function(
        "states => { const el = document.getElementById('job-state'); return el && states.includes(el.textContent.trim()); }",
        arg=list(states), timeout=timeout)
    return page.inner_text("#job-state").strip()


def submit_from_form(page, url: str, dataset_uri: str, name: str, reg_params: str = "[0.01]",
                     deadline_minutes: str = "") -> str:
    """Fill the job form (a tiny trial per regParam value) and submit it; returns the new job's id."""
    page.goto(f"{url}/jobs/new?dataset={quote(dataset_uri)}")
    page.select_option("#target", "label")
    assert page.input_value("#task") == "binary_classification"  # suggested from the target
    page.check("input[name=algorithms][value=logistic_regression]")
    page.fill("input[name=params_logistic_regression]", f'{{"regParam": {reg_params}}}')
    page.select_option("#strategy", "grid")
    page.fill("#max_trials", "")
    page.fill("#max_parallel", "1")
    page.fill("#name", name)
    page.fill("#deadline_minutes", deadline_minutes)
    page.click("#submit-button")
    page.wait_for_url(f"{url}/jobs/{name}-*")
    return page.url.rsplit("/", 1)[1]


def repository(local_cloud):
    os.environ.update(local_cloud.env())
    from zygarde.bootstrap import build_deps

    return build_deps().repo


@pytest.mark.timeout(1800)  # three local Spark batches in a row, slower on a loaded machine
def test_a_team_member_trains_cancels_and_reruns_and_another_cannot_see(browser, local_cloud, tmp_path):
    url = local_cloud.url("web")
    ana = signed_in(browser, url, "ana@example.com")
    shot(ana, "jobs-empty")

    # upload a CSV: it lands under datasets/ana@example.com/ and the job form opens on it
    ana.goto(f"{url}/datasets")
    ana.set_input_files("#file", str(tiny_csv(tmp_path / "tiny.csv")))
    ana.click("#upload-form button[type=submit]")
    ana.wait_for_url(lambda u: "/jobs/new?dataset=" in u)
    dataset_uri = f"gs://{local_cloud.bucket}/datasets/ana@example.com/tiny.csv"
    assert ana.input_value("#dataset-pick") == dataset_uri
    ana.goto(f"{url}/datasets")
    assert "x1, x2, colour, label" in ana.inner_text("#datasets")
    shot(ana, "datasets")

    # the preview shows the job JSON and the gcloud command, then the job is submitted
    ana.goto(f"{url}/jobs/new?dataset={quote(dataset_uri)}")
    ana.select_option("#target", "label")
    ana.check("input[name=algorithms][value=logistic_regression]")
    ana.fill("input[name=params_logistic_regression]", '{"regParam": [0.01]}')
    ana.select_option("#strategy", "grid")
    ana.fill("#max_trials", "")
    ana.click("#preview-button")
    assert "gcloud pubsub topics publish" in ana.inner_text("#preview-command")
    assert '"owner": "ana@example.com"' in ana.inner_text("#preview-json")
    shot(ana, "job-form-preview")

    first = submit_from_form(ana, url, dataset_uri, "webfirst", "[0.01, 0.1]")  # two trials: parallel coordinates
    second_page = ana.context.new_page()
    second = submit_from_form(second_page, url, dataset_uri, "websecond", deadline_minutes="60")
    second_page.wait_for_selector("#cancel", timeout=120_000)  # recorded: the page shows its buttons
    # a deadline job counts its trials so far, until the deadline (UTC), not against its cap; a deadline
    # past midnight UTC names its day (budgets.clock_time)
    trials_words = second_page.inner_text("#job-trials")
    assert re.fullmatch(r"\d+ trials? so far, until (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC", trials_words), trials_words
    second_page.click("#cancel")
    assert wait_state(second_page, timeout=300_000) == "CANCELLED"
    second_page.goto(f"{url}/jobs/{second}")  # ended: done of the total, and why each trial was stopped
    assert re.fullmatch(r"\d+/\d+ trials done", second_page.inner_text("#job-trials"))
    whys = second_page.eval_on_selector_all("#leaderboard-body .why", "ds => ds.map((d) => d.textContent)")
    assert whys and all(w.startswith("Cancelled: ") for w in whys), whys
    shot(second_page, "job-cancelled")

    # the first job's page follows it live to the end
    ana.goto(f"{url}/jobs/{first}")
    assert wait_state(ana) == "SUCCEEDED", ana.inner_text("main")
    ana.goto(f"{url}/jobs/{first}")  # the finished job's page, as it reloads itself at the end
    ana.wait_for_selector("#leaderboard-body tr")
    assert "logistic_regression" in ana.inner_text("#leaderboard-body")
    assert ana.inner_text("#job-trials") == "2/2 trials done"  # no deadline: done of the total
    assert not ana.evaluate("!!document.createElement('canvas').getContext('webgl')")  # the premise
    ana.wait_for_function(CHARTS_DRAWN, timeout=60_000)
    charts = ana.eval_on_selector_all("#charts .chart", "cs => cs.map((c) => [c.id, c.dataset.rendering])")
    assert ["chart-parcoords-logistic_regression", "svg-fallback"] in charts, charts
    assert {"chart-objective", "chart-timeline", "chart-param-logistic_regression-regParam"} <= {c for c, _ in charts}
    # the leaderboard: the job's metric and the task's key metrics in columns, the rest behind the toggle
    head = ana.eval_on_selector_all("#leaderboard-head th", "ths => ths.map((t) => [t.textContent, t.className])")
    assert ["areaUnderROC", "job-metric"] in head and ["logLoss", "key-metric"] in head, head
    assert not ana.is_visible("#leaderboard-head th.more-metric >> text=train_seconds")
    ana.click("#metrics-toggle")
    assert ana.is_visible("#leaderboard-head th.more-metric >> text=train_seconds")
    assert "Class balance" in ana.inner_text("#data-report")
    assert "webfirst v1" in ana.inner_text("#winner")
    shot(ana, "job-succeeded")

    # re-run: the same spec under a new id, recorded and running
    ana.click("#rerun")
    ana.wait_for_url(f"{url}/jobs/webfirst-*")
    rerun = ana.url.rsplit("/", 1)[1]
    assert rerun not in (first, second)
    ana.wait_for_selector("#cancel", timeout=120_000)
    repo = repository(local_cloud)
    original, again = repo.get_job(first).spec, repo.get_job(rerun).spec
    assert (again["seed"], again["dataset"], again["candidates"]) == \
        (original["seed"], original["dataset"], original["candidates"])
    ana.click("#cancel")  # enough: it was recorded and launched; no need to train it again
    assert wait_state(ana, timeout=300_000) == "CANCELLED"

    ana.goto(f"{url}/jobs")
    listing = ana.inner_text("#jobs")
    assert first in listing and second in listing and rerun in listing
    shot(ana, "jobs")
    ana.goto(f"{url}/models/webfirst")
    shot(ana, "model")
    assert not ana.csp_errors, ana.csp_errors

    # another user sees none of it
    bob = signed_in(browser, url, "bob@example.com")
    for job_id in (first, second, rerun):
        response = bob.goto(f"{url}/jobs/{job_id}")
        assert response.status == 404
    bob.goto(f"{url}/jobs")
    assert first not in bob.inner_text("main") and second not in bob.inner_text("main")
    assert bob.goto(f"{url}/models/webfirst").status == 404
    shot(bob, "other-user")

    # ana shares her model with bob as a reader (the form publishes a grant, signed by the app on her
    # behalf); bob then sees it and tries a prediction through the predict service, as himself
    ana.goto(f"{url}/models/webfirst")
    ana.fill("#grantee", "Bob@Example.com")
    ana.select_option("#grant-role", "reader")
    ana.click("#grant-form button[type=submit]")
    ana.wait_for_url(lambda u: "/models/webfirst" in u)
    for _ in range(60):  # until submit_job has handled the grant: the page, reloaded, lists bob
        if ana.query_selector("#grants") and "bob@example.com" in ana.inner_text("#grants"):
            break
        ana.wait_for_timeout(1000)
        ana.goto(f"{url}/models/webfirst")
    assert "reader" in ana.inner_text("#grants") and "bob@example.com" in ana.inner_text("#grants")
    assert bob.goto(f"{url}/models/webfirst").status == 200
    assert "you are a reader" in bob.inner_text("#model-owner")
    bob.click("#predict-form button[type=submit]")  # the prefilled example row
    bob.wait_for_selector("#predictions", timeout=120_000)
    assert "Answered by version 1 of webfirst" in bob.inner_text("main")
    shot(bob, "reader-prediction")
    carol = signed_in(browser, url, "carol@example.com")
    assert carol.goto(f"{url}/models/webfirst").status == 404


def test_sign_in_stays_on_the_site_and_plus_and_minus_are_two_users(browser, local_cloud):
    """Issue 22 in the browser: /signin?next=%2F%09%2Fevil.example%2F sent the user to //evil.example/;
    owner+a@ and owner-a@ were one owner and opened each other's jobs."""
    from zygarde.domain.model import Job, JobState

    url = local_cloud.url("web")
    repo = repository(local_cloud)
    repo.add_job(Job(job_id="plus-only-job", owner="owner+a@zygarde.dev", state=JobState.REJECTED,
                     spec={"raw": "{}"}, created_at="2026-01-01T00:00:00+00:00", error="a rejected job of owner+a"), [])
    for user, status in (("owner+a@zygarde.dev", 200), ("owner-a@zygarde.dev", 404)):
        page = browser.new_context().new_page()
        page.goto(f"{url}/signin?next=%2F%09%2Fevil.example%2F")
        page.fill("#user", user)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/jobs")  # this site's job list, not another site
        assert page.url.startswith(url) and user in page.inner_text("#user")
        assert page.goto(f"{url}/jobs/plus-only-job").status == status, user
        page.context.close()
