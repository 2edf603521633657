"""Successive halving through the handlers with the in-memory ports: results arrive rung by rung,
the right trials end PRUNED, the winner is fitted on all the rows, replays change nothing, a
pruned trial is never retried, and the job ends."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.unit.conftest import cancel_message, job_message, spec_dict
from tests.unit.test_handlers import deliver, finish, finish_stage, submit, training_trials
from zygarde.domain.contracts import PackRequest, TrialResult
from zygarde.domain.model import FINALIZE, JobState, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.locations import trial_uris

S = TrialState
# the validation score of trial i at rung r: a permutation, so that index order is not score order
BASE = [0.61, 0.83, 0.55, 0.90, 0.72, 0.66, 0.78, 0.58, 0.87]


def score(trial) -> float:
    return BASE[trial.index] + 0.01 * trial.rung


def pruning_spec(**over) -> dict:
    return spec_dict(**{"candidates": [{"algorithm": "logistic_regression", "params": {
                            "regParam": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}}],
                        "search": {"strategy": "random", "max_trials": 9,
                                   "pruning": {"strategy": "successive_halving", "min_fraction": 1 / 9,
                                               "reduction_factor": 3}},
                        "max_parallel": 3, **over})


def running(deps, job_id):
    return [t for t in training_trials(deps, job_id) if t.state is S.RUNNING]


def requested_fraction(deps, trial) -> float:
    [packed] = PackRequest.from_json(deps.launcher.requests[trial.batch_id].args[1]).trials  # a pack of one
    return packed.train_fraction


def run_job(deps, order=lambda ts: sorted(ts, key=score, reverse=True), twice=False, replays=False) -> str:
    """Submit the pruning job and deliver each running trial's result (`order` picks which first)
    until nothing runs; with `replays`, also every earlier attempt's result again at each step."""
    job_id = submit(job_message(pruning_spec()), deps)
    delivered = []
    for _ in range(100):
        ts = running(deps, job_id)
        if not ts:
            break
        t = order(ts)[0]
        assert requested_fraction(deps, t) == pytest.approx(t.train_fraction)
        finish(deps, job_id, t.trial_id, auc=score(t), deliver_twice=twice)
        delivered.append((t.trial_id, t.attempt))
        if replays:
            for trial_id, attempt in delivered:
                _, uri = trial_uris(deps.settings, job_id, trial_id, attempt)
                edge.on_trial_result(edge.PubSubMessage(b"{}", {"bucketId": "bkt", "eventType": "OBJECT_FINALIZE",
                                                                  "objectId": uri.removeprefix("gs://bkt/")}), deps)
    return job_id


def outcome(deps, job_id):
    return {t.trial_id: (t.state, t.rung, tuple(t.rung_scores), t.train_fraction) for t in training_trials(deps, job_id)}


def test_results_rung_by_rung_prune_the_right_trials_and_the_winner_fits_on_all_rows(deps):
    job_id = run_job(deps)
    trials = {t.index: t for t in training_trials(deps, job_id)}
    # best first: 3 of 9 go on at rung 0 (indices 3, 8, 1), 1 of those 3 at rung 1 (3)
    assert {i for i, t in trials.items() if t.state is S.PRUNED and t.rung == 0} == {0, 2, 4, 5, 6, 7}
    assert {i for i, t in trials.items() if t.state is S.PRUNED and t.rung == 1} == {1, 8}
    winner = trials[3]
    assert winner.state is S.SUCCEEDED and winner.train_fraction == 1.0 and winner.rung == 2
    assert winner.rung_scores == pytest.approx([0.90, 0.91, 0.92]) and winner.attempt == 3
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.SUCCEEDED and job.best_trial_id == winner.trial_id
    assert job.best_objective == pytest.approx(0.92)
    pruned = trials[0]
    assert pruned.conditions[-1].reason == "Pruned" and pruned.objective == pytest.approx(0.61)
    assert "pruned at rung 0" in pruned.conditions[-1].message and "the cut" in pruned.conditions[-1].message
    assert [c.reason for c in trials[1].conditions if c.reason in ("RungScored", "Promoted", "Pruned")] == [
        "RungScored", "Promoted", "RungScored", "Pruned"]
    assert deps.repo.get_trial(job_id, FINALIZE).params["manifest"]["trial_id"] == winner.trial_id


def test_worst_first_arrivals_promote_asha_style_and_still_pick_the_best(deps):
    job_id = run_job(deps, order=lambda ts: sorted(ts, key=score))
    trials = {t.index: t for t in training_trials(deps, job_id)}
    full = [t for t in trials.values() if t.train_fraction == 1.0]
    assert all(t.state is S.SUCCEEDED for t in full) and trials[3] in full
    assert all(t.state in (S.SUCCEEDED, S.PRUNED) for t in trials.values())
    assert sum(t.state is S.PRUNED for t in trials.values()) >= 5
    assert deps.repo.get_job(job_id).best_trial_id == trials[3].trial_id


def test_every_result_delivered_twice_and_replayed_late_changes_nothing(deps):
    from tests.unit.conftest import Clock, DATA_URI, CSV
    from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryJobRepository, MemoryPublisher
    from zygarde.service_layer.deps import Deps

    clean = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(),
                 publisher=MemoryPublisher(), settings=deps.settings, clock=Clock(), verifier=deps.verifier)
    clean.blobs.write_bytes(DATA_URI, CSV)
    expected = outcome(clean, run_job(clean))
    job_id = run_job(deps, twice=True, replays=True)
    assert outcome(deps, job_id) == expected
    assert deps.repo.get_job(job_id).state is JobState.SUCCEEDED


def test_a_pruned_trials_dead_batch_and_a_late_failure_do_not_retry_it(deps):
    job_id = submit(job_message(pruning_spec()), deps)
    for _ in range(40):  # best first, until a trial is pruned
        if any(x.state is S.PRUNED for x in training_trials(deps, job_id)):
            break
        t = sorted(running(deps, job_id), key=score, reverse=True)[0]
        finish(deps, job_id, t.trial_id, auc=score(t))
    pruned = next(t for t in training_trials(deps, job_id) if t.state is S.PRUNED)
    batches = len(deps.launcher.batches)
    failed = TrialResult(job_id, pruned.trial_id, pruned.attempt, "FAILED", error="executor lost", error_kind="runtime")
    deliver(deps, pruned, failed, ok=False, times=2)  # its batch ends FAILED too
    edge.reconcile(deps)
    after = deps.repo.get_trial(job_id, pruned.trial_id)
    assert after.state is S.PRUNED and after.attempt == pruned.attempt and after.conditions == pruned.conditions
    assert not any(b.labels.get("zygarde-trial") == pruned.trial_id and b.batch_id != pruned.batch_id
                   for b in deps.launcher.batches.values())
    assert len(deps.launcher.batches) >= batches


def test_a_promoted_trial_gets_its_attempts_afresh_at_its_new_rung(deps):
    job_id = submit(job_message(pruning_spec(max_attempts=2)), deps)
    best = None
    for _ in range(20):
        ts = running(deps, job_id)
        promoted = [t for t in ts if t.rung == 1]
        if promoted:
            best = promoted[0]
            break
        t = sorted(ts, key=score, reverse=True)[0]
        finish(deps, job_id, t.trial_id, auc=score(t))
    assert best is not None and best.attempt == 2 and best.rung_attempt == 1
    deps.launcher.finish(best.batch_id, "FAILED")
    edge.reconcile(deps)  # the batch died without a result: retried at rung 1 (attempt 3)
    again = deps.repo.get_trial(job_id, best.trial_id)
    assert again.attempt == 3 and again.state.is_active() and again.rung == 1
    assert again.train_fraction == pytest.approx(1 / 3)


def test_a_cancelled_job_cancels_its_paused_trials(deps):
    job_id = submit(job_message(pruning_spec()), deps)
    t = running(deps, job_id)[0]
    finish(deps, job_id, t.trial_id, auc=score(t))
    assert deps.repo.get_trial(job_id, t.trial_id).state is S.PAUSED
    edge.submit_job(cancel_message(job_id), deps)
    assert deps.repo.get_trial(job_id, t.trial_id).state is S.CANCELLED
    assert all(x.state.is_finished() for x in training_trials(deps, job_id))


def test_a_minimal_job_runs_the_default_search_with_halving(deps):
    spec = {k: v for k, v in spec_dict().items() if k in ("job_id", "owner", "dataset", "task")}
    job_id = submit(job_message(spec), deps)
    trials = training_trials(deps, job_id)
    assert len(trials) == 27 and deps.repo.get_job(job_id).trial_count == 27
    assert {round(t.train_fraction, 6) for t in trials} == {round(1 / 9, 6)}
    stored = deps.repo.get_job(job_id).spec["search"]
    assert stored["pruning"] == {"strategy": "successive_halving", "min_fraction": pytest.approx(1 / 9),
                                 "reduction_factor": 3, "bracket_trials": None}
    launched = [t for t in trials if t.batch_id]
    assert launched and all(json.loads(deps.launcher.requests[t.batch_id].args[1])["trials"][0]["train_fraction"]
                            == pytest.approx(1 / 9) for t in launched[:1])


def test_leaderboard_cli_and_web_rows_show_pruned_trials_with_their_last_rung(deps):
    from zygarde import cli_common
    from zygarde.service_layer.insights import progress
    from zygarde.service_layer.queries import job_view

    job_id = run_job(deps)
    view = job_view(deps.repo, job_id)
    rows = view.leaderboard()
    assert rows[0].rank == 1 and rows[0].state == "SUCCEEDED" and rows[0].fidelity == "rung 2 (100%)"
    assert [r.rank for r in rows[1:]] == [None] * 8 and {r.state for r in rows[1:]} == {"PRUNED"}
    assert [(r.trial_id, r.fidelity) for r in rows[1:3]] == [("t0008", "rung 1 (33.3%)"), ("t0001", "rung 1 (33.3%)")]
    assert rows[1].objective == pytest.approx(0.88)  # its score at rung 1
    assert rows[-1].objective == pytest.approx(0.55) and rows[-1].fidelity == "rung 0 (11.1%)"
    assert view.counts["PRUNED"] == 8 and view.counts["PAUSED"] == 0 and view.finished_trials == 9
    web = progress(view, 0.06)["leaderboard"]
    pruned = next(r for r in web if r["trial_id"] == "t0002")
    assert pruned["state"] == "PRUNED" and pruned["fidelity"] == "rung 0 (11.1%)" and pruned["rung_scores"] == [0.55]
    with cli_common.console.capture() as captured:
        cli_common.print_job(view)
    text = captured.get()
    assert "PRUNED" in text and "rung 0 (11.1%)" in text and "8 trials pruned" in text


def test_a_job_without_pruning_shows_no_rung_column(deps):
    from zygarde import cli_common
    from zygarde.service_layer.queries import job_view

    job_id = submit(job_message(), deps)
    while running(deps, job_id):
        for t in running(deps, job_id):
            finish(deps, job_id, t.trial_id)
    assert deps.repo.get_job(job_id).state is JobState.SUCCEEDED
    rows = job_view(deps.repo, job_id).leaderboard()
    assert all(r.fidelity == "" for r in rows)
    with cli_common.console.capture() as captured:
        cli_common.print_job(job_view(deps.repo, job_id))
    assert "rung" not in captured.get()
    job = deps.repo.get_job(job_id)  # the wall time from submission to the end, on the job's own clock
    took = (datetime.fromisoformat(job.finished_at) - datetime.fromisoformat(job.created_at)).total_seconds()
    assert took > 0 and f"SUCCEEDED in {took:.1f} s" in captured.get()
    assert f"best trial: {job.best_trial_id} (" in captured.get() and "None" not in captured.get()


def test_a_deadline_cancels_paused_trials_and_registers_the_best_full_fraction_trial(deps):
    from datetime import timedelta

    spec = pruning_spec(budget={"deadline_minutes": 30})
    spec["search"]["pruning"]["min_fraction"] = 1 / 3
    job_id = submit(job_message(spec), deps)
    for _ in range(20):  # until one trial has finished on the whole train part
        if any(t.state is S.SUCCEEDED for t in training_trials(deps, job_id)) or not running(deps, job_id):
            break
        t = sorted(running(deps, job_id), key=score, reverse=True)[0]
        finish(deps, job_id, t.trial_id, auc=score(t))
    [winner] = [t for t in training_trials(deps, job_id) if t.state is S.SUCCEEDED]
    assert winner.train_fraction == 1.0 and deps.repo.get_job(job_id).state is JobState.RUNNING
    assert S.PAUSED in {t.state for t in training_trials(deps, job_id)}
    deps.clock.t += timedelta(minutes=31)
    edge.reconcile(deps)
    edge.reconcile(deps)  # replayed
    states = {t.trial_id: t.state for t in training_trials(deps, job_id)}
    assert S.CANCELLED in states.values()
    assert S.PAUSED not in states.values() and S.WAITING not in states.values() and S.RUNNING not in states.values()
    fin = deps.repo.get_trial(job_id, FINALIZE)
    assert fin.params["manifest"]["trial_id"] == winner.trial_id and fin.attempt == 1


def bracket_spec(**over) -> dict:
    """A search that keeps asking (TPE after 3 random points) in brackets of 3, each halved on its own."""
    return pruning_spec(search={"strategy": "bayesian", "max_trials": 9, "n_startup_trials": 3,
                                "pruning": {"min_fraction": 1 / 3, "reduction_factor": 3, "bracket_trials": 3}},
                        max_parallel=2, **over)


def test_brackets_are_pruned_one_after_the_other_while_the_search_keeps_asking(deps):
    job_id = submit(job_message(bracket_spec()), deps)
    asked_when_first_pruned = None
    for _ in range(60):
        ts = running(deps, job_id)
        if not ts:
            break
        t = sorted(ts, key=lambda t: t.index)[0]
        finish(deps, job_id, t.trial_id, auc=0.5 + 0.01 * (t.index % 3) + 0.001 * t.rung, deliver_twice=True)
        trials = training_trials(deps, job_id)
        if asked_when_first_pruned is None and any(x.state is S.PRUNED for x in trials):
            asked_when_first_pruned = len(trials)
    trials = training_trials(deps, job_id)
    # bracket 0 was pruned before the search had asked its last trial
    assert asked_when_first_pruned is not None and asked_when_first_pruned < 9
    assert len(trials) == 9 and len({(t.algorithm, json.dumps(t.params, sort_keys=True)) for t in trials}) == 9
    for b in range(3):  # in each bracket of 3, the best 1 fits on all the rows, the others end PRUNED at rung 0
        members = [t for t in trials if t.index // 3 == b]
        assert sorted(t.state.value for t in members) == ["PRUNED", "PRUNED", "SUCCEEDED"]
        [best] = [t for t in members if t.state is S.SUCCEEDED]
        assert best.train_fraction == 1.0 and best.index % 3 == 2  # the best at rung 0 of its bracket
        assert all("of bracket %d" % b in t.conditions[-1].message for t in members if t.state is S.PRUNED)
    assert deps.repo.get_job(job_id).state is JobState.SUCCEEDED


def test_a_search_until_the_deadline_ends_with_the_best_model_at_the_deadline_less_its_reserve(deps):
    from datetime import timedelta

    spec = bracket_spec(budget={"deadline_minutes": 10})
    spec["search"]["max_trials"] = 90  # more than the deadline allows: the deadline ends the search
    job_id = submit(job_message(spec), deps)
    created = datetime.fromisoformat(deps.repo.get_job(job_id).created_at)
    assert deps.repo.get_job(job_id).conditions[0].message.startswith(
        "up to 90 trials to run after the data is prepared, until the 10-minute deadline; plan: about ")
    for _ in range(12):  # a few brackets' worth of results, 30 s apart (the clock also ticks per call)
        t = sorted(running(deps, job_id), key=lambda t: t.index)[0]
        finish(deps, job_id, t.trial_id, auc=0.5 + 0.01 * (t.index % 3) + 0.001 * t.rung)
        deps.clock.t += timedelta(seconds=30)
    trials = training_trials(deps, job_id)
    assert deps.clock.t < created + timedelta(minutes=8, seconds=15)
    assert len(trials) > 6 and any(t.state is S.SUCCEEDED for t in trials) and any(t.state is S.PRUNED for t in trials)
    assert deps.repo.get_job(job_id).state is JobState.RUNNING  # still searching
    deps.clock.t = created + timedelta(minutes=8, seconds=20)  # within the 105 s kept to register the model
    # (the settings' 60 s batch start-up + 45 s of finalisation work)
    edge.reconcile(deps)
    edge.reconcile(deps)  # replayed
    fin = deps.repo.get_trial(job_id, FINALIZE)
    assert fin is not None and fin.attempt == 1
    assert all(t.state.is_finished() for t in training_trials(deps, job_id))
    finish_stage(deps, job_id, FINALIZE)
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.BUDGET_EXHAUSTED and job.model_version == 1
    assert "deadline of 10 minutes near" in job.conditions[-1].message and "kept to register" in job.conditions[-1].message


def test_a_deadline_before_any_full_fit_registers_the_best_partial_trial_refitted_on_all_rows(deps):
    from datetime import timedelta

    job_id = submit(job_message(pruning_spec(budget={"deadline_minutes": 30})), deps)
    for t in list(running(deps, job_id)):  # the first rung-0 scores only: nothing fits all the rows yet
        finish(deps, job_id, t.trial_id, auc=score(t))
    scored = [t for t in training_trials(deps, job_id) if t.rung_scores]
    assert scored and not any(t.state is S.SUCCEEDED for t in training_trials(deps, job_id))
    leader = max(scored, key=lambda t: (len(t.rung_scores), t.rung_scores[-1]))
    deps.clock.t += timedelta(minutes=31)
    edge.reconcile(deps)
    edge.reconcile(deps)  # replayed
    fin = deps.repo.get_trial(job_id, FINALIZE)
    assert fin.attempt == 1 and fin.params["manifest"]["trial_id"] == leader.trial_id
    assert fin.params["model_uri"] is None and fin.params["refit"]["algorithm"] == leader.algorithm  # refit, all rows
    finish_stage(deps, job_id, FINALIZE, times=2)
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.BUDGET_EXHAUSTED and job.model_version == 1
    assert job.best_trial_id == leader.trial_id and job.best_objective == pytest.approx(leader.rung_scores[-1])
    assert "refitted on all of them" in job.conditions[-1].message
    assert [v["trial_id"] for v in deps.repo.model_versions(job_id)] == [leader.trial_id]
