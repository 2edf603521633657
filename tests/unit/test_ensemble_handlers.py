"""Ensembles through the handlers with the in-memory ports: trials that kept their validation
predictions become the finalisation's ensemble candidates (best first), a registered ensemble is the
job's model (its message, its record) and its own leaderboard row (CLI, web, `status --format json`),
each delivered twice; a result naming predictions elsewhere is refused."""
from __future__ import annotations

import pytest

from tests.unit.conftest import job_message
from tests.unit.test_handlers import deliver, model_of, submit, training_trials
from zygarde.domain.contracts import FinalizeRequest, FinalizeResult, PackRequest, TrialResult
from zygarde.domain.model import FINALIZE, JobState, TrialState
from zygarde.service_layer.locations import package_uri, predictions_uri

AUC = {"t0000": 0.80, "t0001": 0.90, "t0002": 0.85, "t0003": 0.70}


def _kept(deps, trial, out_of_fold: bool = False) -> str:
    return predictions_uri(deps.settings, trial.job_id, trial.trial_id, trial.attempt, out_of_fold=out_of_fold)


def _train(deps, job_id, keep=True, out_of_fold=False):
    """Every trial succeeds (delivered twice), keeping its validation predictions when `keep` (its
    out-of-fold ones with `out_of_fold`)."""
    while True:
        running = [t for t in training_trials(deps, job_id) if t.state is TrialState.RUNNING]
        if not running:
            return
        for t in running:
            kept = _kept(deps, t, out_of_fold) if keep else None
            result = TrialResult(job_id, t.trial_id, t.attempt, "SUCCEEDED", {"areaUnderROC": AUC[t.trial_id]},
                                 model_uri=model_of(deps, t), validation_predictions_uri=kept)
            deliver(deps, t, result, True, times=2)


def _finalize_request(deps, job_id) -> FinalizeRequest:
    fin = deps.repo.get_trial(job_id, FINALIZE)
    return FinalizeRequest.from_json(deps.launcher.requests[fin.batch_id].args[1])


SUMMARY = {"status": "registered", "metric": "areaUnderROC", "direction": "maximize", "rounds": 25,
           "validation_score": 0.93, "best_single_trial_id": "t0001", "best_single_score": 0.90, "candidates": 4,
           "members": [{"trial_id": "t0001", "algorithm": "logistic_regression", "count": 2, "weight": 2 / 3},
                       {"trial_id": "t0002", "algorithm": "logistic_regression", "count": 1, "weight": 1 / 3}]}


def _package(deps, job_id, ensemble):
    fin = deps.repo.get_trial(job_id, FINALIZE)
    package = package_uri(deps.settings, deps.repo.get_job(job_id).spec.get("name") or job_id, job_id)
    deliver(deps, fin, FinalizeResult(job_id, fin.attempt, "SUCCEEDED", {"areaUnderROC": 0.92}, package_uri=package,
                                      manifest_uri=package + "manifest.json", ensemble=ensemble), True, times=2)


def test_kept_predictions_make_the_candidates_and_a_registered_ensemble_is_its_own_leaderboard_row(deps):
    from zygarde import cli_common
    from zygarde.cli_extras import job_json
    from zygarde.service_layer.queries import job_view

    job_id = submit(job_message(), deps)
    _train(deps, job_id)
    trials = {t.trial_id: t for t in training_trials(deps, job_id)}
    assert all(t.outputs["validation_predictions_uri"] == _kept(deps, t) for t in trials.values())
    request = _finalize_request(deps, job_id)
    assert [c.trial_id for c in request.ensemble] == ["t0001", "t0002", "t0000", "t0003"]  # best first
    assert [c.predictions_uri for c in request.ensemble] == [_kept(deps, trials[c.trial_id]) for c in request.ensemble]
    assert [c.model_uri for c in request.ensemble] == [trials[c.trial_id].model_uri for c in request.ensemble]
    assert request.ensemble_rounds == 25

    _package(deps, job_id, SUMMARY)
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.SUCCEEDED and job.model_version == 1
    last = job.conditions[-1].message
    assert last.startswith("ensemble of 2 trials (t0001 (logistic_regression) 0.667, t0002 (logistic_regression) "
                           "0.333) areaUnderROC=0.93 on validation, better than the best trial t0001")
    [record] = deps.repo.model_versions(job.model_name)
    assert record["ensemble"] == SUMMARY and record["algorithm"] == "ensemble"
    assert record["params"] == {"members": [{k: m[k] for k in ("trial_id", "algorithm", "weight", "count")}
                                            for m in SUMMARY["members"]]}
    assert record["validation_metrics"] == {"areaUnderROC": 0.93} and record["trial_id"] == "t0001"

    view = job_view(deps.repo, job_id)
    rows = view.leaderboard()
    assert [(r.rank, r.trial_id) for r in rows] == [(1, "ensemble"), (2, "t0001"), (3, "t0002"), (4, "t0000"),
                                                    (5, "t0003")]
    assert rows[0].algorithm == "ensemble" and rows[0].objective == 0.93
    assert [(m["trial_id"], m["weight"]) for m in rows[0].members] == [("t0001", 2 / 3), ("t0002", 1 / 3)]
    web = job_json(view)["leaderboard"]  # what `status --format json` prints, and the job page renders
    assert [r["trial_id"] for r in web] == ["ensemble", "t0001", "t0002", "t0000", "t0003"]
    assert [r["rank"] for r in web] == [1, 2, 3, 4, 5]
    assert web[0]["members"] == [{"trial_id": "t0001", "algorithm": "logistic_regression", "weight": 2 / 3, "count": 2},
                                 {"trial_id": "t0002", "algorithm": "logistic_regression", "weight": 1 / 3, "count": 1}]
    assert web[0]["objective"] == 0.93 and web[0]["params"]["members"] == web[0]["members"]
    with cli_common.console.capture() as captured:
        cli_common.print_job(view)
    assert "ensemble" in captured.get() and "t0002" in captured.get()
    from tests.unit.conftest import OWNER, token
    from zygarde.client import Client

    board = Client(deps=deps, tokens=lambda: token(OWNER)).job(job_id).leaderboard()  # the notebook's table
    assert list(board["trial_id"]) == ["ensemble", "t0001", "t0002", "t0000", "t0003"]
    assert board.loc[0, "areaUnderROC"] == 0.93 and board.loc[0, "members"] == web[0]["members"]
    assert board.loc[1, "members"] is None


@pytest.mark.parametrize("ensemble", [None, {**SUMMARY, "status": "not_better"}])
def test_without_a_registered_ensemble_the_single_winner_is_the_model(deps, ensemble):
    from zygarde.service_layer.queries import job_view

    job_id = submit(job_message(), deps)
    _train(deps, job_id, keep=ensemble is not None)
    assert len(_finalize_request(deps, job_id).ensemble) == (4 if ensemble else 0)
    _package(deps, job_id, ensemble)
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.SUCCEEDED and job.conditions[-1].message.startswith("best trial t0001")
    assert [r.trial_id for r in job_view(deps.repo, job_id).leaderboard()][0] == "t0001"


def test_a_result_naming_predictions_elsewhere_is_refused(deps):
    job_id = submit(job_message(), deps)
    t = training_trials(deps, job_id)[0]
    deliver(deps, t, TrialResult(job_id, t.trial_id, 1, "SUCCEEDED", {"areaUnderROC": 0.8}, model_uri=model_of(deps, t),
                                 validation_predictions_uri="gs://evil/p.parquet"), True)
    t = deps.repo.get_trial(job_id, t.trial_id)
    assert t.state is not TrialState.SUCCEEDED and "validation_predictions_uri" in " ".join(
        c.message for c in t.conditions)


def test_a_job_may_turn_ensembles_off(deps):
    from tests.unit.conftest import spec_dict

    job_id = submit(job_message(spec_dict(ensemble=False)), deps)
    _train(deps, job_id)
    assert _finalize_request(deps, job_id).ensemble == ()  # the predictions were kept, but not asked for


def test_a_kfold_job_keeps_out_of_fold_predictions_and_says_its_ensemble_was_chosen_out_of_fold(deps):
    from tests.unit.conftest import spec_dict

    job_id = submit(job_message(spec_dict(data={"k_folds": 3})), deps)
    first = training_trials(deps, job_id)[0]
    request = PackRequest.from_json(deps.launcher.requests[first.batch_id].args[1])
    assert request.k_folds == 3
    assert request.trials[0].predictions_uri == _kept(deps, first, out_of_fold=True)
    assert request.trials[0].predictions_uri.endswith(f"/{first.trial_id}/attempt-1/oof_predictions.parquet")
    _train(deps, job_id, out_of_fold=True)
    ensemble = _finalize_request(deps, job_id).ensemble
    assert [c.predictions_uri for c in ensemble][0] == _kept(deps, deps.repo.get_trial(job_id, "t0001"), True)

    # selected out of fold: scored against the best single trial's out-of-fold score, not its CV mean
    _package(deps, job_id, {**SUMMARY, "selected_on": "out_of_fold", "validation_score": 0.91,
                            "best_single_trial_id": "t0002", "best_single_score": 0.88})
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert "areaUnderROC=0.91 out of fold, better than the best single trial t0002 0.88, 0.92 on test" in \
        job.conditions[-1].message


def test_an_ensemble_version_shows_its_weighted_importance_and_says_it_has_no_per_row_explanations(deps, monkeypatch):
    """Its record carries the finalisation's importance and explanations; `zygarde models NAME` prints both,
    and the client's explain() says why there are none without asking the predict service."""
    from click.testing import CliRunner

    from tests.unit.conftest import OWNER, token
    from zygarde import cli, cli_common
    from zygarde.client import Client
    from zygarde.client.errors import ExplanationsUnavailable
    from zygarde.domain.ensemble_importance import NO_ATTRIBUTIONS

    job_id = submit(job_message(), deps)
    _train(deps, job_id)
    fin = deps.repo.get_trial(job_id, FINALIZE)
    package = package_uri(deps.settings, job_id, job_id)
    importance = {"status": "available", "native": "coefficient+gain",
                  "columns": [{"column": "age", "permutation": 0.12, "native": 0.7},
                              {"column": "plan", "permutation": 0.03, "native": 0.3}],
                  "permutation": {"metric": "areaUnderROC", "part": "validation", "weighted": True},
                  "ensemble": {"method": "weighted", "members": []}}
    unexplained = {"status": "unavailable", "reason": NO_ATTRIBUTIONS}
    deliver(deps, fin, FinalizeResult(job_id, fin.attempt, "SUCCEEDED", {"areaUnderROC": 0.92}, package_uri=package,
                                      manifest_uri=package + "manifest.json", ensemble=SUMMARY, importance=importance,
                                      explanations=unexplained,
                                      online={"status": "available", "onnx_uri": package + "model.onnx"}),
            True, times=2)
    [record] = deps.repo.model_versions(job_id)
    assert record["algorithm"] == "ensemble" and record["importance"] == importance
    assert record["explanations"] == unexplained

    monkeypatch.setattr(cli_common, "local_deps", lambda: deps)
    out = CliRunner().invoke(cli.main, ["models", job_id], env={"ZYGARDE_IDENTITY_TOKEN": token(OWNER)})
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "v1 feature importance (permutation: how much areaUnderROC worsens on validation" in text
    assert f"v1 per-row explanations: none ({NO_ATTRIBUTIONS})" in text

    def no_call(*args, **kwargs):
        raise AssertionError("explain() asked the predict service about a version that has no attributions")

    model = Client(deps=deps, tokens=lambda: token(OWNER), predict_http=no_call).model(job_id)
    assert model.online and model.importance == importance
    with pytest.raises(ExplanationsUnavailable, match=f"{job_id} v1 has no per-row attributions: an ensemble has no "
                                                      "per-row explanations"):
        model.explain([{"age": 40, "plan": "basic"}])
