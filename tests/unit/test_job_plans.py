"""A job's plan (issue #25 item 2), through the message bus with the in-memory fakes: made at acceptance
from the performance model (the prior, or the installation's history), stored on the job, stated by the
Accepted condition, sizing a limited job's batches; budget.max_cost_usd at the boundary and at run time."""
from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta

import pytest

from tests.unit.conftest import OWNER, job_message, spec_dict
from tests.unit.test_handlers import finish, submit, train_batches, training_trials
from zygarde.domain import budgets, perf_records
from zygarde.domain.model import PREPARE, JobState, TrialState
from zygarde.domain.perf_records import Observation, TrialShape
from zygarde.service_layer import edge, job_plans, perf_history
from zygarde.service_layer.job_specs import job_spec

CHURN_URI = f"gs://bkt/datasets/{OWNER}/churn.csv"
PLAN_TEXT = re.compile(r"plan: about \d+ minutes?, about \d+\.\d\d DCU-hours, about \$\d+\.\d\d \(")


def churn_csv(rows: int = 40_000) -> bytes:
    """A customer table as users upload it: numbers, a category, a binary target."""
    rng = random.Random(7)
    lines = ["tenure_months,monthly_charges,total_charges,contract,support_calls,churned"]
    for _ in range(rows):
        tenure = rng.randint(1, 72)
        monthly = round(rng.uniform(18, 120), 2)
        contract = rng.choice(["month-to-month", "one-year", "two-year"])
        lines.append(f"{tenure},{monthly},{round(tenure * monthly, 2)},{contract},{rng.randint(0, 9)},"
                     f"{int(rng.random() < 0.27)}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def churn(deps):
    deps.blobs.write_bytes(CHURN_URI, churn_csv())
    return deps


def churn_spec(**over) -> dict:
    spec = spec_dict(dataset={"uri": CHURN_URI, "format": "csv", "target": "churned"}, **over)
    spec.pop("max_parallel", None)
    spec["packing"] = over.get("packing", "auto")
    return spec


def test_a_job_is_accepted_with_its_plan_stored_and_stated_and_a_redelivery_changes_neither(churn):
    msg = job_message(churn_spec())
    assert edge.submit_job(msg, churn) == "job-1"
    job = churn.repo.get_job("job-1")
    plan = job.plan
    assert plan["predicted_seconds"] > 60 and plan["predicted_dcu_hours"] > 0 and plan["predicted_dollars"] > 0
    assert plan["predicted_dollars"] == pytest.approx(plan["predicted_dcu_hours"] * 0.06, rel=1e-3)
    assert plan["sized"] is False and plan["properties"] == {} and plan["infeasible"] is None
    assert plan["rows_estimated"] is True and 10_000 < plan["rows"] < 200_000  # 40,000 rows, estimated from bytes
    accepted = job.conditions[0]
    assert accepted.reason == "Accepted" and PLAN_TEXT.search(accepted.message), accepted.message
    assert plan["summary"] in accepted.message
    # without limits, today's configuration is priced: up to max_parallel (its default, 2) default-size batches
    assert plan["batches"] <= 2 and (plan["executors"], plan["executor_cores"]) == (2, 4)
    edge.submit_job(msg, churn)  # delivered again
    again = churn.repo.get_job("job-1")
    assert again.plan == plan and again.conditions == job.conditions


def test_a_deadline_job_gets_the_cheapest_plan_within_it_and_its_batches_are_sized_by_it(churn):
    edge.submit_job(job_message(churn_spec(budget={"deadline_minutes": 20})), churn)
    job = churn.repo.get_job("job-1")
    plan = job.plan
    assert plan["sized"] is True and plan["infeasible"] is None and plan["fixed_parallel"] is False
    assert plan["predicted_seconds"] <= 20 * 60
    assert plan["properties"] == {"spark.dynamicAllocation.enabled": "false",
                                  "spark.executor.instances": str(plan["executors"]),
                                  "spark.executor.cores": str(plan["executor_cores"]),
                                  "spark.driver.cores": str(plan["driver_cores"])}
    assert f"about {plan['trials']} trials by the limits" in job.conditions[0].message
    prepare = churn.repo.get_trial("job-1", PREPARE)
    assert churn.launcher.requests[prepare.batch_id].properties == plan["properties"]
    submit(job_message(churn_spec(budget={"deadline_minutes": 20})), churn)  # redelivered: prepares the data
    for batch in train_batches(churn):
        assert churn.launcher.requests[batch.batch_id].properties == plan["properties"]
        request = json.loads(churn.launcher.requests[batch.batch_id].args[1])
        assert request["concurrency"] == plan["concurrency"]
    holds = churn.repo.slot_holders("job-1")
    assert 1 <= len(holds) <= plan["batches"]  # max_parallel unset: the plan's batches at once


def test_a_max_parallel_the_user_set_is_kept_whatever_the_plan(churn):
    spec = churn_spec(budget={"deadline_minutes": 20})
    spec["max_parallel"] = 1
    submit(job_message(spec), churn)
    plan = churn.repo.get_job("job-1").plan
    assert plan["fixed_parallel"] is True and plan["batches"] == 1
    assert len(churn.repo.slot_holders("job-1")) == 1


def test_no_plan_meeting_the_deadline_accepts_the_job_with_a_condition_saying_why(churn):
    spec = churn_spec(budget={"deadline_minutes": 1})
    edge.submit_job(job_message(spec), churn)
    job = churn.repo.get_job("job-1")
    assert job.state is JobState.RUNNING
    warning = job.conditions[1]
    assert warning.reason == "PlanInfeasible" and "budget.deadline_minutes" in warning.message
    assert "1-minute deadline" in warning.message and "runs anyway" in warning.message
    assert job.plan["infeasible"] and job.plan["sized"] is False and job.plan["properties"] == {}
    edge.submit_job(job_message(spec), churn)
    assert churn.repo.get_job("job-1").conditions[:2] == job.conditions[:2]


def test_the_installations_history_prices_the_plan_and_the_prior_alone_without_it(churn):
    edge.submit_job(job_message(churn_spec(job_id="prior-only")), churn)
    prior = churn.repo.get_job("prior-only").plan
    # the installation saw these learners fit thirty times slower than the prior says
    model = job_plans.model(churn)
    observed = []
    for algorithm, params in (("logistic_regression", {"regParam": 0.1}), ("random_forest_classifier", {"numTrees": 10})):
        for rows in (20_000, 40_000, 80_000, 160_000):
            shape = TrialShape(algorithm, params, rows, 5, 2.0)
            observed.append(Observation.of_fit(shape, 30 * model.predict(shape)))
    churn.blobs.write_bytes(perf_history.folder("bkt") + "20251231T120000-older-job.json",
                            perf_records.dumps(observed).encode())
    edge.submit_job(job_message(churn_spec(job_id="with-history")), churn)
    learned = churn.repo.get_job("with-history").plan
    shape = TrialShape("logistic_regression", {"regParam": 0.1}, 26_000, 5, 2.0)
    assert job_plans.model(churn).predict(shape) > 5 * model.predict(shape)  # the history is what prices it
    assert learned["predicted_seconds"] > prior["predicted_seconds"] + 5  # 4 trials, 3 at a time: slower


def test_unreadable_history_leaves_the_prior(churn):
    churn.blobs.write_bytes(perf_history.folder("bkt") + "20251231T120000-older-job.json", b"{not json")
    edge.submit_job(job_message(churn_spec()), churn)
    assert churn.repo.get_job("job-1").plan["predicted_seconds"] > 0


@pytest.mark.parametrize("value", [0, -3, "5", True, None])
def test_max_cost_usd_is_checked_at_the_boundary_naming_the_field(deps, value):
    budget = {"max_cost_usd": value} if value is not None else {"max_cost_usd": float("inf")}
    raw = json.dumps(spec_dict(budget=budget)).replace("Infinity", "1e999")
    from tests.unit.conftest import raw_message

    job_id = edge.submit_job(raw_message(raw.encode()), deps)
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.REJECTED and "budget.max_cost_usd" in job.error, job.error
    assert "Traceback" not in job.error and training_trials(deps, job_id) == []


def test_the_plan_keeps_its_predicted_bill_within_max_cost_usd(churn):
    edge.submit_job(job_message(churn_spec(budget={"max_cost_usd": 0.5})), churn)
    plan = churn.repo.get_job("job-1").plan
    assert plan["sized"] is True and plan["predicted_dollars"] <= 0.5


def test_a_job_stops_launching_trials_once_its_batches_have_cost_max_cost_usd(deps):
    spec = spec_dict(budget={"max_cost_usd": 0.05})
    spec["search"] = {"strategy": "grid"}
    submit(job_message(spec), deps)
    job = deps.repo.get_job("job-1")
    assert job.plan["sized"] is True
    first = sorted((t for t in training_trials(deps, "job-1") if t.state is TrialState.RUNNING),
                   key=lambda t: t.index)[0]
    deps.clock.t += timedelta(minutes=6)  # at 12+ DCU and $0.06 per DCU-hour, more than $0.05 by now
    finish(deps, "job-1", first.trial_id, deliver_twice=True)
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.BUDGET_EXHAUSTED, job.conditions
    assert "max_cost_usd reached" in job.conditions[-1].message or "max_cost_usd reached" in (job.error or "")
    states = {t.state for t in training_trials(deps, "job-1")}
    assert TrialState.WAITING not in states and TrialState.RUNNING not in states


# --- replanning -------------------------------------------------------------------------------------
def report_fits(deps, job_id: str, seconds: float, how_many: int = 2) -> None:
    """The first running training trials report, each fit having taken `seconds` (through the bus)."""
    from zygarde.domain.contracts import TrialResult
    from zygarde.domain.messages import ResultWritten
    from zygarde.service_layer import messagebus
    from zygarde.service_layer.locations import trial_uris

    running = sorted((t for t in training_trials(deps, job_id) if t.state is TrialState.RUNNING),
                     key=lambda t: t.index)[:how_many]
    assert len(running) == how_many
    for t in running:
        _, uri = trial_uris(deps.settings, job_id, t.trial_id, t.attempt)  # packed: no model kept
        deps.blobs.write_bytes(uri, TrialResult(job_id, t.trial_id, t.attempt, "SUCCEEDED",
                                                {"areaUnderROC": 0.8, "f1": 0.6, "train_seconds": seconds}
                                                ).to_json().encode())
        messagebus.handle(ResultWritten(job_id, t.trial_id, t.attempt, uri), deps)


def many_trials_spec(**budget) -> dict:
    spec = churn_spec(budget=budget)
    spec["candidates"] = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.01, 0.1, 1.0]}},
                          {"algorithm": "random_forest_classifier", "params": {"numTrees": [20, 50, 100, 200]}}]
    return spec


def test_fits_far_slower_than_predicted_replan_the_job_once(churn):
    from zygarde.domain.messages import ReplanJob
    from zygarde.service_layer import messagebus

    submit(job_message(many_trials_spec(deadline_minutes=30)), churn)
    before = churn.repo.get_job("job-1").plan
    assert before["sized"] and before["revision"] == 0
    churn.clock.t += timedelta(minutes=3)
    report_fits(churn, "job-1", 240.0)  # minutes per fit where the prior said seconds
    job = churn.repo.get_job("job-1")
    after = job.plan
    assert after["revision"] == 1 and after["fit_scale"] > 5, after
    assert after["predicted_seconds"] <= 30 * 60 - 3 * 60  # what is left of the deadline, from the replan
    [replanned] = [c for c in job.conditions if c.reason == "Replanned"]
    assert re.search(r"^finished trials ran \d+x the predicted time: plan for the 6 trials left now about",
                     replanned.message), replanned.message
    assert f"(was {before['summary']})" in replanned.message
    messagebus.handle(ReplanJob("job-1"), churn)  # again, on the same evidence: nothing changes
    assert churn.repo.get_job("job-1").plan == after
    assert [c.reason for c in churn.repo.get_job("job-1").conditions].count("Replanned") == 1


def test_fits_as_fast_as_predicted_keep_the_plan(churn):
    submit(job_message(many_trials_spec(deadline_minutes=30)), churn)
    plan = churn.repo.get_job("job-1").plan
    model = job_plans.model(churn)
    cores = plan["executors"] * plan["executor_cores"] / plan["concurrency"]
    train = sorted((t for t in training_trials(churn, "job-1") if t.state is TrialState.RUNNING),
                   key=lambda t: t.index)[0]
    rows = round(plan["rows"] * 0.85 * 0.8)
    seconds = model.predict(TrialShape(train.algorithm, train.params, rows, plan["columns"] - 1, cores))
    report_fits(churn, "job-1", seconds * 1.1)
    assert churn.repo.get_job("job-1").plan["revision"] == 0


def test_a_replan_that_fits_nothing_left_says_so_once_and_keeps_the_plan(churn):
    from zygarde.domain import budgets
    from zygarde.service_layer.job_specs import job_spec

    submit(job_message(many_trials_spec(max_cost_usd=0.1)), churn)
    job = churn.repo.get_job("job-1")
    before = job.plan
    assert before["sized"], before
    # the clock moves to when the job's batches have cost all but half a cent of its $0.10
    trials, start = churn.repo.list_trials("job-1"), churn.clock.t
    low, high = 0.0, 3600.0
    for _ in range(40):
        mid = (low + high) / 2
        spent = budgets.spent_dollars(job, job_spec(job), trials, start + timedelta(seconds=mid))
        low, high = (mid, high) if spent < 0.095 else (low, mid)
    churn.clock.t = start + timedelta(seconds=low)
    report_fits(churn, "job-1", 3000.0)
    job = churn.repo.get_job("job-1")
    infeasible = [c for c in job.conditions if c.reason == "PlanInfeasible"]
    assert len(infeasible) == 1 and "no plan fits what is left of the job's limits" in infeasible[0].message, job.conditions
    assert "max_cost_usd" in infeasible[0].message
    assert job.plan["revision"] == 0 and job.plan["infeasible"] and job.plan["properties"] == before["properties"]
    assert job.state is JobState.RUNNING  # max_cost_usd still stops the launches when it is spent


def test_an_ended_job_leaves_its_fits_to_the_installation_s_history_once(churn):
    from zygarde.domain.messages import JobEnded
    from zygarde.service_layer import messagebus

    from tests.unit.test_handlers import finish_stage
    from zygarde.domain.contracts import TrialResult
    from zygarde.domain.messages import ResultWritten
    from zygarde.service_layer.locations import trial_uris

    submit(job_message(churn_spec(packing="off", max_parallel=2)), churn)
    while running := [t for t in training_trials(churn, "job-1") if t.state is TrialState.RUNNING]:
        t = running[0]  # every trial's fit took 45 s, its result in 80 s after its batch was created
        churn.clock.t = datetime.fromisoformat(t.started_at) + timedelta(seconds=80)
        model_uri, uri = trial_uris(churn.settings, "job-1", t.trial_id, t.attempt)
        churn.blobs.write_bytes(uri, TrialResult("job-1", t.trial_id, t.attempt, "SUCCEEDED",
                                                 {"areaUnderROC": 0.8, "f1": 0.6, "train_seconds": 45.0},
                                                 model_uri=model_uri).to_json().encode())
        churn.launcher.finish(t.batch_id, "SUCCEEDED")
        messagebus.handle(ResultWritten("job-1", t.trial_id, t.attempt, uri), churn)
    finish_stage(churn, "job-1", "finalize")
    assert churn.repo.get_job("job-1").state is JobState.SUCCEEDED
    messagebus.handle(JobEnded("job-1"), churn)
    [kept] = churn.blobs.list(perf_history.folder("bkt"))
    written = churn.blobs.read_bytes(kept)
    messagebus.handle(JobEnded("job-1"), churn)  # delivered again: the same object, the same bytes
    assert churn.blobs.list(perf_history.folder("bkt")) == [kept] and churn.blobs.read_bytes(kept) == written
    kept_all = perf_records.loads(written.decode())
    fits = [o for o in kept_all if o.stage == "fit"]
    assert len(fits) == 4 and {o.seconds for o in fits} == {45.0} and {o.rows for o in fits} == {65}
    assert all(o.cores == 8.0 for o in fits)  # a default batch's 8 task cores, one fit at a time
    # each of the 4 batches started in 80 s less the 45 s fit (give or take the fake clock's ticks)
    startups = [o.seconds for o in kept_all if o.stage == "startup"]
    assert len(startups) == 4 and all(35 <= s <= 40 for s in startups), startups
    assert "job-1" in kept and "csv" not in written.decode()  # shapes and seconds, never data
    assert job_plans.history(churn) == kept_all  # what the next job's plan is fitted on


def test_a_plan_keeps_the_installations_measured_batch_start_up_for_the_deadlines_reserve(churn):
    edge.submit_job(job_message(churn_spec(job_id="no-history", budget={"deadline_minutes": 20})), churn)
    assert churn.repo.get_job("no-history").plan["startup_seconds"] == churn.settings.batch_startup_seconds
    measured = [Observation(perf_records.STARTUP, s) for s in (19.0, 22.0, 18.5, 25.0, 21.0, 20.0)]
    churn.blobs.write_bytes(perf_history.folder("bkt") + "20251231T120000-older-job.json",
                            perf_records.dumps(measured).encode())
    edge.submit_job(job_message(churn_spec(job_id="measured", budget={"deadline_minutes": 20})), churn)
    job = churn.repo.get_job("measured")
    assert job.plan["startup_seconds"] == 25.0  # the 90th percentile of the six
    started = datetime.fromisoformat(job.created_at)
    # 20 minutes: the search runs until 25 + 45 s before the deadline (60 + 45 s with the configured one)
    assert budgets.deadline_problem(job, job_spec(job), started + timedelta(seconds=1200 - 71), 60.0) is None
    assert budgets.deadline_problem(job, job_spec(job), started + timedelta(seconds=1200 - 69), 60.0)
