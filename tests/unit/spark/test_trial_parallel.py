"""Trial-parallel XGBoost (issue #24): the prepared parts broadcast once, each trial one Spark task
fitting single-node XGBoost. Its metrics are what Spark's evaluators give for its own model's
predictions, its model is the xgboost.spark model data-parallel fits register, and the refit in the
same mode rebuilds the trial's booster exactly."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.ml import PipelineModel
from sklearn import datasets as skdata
from xgboost.spark.data import alias

from zygarde.domain import fit_mode
from zygarde.domain.algorithms import METRICS
from zygarde.spark import data_parallel, single_node, trial_parallel
from zygarde.spark.dataset import LABEL
from zygarde.spark.evaluation import evaluate
from zygarde.spark.features import FEATURES
from zygarde.spark.fitting import Candidate, algorithm_for, load_prepared, preprocess, profile_plan

from .test_finalize_refit import finalize, refit_spec
from .test_train_pack import pack_request, run_main

EARLY = ("xgboost_classifier", {"n_estimators": 80, "max_depth": 3, "learning_rate": 0.3, "early_stopping_rounds": 5,
                                "subsample": 0.8, "colsample_bytree": 0.8})
TRIALS = {"t-x1": EARLY,
          "t-x2": ("xgboost_classifier", {"n_estimators": 25, "max_depth": 2, "early_stopping_rounds": 0}),
          "t-lr": ("logistic_regression", {"maxIter": 50, "regParam": 0.01})}


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _run(spark, parts, root, trials, keep=(), task="binary_classification", metric="areaUnderROC",
         target="diagnosis", **fields):
    lines, logger = _Lines(), logging.getLogger("zygarde.spark")
    logger.addHandler(lines)
    previous, fits = logger.level, []
    logger.setLevel(logging.INFO)
    fit_learner = data_parallel.fit_learner
    try:
        with pytest.MonkeyPatch.context() as mp:  # the data-parallel path's fits, by algorithm
            mp.setattr(data_parallel, "fit_learner",
                       lambda c, *a, **k: fits.append(c.algorithm) or fit_learner(c, *a, **k))
            request = pack_request(parts, root, trials, keep=set(keep), task=task, metric=metric, target=target,
                                   **fields)
            code, results = run_main(spark, request)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(previous)
    assert code == 0 and set(results) == set(trials)
    return results, fits, lines.lines


def _scored_by_spark(spark, model_uri: str, parts: dict, target: str, task: str) -> dict[str, float]:
    """The saved model applied by Spark to the validation part, labelled as the pack labels it, and
    scored by evaluation.evaluate: the figures data-parallel trials report."""
    loaded = load_prepared(spark, parts["train"], parts["validation"], target, task, [])
    scored = PipelineModel.load(model_uri).transform(loaded.validation)
    return evaluate(task, scored, label_col=LABEL, features_col=FEATURES)


@pytest.fixture(scope="module")
def binary(spark, clinic_parts, tmp_path_factory):
    root = tmp_path_factory.mktemp("trial-parallel")
    return _run(spark, clinic_parts, root, TRIALS, keep={"t-x1"}, fit_mode="trial_parallel"), root


def test_each_xgboost_trial_is_one_task_with_every_metric(binary):
    (results, fits, lines), _ = binary
    assert fits == ["logistic_regression"]  # XGBoost never went through xgboost.spark's fit
    assert any("fit mode" in line and "mode=trial_parallel" in line for line in lines)
    assert sum("phase=broadcast" in line for line in lines) == 1  # the parts, once for both trials
    for trial_id in ("t-x1", "t-x2"):
        m = results[trial_id].metrics
        assert results[trial_id].status == "SUCCEEDED", results[trial_id].error
        assert set(METRICS["binary_classification"]) <= set(m) and m["areaUnderROC"] > 0.9, m
        assert m["train_seconds"] > 0 and m["predict_ms_per_1k"] > 0 and m["executor_cpu_seconds"] >= 0
        mine = [line for line in lines if f"trial_id={trial_id} " in line and line.startswith("phase done")]
        assert {"phase=fit", "phase=evaluate", "phase=task_overhead"} <= {w for line in mine for w in line.split()}
    early, full = results["t-x1"].metrics, results["t-x2"].metrics
    assert early["boosted_rounds"] == early["best_iteration"] + 1 + 5 < 80  # stopped early, as data-parallel does
    assert full["boosted_rounds"] == 25 and full["best_iteration"] == 24


def test_its_metrics_are_spark_s_for_its_saved_model(spark, clinic_parts, binary):
    (results, _, _), root = binary
    kept = results["t-x1"]
    model = PipelineModel.load(kept.model_uri)
    assert [type(s).__name__ for s in model.stages][-2:] == ["SparkXGBClassifierModel", "IndexToString"]
    spark_metrics = _scored_by_spark(spark, kept.model_uri, clinic_parts, "diagnosis", "binary_classification")
    assert set(spark_metrics) <= set(kept.metrics)
    for name, value in spark_metrics.items():
        assert kept.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_without_sampling_both_modes_fit_the_same_model(spark, clinic_parts, tmp_path):
    """Row and column sampling draw per worker, so they differ between one worker and two; without
    them, histograms summed over two workers are one worker's, and the models agree."""
    trials = {"t-x3": ("xgboost_classifier", {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.3,
                                              "early_stopping_rounds": 5})}
    by_mode = {}
    for mode in (fit_mode.TRIAL_PARALLEL, fit_mode.DATA_PARALLEL):
        results, fits, _ = _run(spark, clinic_parts, tmp_path / mode, trials, fit_mode=mode)
        assert fits == ([] if mode == fit_mode.TRIAL_PARALLEL else ["xgboost_classifier"])
        by_mode[mode] = results["t-x3"].metrics
    one, two = by_mode.values()
    assert one["best_iteration"] == two["best_iteration"], by_mode
    for name in ("areaUnderROC", "areaUnderPR", "logLoss", "accuracy", "f1"):
        assert one[name] == pytest.approx(two[name], abs=1e-4), (name, by_mode)


def test_auto_fits_trial_parallel_while_the_parts_fit_a_quarter_of_an_executor(spark, clinic_parts, tmp_path,
                                                                                monkeypatch):
    trials = {"t-x2": TRIALS["t-x2"]}
    _, fits, lines = _run(spark, clinic_parts, tmp_path / "roomy", trials)
    assert fits == [] and any("mode=trial_parallel" in line for line in lines)
    monkeypatch.setattr(trial_parallel, "executor_memory_bytes", lambda _: 64 * 1024)  # 64 KiB executors
    results, fits, lines = _run(spark, clinic_parts, tmp_path / "tight", trials)
    assert fits == ["xgboost_classifier"] and results["t-x2"].status == "SUCCEEDED"
    assert any("mode=data_parallel" in line and "over a quarter" in line for line in lines)


def _parts(root: Path, frame: pd.DataFrame) -> dict[str, str]:
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = int(0.75 * len(shuffled))
    parts = {}
    for name, part in (("train", shuffled.iloc[:cut]), ("validation", shuffled.iloc[cut:])):
        part.to_parquet(root / f"{name}.parquet", index=False)
        parts[name] = str(root / f"{name}.parquet")
    return parts


@pytest.mark.parametrize("task", ["multiclass_classification", "regression"])
def test_multiclass_and_regression_metrics_are_spark_s_too(spark, tmp_path, task):
    if task == "regression":
        frame = skdata.load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
        target, metric, algorithm = "progression", "rmse", "xgboost_regressor"
    else:
        frame = skdata.load_iris(as_frame=True).frame.rename(columns={"target": "species"})
        frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
        frame["species"] = frame["species"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
        target, metric, algorithm = "species", "f1", "xgboost_classifier"
    parts = _parts(tmp_path, frame)
    trials = {"t-x": (algorithm, {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.2, "early_stopping_rounds": 4})}
    results, fits, _ = _run(spark, parts, tmp_path, trials, keep={"t-x"}, task=task, metric=metric, target=target,
                            fit_mode="trial_parallel")
    result = results["t-x"]
    assert fits == [] and result.status == "SUCCEEDED", result.error
    spark_metrics = _scored_by_spark(spark, result.model_uri, parts, target, task)
    assert set(spark_metrics) == set(METRICS[task]) & set(result.metrics)
    for name, value in spark_metrics.items():
        assert result.metrics[name] == pytest.approx(value, rel=1e-9), name


def test_a_trial_xgboost_refuses_fails_alone_with_one_readable_sentence(spark, tmp_path):
    frame = skdata.load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    frame.loc[:9, "progression"] = 0.0  # gamma regression needs targets above 0
    trials = {"t-gamma": ("xgboost_regressor", {"n_estimators": 5, "objective": "reg:gamma"}),
              "t-ok": ("xgboost_regressor", {"n_estimators": 5})}
    results, _, _ = _run(spark, _parts(tmp_path, frame), tmp_path, trials, task="regression", metric="rmse",
                         target="progression", fit_mode="trial_parallel")
    failed = results["t-gamma"]
    assert failed.status == "FAILED" and failed.error_kind == "data", failed
    assert failed.error == "XGBoost refused the trial: label must be positive for gamma regression."
    assert results["t-ok"].status == "SUCCEEDED", results["t-ok"].error


def test_booster_arguments_are_xgboost_spark_s_own(spark, clinic_parts):
    for algorithm_name, params in (EARLY, ("xgboost_regressor", {"n_estimators": 7, "max_bin": 64,
                                                                 "objective": "reg:absoluteerror"})):
        task = "regression" if algorithm_name.endswith("regressor") else "binary_classification"
        candidate = Candidate(task=task, metric="rmse" if task == "regression" else "areaUnderROC",
                              target="diagnosis", algorithm=algorithm_name, params=params, seed=11)
        algorithm = algorithm_for(candidate)
        parts = load_prepared(spark, clinic_parts["train"], clinic_parts["validation"], "diagnosis",
                              "binary_classification", [])
        plan, stats = profile_plan("diagnosis", parts.raw, parts.train)
        features = preprocess(task, algorithm, plan, stats, parts.train, None, [])
        xgb = trial_parallel.estimator(spark, candidate, algorithm, features.prepared, parts.labels, early=True)
        # what xgboost.spark's fit hands its workers (it counts the classes in the rows it is given)
        booster, train, matrix = xgb._get_xgb_parameters(features.train.withColumnRenamed(LABEL, alias.label))
        ours = trial_parallel.booster_arguments(xgb, 2 if task != "regression" else None)
        assert ours["booster_params"] == {k: v for k, v in booster.items() if k != "nthread"}
        assert ours["train_kwargs"] == {**train, "verbose_eval": False}
        assert math.isnan(ours["dmatrix_kwargs"].pop("missing")) and math.isnan(matrix["missing"])
        assert matrix["enable_categorical"] and matrix["feature_types"][0] == "c"  # the clinic: a category
        categorical = {k: matrix[k] for k in ("feature_types", "enable_categorical")}
        assert ours["dmatrix_kwargs"] == {**({"max_bin": 64} if "max_bin" in params else {}), **categorical}
        features.unpersist()


def test_a_rung_s_sample_is_seeded_nested_and_at_least_the_minimum():
    third, two_thirds = single_node.sample_rows(30_000, 1 / 3, 7), single_node.sample_rows(30_000, 2 / 3, 7)
    assert set(third) < set(two_thirds) and abs(len(third) - 10_000) < 300
    assert np.array_equal(third, single_node.sample_rows(30_000, 1 / 3, 7))
    assert not np.array_equal(third, single_node.sample_rows(30_000, 1 / 3, 8))
    assert single_node.sample_rows(30_000, 1.0, 7) is None and single_node.sample_rows(1_500, 0.1, 7) is None
    assert abs(len(single_node.sample_rows(5_000, 0.1, 7)) - 2_000) < 150  # MIN_SAMPLE_ROWS


def test_the_refit_rebuilds_the_trial_s_booster_and_registers_the_same_shape(spark, clinic_parts, binary, tmp_path):
    (results, _, _), _ = binary
    trial = results["t-x1"]
    outcomes = {}
    for mode in (fit_mode.TRIAL_PARALLEL, fit_mode.DATA_PARALLEL):
        code, result, manifest = finalize(spark, clinic_parts, tmp_path, mode, fit_mode=mode,
                                          refit=refit_spec(clinic_parts, *EARLY))
        assert code == 0 and result.status == "SUCCEEDED", result.error
        outcomes[mode] = (result, manifest, PipelineModel.load(manifest["model_uri"]))
    (tp, tp_manifest, tp_model), (dp, dp_manifest, dp_model) = outcomes.values()
    assert [type(s).__name__ for s in tp_model.stages] == [type(s).__name__ for s in dp_model.stages]
    assert {p.name for p in tp_model.stages[-2].extractParamMap()} == \
        {p.name for p in dp_model.stages[-2].extractParamMap()}
    assert (tp.online or {}).get("status") == (dp.online or {}).get("status")
    assert tp_manifest["refit"]["best_iteration"] == trial.metrics["best_iteration"]
    trial_booster = PipelineModel.load(trial.model_uri).stages[-2].get_booster()
    assert tp_model.stages[-2].get_booster().save_raw("json") == trial_booster.save_raw("json")
    for name in ("areaUnderROC", "accuracy"):
        assert tp.test_metrics[name] == pytest.approx(dp.test_metrics[name], abs=0.03), name
