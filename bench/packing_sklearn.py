"""Quality and speed anchors off Spark: scikit-learn models equivalent to the grid's Spark learners,
and optionally FLAML with a short time budget, on the same prepared train / validation parts.

Equivalences (Spark -> scikit-learn): linear / logistic regression with regParam r and
elasticNetParam a -> ElasticNet(alpha=r, l1_ratio=a) / LogisticRegression(C=1/(r n), elastic net),
on standardised numbers and one-hot categories (Spark standardises too); random forest numTrees,
maxDepth -> RandomForest(n_estimators, max_depth, max_features as Spark's "auto": 1/3 for
regression, sqrt for classification); gradient-boosted trees maxIter, maxDepth (step 0.1, 32 bins)
-> HistGradientBoosting(max_iter, max_depth, learning_rate 0.1, max_bins 32, no early stopping).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd


def read_parts(parts: dict, target: str) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """(X_train, y_train, X_validation, y_validation) from the local Parquet parts."""
    train, validation = pd.read_parquet(parts["train"]), pd.read_parquet(parts["validation"])
    return (train.drop(columns=[target]), train[target], validation.drop(columns=[target]), validation[target])


def _preprocessor(x: pd.DataFrame, one_hot: bool):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    categorical = [c for c in x.columns if x[c].dtype == object or str(x[c].dtype) in ("string", "category")]
    numeric = [c for c in x.columns if c not in categorical]
    if one_hot:
        return ColumnTransformer([("num", StandardScaler(), numeric),
                                  ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    return ColumnTransformer([("num", "passthrough", numeric),
                              ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                               categorical)])


def model_for(algorithm: str, params: dict, n_train: int, seed: int):
    """The scikit-learn pipeline equivalent to a Spark candidate: (estimator, one_hot)."""
    from sklearn import ensemble, linear_model

    classify = algorithm.endswith("classifier") or algorithm == "logistic_regression"
    if algorithm in ("linear_regression", "logistic_regression"):
        reg, mix = float(params.get("regParam", 0.0)), float(params.get("elasticNetParam", 0.0))
        if algorithm == "linear_regression":
            model = linear_model.LinearRegression() if reg == 0 else \
                linear_model.ElasticNet(alpha=reg, l1_ratio=mix, max_iter=10_000, random_state=seed)
        else:
            model = linear_model.LogisticRegression(C=np.inf, max_iter=1000) if reg == 0 else linear_model.LogisticRegression(
                C=1.0 / (reg * n_train), l1_ratio=mix, solver="saga", max_iter=1000, random_state=seed)
        return model, True
    if algorithm.startswith("random_forest"):
        cls = ensemble.RandomForestClassifier if classify else ensemble.RandomForestRegressor
        return cls(n_estimators=int(params.get("numTrees", 20)), max_depth=int(params.get("maxDepth", 5)),
                   max_features="sqrt" if classify else 1 / 3, n_jobs=1, random_state=seed), False
    if algorithm.startswith("gbt"):
        cls = ensemble.HistGradientBoostingClassifier if classify else ensemble.HistGradientBoostingRegressor
        return cls(max_iter=int(params.get("maxIter", 20)), max_depth=int(params.get("maxDepth", 5)),
                   learning_rate=float(params.get("stepSize", 0.1)), max_bins=32, max_leaf_nodes=None,
                   early_stopping=False, random_state=seed), False
    raise ValueError(f"no scikit-learn equivalent for {algorithm}")


def score(metric: str, model, x: pd.DataFrame, y: pd.Series) -> float:
    from sklearn.metrics import mean_squared_error, roc_auc_score

    if metric == "rmse":
        return float(np.sqrt(mean_squared_error(y, model.predict(x))))
    if metric == "areaUnderROC":
        return float(roc_auc_score(y, model.predict_proba(x)[:, 1]))
    raise ValueError(f"metric {metric} is not computed here")


def run_grid(grid: list[tuple[str, str, dict]], parts: dict, target: str, metric: str, parallelism: int,
             seed: int) -> dict:
    """Every candidate of the grid, `parallelism` at a time (scikit-learn's fits release the GIL)."""
    from sklearn.pipeline import make_pipeline

    started = time.monotonic()
    x_train, y_train, x_val, y_val = read_parts(parts, target)

    def one(item: tuple[str, str, dict]) -> dict:
        trial_id, algorithm, params = item
        model, one_hot = model_for(algorithm, params, len(x_train), seed)
        pipeline = make_pipeline(_preprocessor(x_train, one_hot), model)
        t0 = time.monotonic()
        pipeline.fit(x_train, y_train)
        fit = time.monotonic() - t0
        return {"trial_id": trial_id, "algorithm": algorithm, "params": params, "fit_seconds": fit,
                "score": score(metric, pipeline, x_val, y_val), "model": type(model).__name__}

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        trials = list(pool.map(one, grid))
    return {"wall_seconds": time.monotonic() - started, "parallelism": parallelism, "trials": trials}


def run_flaml(parts: dict, target: str, task: str, metric: str, budget_seconds: float, parallelism: int,
              seed: int) -> dict:
    """FLAML's own search (random forest and extra trees: the learners that need nothing more than
    scikit-learn) with a time budget, validated on the same validation part."""
    from flaml import AutoML  # importing flaml starts a local[*] pandas-on-Spark session: not timed, stopped below

    started = time.monotonic()
    x_train, y_train, x_val, y_val = read_parts(parts, target)
    for frame in (x_train, x_val):
        for c in frame.columns:
            if frame[c].dtype == object:
                frame[c] = frame[c].astype("category")
    automl = AutoML()
    automl.fit(x_train, y_train, X_val=x_val, y_val=y_val, eval_method="holdout",
               task="regression" if task == "regression" else "classification",
               metric="rmse" if metric == "rmse" else "roc_auc", time_budget=budget_seconds,
               estimator_list=["rf", "extra_tree"], n_jobs=parallelism, seed=seed, verbose=0)
    best = score(metric, automl, x_val, y_val)
    wall = time.monotonic() - started
    _stop_spark()
    return {"wall_seconds": wall, "grid": False, "budget_seconds": budget_seconds,
            "trials": [{"trial_id": f"flaml-{automl.best_estimator}", "algorithm": automl.best_estimator,
                        "params": automl.best_config, "score": best,
                        "fit_seconds": automl.best_config_train_time}]}


def _stop_spark() -> None:
    """Stops the Spark session FLAML's import started (its JVM would outlive the benchmark otherwise)."""
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is not None:
        gateway = SparkContext._gateway
        context.stop()
        if gateway is not None:
            gateway.shutdown()
            gateway.proc.terminate()
        SparkContext._gateway = SparkContext._jvm = None
