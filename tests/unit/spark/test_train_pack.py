"""A pack of trials in one batch (spark_jobs/train_pack.py) on messy prepared parts: one result per
trial, written as each trial ends, scored as the same trial in a pack of its own; preprocessing
fitted once per plan (and per fold); failures stay with their trial; models saved only when kept."""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.ml import PipelineModel

from zygarde.domain.algorithms import METRICS
from zygarde.domain.contracts import PackedTrial, PackRequest, TrialResult
from zygarde.spark import data_parallel, fitting
from zygarde.spark import pack_runner as pack

from .conftest import pack_of_one

BINARY_METRICS = set(METRICS["binary_classification"])
TRIALS = {  # trial id -> (algorithm, params)
    "t-lr": ("logistic_regression", {"maxIter": 50, "regParam": 0.01}),
    "t-lr2": ("logistic_regression", {"maxIter": 50, "regParam": 0.1}),
    "t-rf": ("random_forest_classifier", {"numTrees": 10, "maxDepth": 4}),
    "t-xgb": ("xgboost_classifier", {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.3,
                                     "early_stopping_rounds": 5}),
    # valid for the catalog, refused by the learner: min-max scaled features are not all 0 or 1
    "t-nb": ("naive_bayes", {"modelType": "bernoulli"}),
}
SCORES = ("areaUnderROC", "areaUnderPR", "accuracy", "f1", "logLoss", "mcc", "weightedPrecision")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


class Spy:
    """Counts fit_preprocessing calls and records when each learner fit starts and each result is written."""

    def __init__(self, monkeypatch):
        self.preprocessing, self.events, self.lock = 0, [], threading.Lock()
        fit_preprocessing, fit_learner, write_result = (fitting.fit_preprocessing, data_parallel.fit_learner,
                                                        pack.write_result)

        def counted(*args, **kwargs):
            with self.lock:
                self.preprocessing += 1
            return fit_preprocessing(*args, **kwargs)

        def timed_fit(candidate, *args, **kwargs):
            self.events.append(("fit", candidate.algorithm, time.monotonic()))
            return fit_learner(candidate, *args, **kwargs)

        def timed_write(spark, uri, result):
            write_result(spark, uri, result)
            self.events.append(("written", result.trial_id, time.monotonic()))

        monkeypatch.setattr(fitting, "fit_preprocessing", counted)
        monkeypatch.setattr(data_parallel, "fit_learner", timed_fit)
        monkeypatch.setattr(pack, "write_result", timed_write)


def pack_request(parts: dict, root: Path, trials: dict, keep: set[str] = frozenset(), **fields) -> PackRequest:
    packed = [PackedTrial(trial_id=tid, attempt=1, algorithm=algorithm, params=params,
                          result_uri=str(root / "results" / tid / "attempt-1.json"),
                          model_uri=str(root / "models" / tid) if tid in keep else None)
              for tid, (algorithm, params) in trials.items()]
    values = dict(job_id="job-pack", pack_id="p0001", task="binary_classification", metric="areaUnderROC",
                  target="diagnosis", seed=11, train_uri=parts["train"], validation_uri=parts["validation"],
                  trials=tuple(packed), concurrency=2)
    values.update(fields)
    return PackRequest(**values)


def run_main(spark, request: PackRequest) -> tuple[int, dict[str, TrialResult]]:
    from spark_jobs.train_pack import main

    code = main(["--request", request.to_json()], spark=spark)
    results = {t.trial_id: TrialResult.from_json(Path(t.result_uri).read_text())
               for t in request.trials if Path(t.result_uri).exists()}
    return code, results


def alone(spark, parts: dict, root: Path, trial_id: str, **fields) -> TrialResult:
    """The same trial run on its own: a pack of one (what a job that does not pack launches)."""
    algorithm, params = TRIALS[trial_id]
    request = pack_of_one("job-pack", trial_id, algorithm, params, task="binary_classification",
                          metric="areaUnderROC", target="diagnosis", seed=11, model_uri=str(root / "alone" / trial_id),
                          result_uri=str(root / "alone" / f"{trial_id}.json"), train_uri=parts["train"],
                          validation_uri=parts["validation"], **fields)
    return pack.run_pack(spark, request).results[trial_id]


@pytest.fixture(scope="module")
def packed(spark, clinic_parts, tmp_path_factory):
    """The five-trial pack run once through main(): (exit code, results, request, spy, log lines, root)."""
    root = tmp_path_factory.mktemp("pack")
    records = _Records()
    logger = logging.getLogger("zygarde.spark")
    logger.addHandler(records)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            spy = Spy(monkeypatch)
            # data-parallel: XGBoost's barrier stage (trial-parallel packs: test_trial_parallel.py)
            request = pack_request(clinic_parts, root, TRIALS, keep={"t-lr"}, fit_mode="data_parallel")
            code, results = run_main(spark, request)
    finally:
        logger.removeHandler(records)
        logger.setLevel(previous)
    return code, results, request, spy, records.lines, root


def test_every_trial_gets_its_own_result_and_a_failure_stays_with_its_trial(spark, clinic_parts, packed):
    code, results, request, _, _, _ = packed
    assert code == 0  # every result written, though one trial failed
    assert set(results) == set(TRIALS)
    rows = (spark.read.parquet(clinic_parts["train"]).count(), spark.read.parquet(clinic_parts["validation"]).count())
    for trial_id in ("t-lr", "t-lr2", "t-rf", "t-xgb"):
        result = results[trial_id]
        assert result.status == "SUCCEEDED", (trial_id, result.error)
        assert (result.job_id, result.trial_id, result.attempt) == ("job-pack", trial_id, 1)
        assert BINARY_METRICS <= set(result.metrics)
        assert result.metrics["areaUnderROC"] > 0.9, (trial_id, result.metrics)
        assert (result.train_rows, result.validation_rows) == rows
        assert result.metrics["train_seconds"] > 0 and "predict_ms_per_1k" not in result.metrics  # see finalisation
        assert result.metrics["executor_cpu_seconds"] >= 0
        assert result.spark_version == spark.version and result.duration_seconds > 0
    assert results["t-xgb"].metrics["boosted_rounds"] == results["t-xgb"].metrics["best_iteration"] + 1 + 5

    failed = results["t-nb"]
    assert failed.status == "FAILED" and failed.error_kind == "data"
    assert "MUST be in {0, 1}" in failed.error and "\n" not in failed.error and "Traceback" not in failed.error
    assert failed.metrics == {} and failed.model_uri is None


def test_only_kept_trial_models_are_saved(packed):
    _, results, request, _, _, root = packed
    kept = results["t-lr"]
    assert kept.model_uri == str(root / "models" / "t-lr") and kept.metrics["model_bytes"] > 1000
    model = PipelineModel.load(kept.model_uri)
    assert model.stages[-1].getLabels() == ["benign", "malignant"]  # IndexToString, as a trial's model
    for trial_id in ("t-lr2", "t-rf", "t-xgb"):
        assert results[trial_id].model_uri is None and "model_bytes" not in results[trial_id].metrics
    assert [p.name for p in (root / "models").iterdir()] == ["t-lr"]


def test_a_packed_trial_scores_as_the_same_trial_run_alone(spark, clinic_parts, packed, tmp_path):
    _, results, _, _, _, _ = packed
    for trial_id in ("t-lr", "t-rf", "t-xgb"):
        # in the pack's fit mode: a pack of one would fit this small XGBoost trial trial-parallel
        single = alone(spark, clinic_parts, tmp_path, trial_id, fit_mode="data_parallel")
        assert single.status == "SUCCEEDED", single.error
        for name in SCORES + ("best_iteration",) * (trial_id == "t-xgb"):
            assert results[trial_id].metrics[name] == pytest.approx(single.metrics[name], abs=1e-6), (trial_id, name)


def test_preprocessing_is_fitted_once_per_plan_and_logged_per_phase(packed):
    _, _, _, spy, lines, _ = packed
    # one_hot+standard (both logistic regressions), indexed (forest, XGBoost), one_hot+minmax (naive Bayes)
    assert spy.preprocessing == 3
    plans = sorted(line.split(" plan=")[1].split()[0] for line in lines if "phase=preprocess" in line
                   and "trial_id=" not in line)
    assert plans == ["indexed", "one_hot+minmax", "one_hot+standard"]
    assert sum("phase=load" in line and "pack_id=p0001" in line for line in lines) == 1
    for trial_id in ("t-lr", "t-lr2", "t-rf", "t-xgb"):
        mine = [line for line in lines if line.startswith("phase done") and f"trial_id={trial_id} " in line]
        assert {"phase=fit", "phase=evaluate"} <= {word for line in mine for word in line.split()}, trial_id
        assert all("job_id=job-pack pack_id=p0001" in line and "seconds=" in line for line in mine)


def test_results_are_written_as_each_trial_ends(packed):
    _, results, _, spy, _, _ = packed
    fits = [t for kind, _, t in spy.events if kind == "fit"]
    written = {trial_id: t for kind, trial_id, t in spy.events if kind == "written"}
    assert len(fits) == 5 and set(written) == set(TRIALS)  # naive Bayes fails in its fit
    assert min(written.values()) < max(fits)  # results were out before the last learner started
    # XGBoost (barrier mode) fits alone, after the pool: every other result is written by then
    xgb_fit = next(t for kind, name, t in spy.events if kind == "fit" and name == "xgboost_classifier")
    assert all(written[t] < xgb_fit for t in TRIALS if t != "t-xgb")


def test_cross_validation_in_a_pack_shares_each_folds_preprocessing(spark, clinic_parts, tmp_path, monkeypatch):
    trials = {t: TRIALS[t] for t in ("t-lr", "t-lr2", "t-rf")}
    spy = Spy(monkeypatch)
    code, results = run_main(spark, pack_request(clinic_parts, tmp_path, trials, k_folds=3, concurrency=0))
    assert code == 0 and all(r.status == "SUCCEEDED" for r in results.values()), results
    assert spy.preprocessing == 2 * (3 + 1)  # two plans, each on three folds and on the whole train part
    m = results["t-lr"].metrics
    assert m["areaUnderROC"] == m["cv_areaUnderROC_mean"] and "validation_areaUnderROC" in m
    single = alone(spark, clinic_parts, tmp_path, "t-lr", k_folds=3)
    assert single.status == "SUCCEEDED", single.error
    for name in ("cv_areaUnderROC_mean", "cv_areaUnderROC_std", "cv_accuracy", "validation_areaUnderROC", "f1"):
        assert m[name] == pytest.approx(single.metrics[name], abs=1e-6), name


def test_unreadable_parts_fail_every_trial_with_a_result(spark, clinic_parts, tmp_path):
    trials = {t: TRIALS[t] for t in ("t-lr", "t-rf")}
    request = pack_request({**clinic_parts, "train": str(tmp_path / "no-such-part")}, tmp_path, trials)
    code, results = run_main(spark, request)
    assert code == 1 and set(results) == set(trials)  # every result written; every trial failed
    for result in results.values():
        assert result.status == "FAILED" and result.error_kind == "data" and "no-such-part" in result.error


def test_a_result_that_cannot_be_written_exits_3_after_the_other_trials_report(spark, clinic_parts, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    trials = {"t-dt": ("decision_tree_classifier", {"maxDepth": 3}), "t-dt2": ("decision_tree_classifier", {})}
    request = pack_request(clinic_parts, tmp_path, trials, concurrency=1)
    lost = replace(request.trials[0], result_uri=str(blocker / "attempt-1.json"))  # under a file: unwritable
    request = replace(request, trials=(lost, request.trials[1]))
    code, results = run_main(spark, request)
    assert code == 3
    assert set(results) == {"t-dt2"} and results["t-dt2"].status == "SUCCEEDED"


@pytest.mark.parametrize("text", ["{not json", json.dumps({"job_id": "j", "pack_id": "p"}),
                                  json.dumps({"job_id": "j", "pack_id": "p", "task": "regression", "metric": "",
                                              "target": "y", "seed": 1, "train_uri": "a", "validation_uri": "b",
                                              "trials": []})])
def test_unreadable_request_exits_2(text):
    from spark_jobs.train_pack import main
    assert main(["--request", text], spark=object()) == 2
