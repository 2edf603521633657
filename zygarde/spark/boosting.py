"""XGBoost on Spark (xgboost.spark) inside a trial: the settings Zygarde derives for it (workers,
histogram trees, seed, early stopping on the validation part, the eval metric matching the job's),
and what the fitted booster tells (its best iteration).

The learner is an ordinary pipeline stage: it is saved, reloaded and applied with the rest of the
PipelineModel, so packaging and batch prediction need nothing of their own.
"""
from __future__ import annotations

from typing import Any

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from zygarde.domain.algorithms import BINARY, MULTICLASS, REGRESSION, Algorithm

VALIDATION = "zy__is_validation"  # True on the validation rows early stopping watches
# the job's metric -> the XGBoost eval metric early stopping watches (others: XGBoost's default)
EVAL_METRICS = {
    BINARY: {"areaUnderROC": "auc", "areaUnderPR": "aucpr", "logLoss": "logloss", "accuracy": "error"},
    MULTICLASS: {"logLoss": "mlogloss", "accuracy": "merror"},
    REGRESSION: {"rmse": "rmse", "mae": "mae", "mape": "mape"},
}


def early_stopping(algorithm: Algorithm, params: dict[str, Any]) -> bool:
    """True when the learner stops early on validation rows (XGBoost with early_stopping_rounds > 0)."""
    if "early_stopping_rounds" not in algorithm.params:
        return False
    return int({**algorithm.defaults, **(params or {})}.get("early_stopping_rounds", 0)) > 0


def num_workers(spark: SparkSession) -> int:
    """One XGBoost worker per task slot of the batch: spark.default.parallelism in local mode, else
    executors x (executor cores / task cpus). The barrier stage needs all of them at once."""
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return max(1, sc.defaultParallelism)
    conf = sc.getConf()
    instances = int(conf.get("spark.executor.instances", "2"))
    cores = int(conf.get("spark.executor.cores", "4"))
    task_cpus = int(conf.get("spark.task.cpus", "1"))
    return max(1, instances * max(1, cores // task_cpus))


def settings(spark: SparkSession, *, seed: int, task: str, metric: str | None, validation: bool,
             feature_types: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Parameter values set on the estimator beside the trial's own; None means 'leave unset'.
    feature_types (features.Prepared's): "c" marks a native categorical feature (xgboost.spark then
    builds its matrices with enable_categorical, and the trees split it by set membership)."""
    # force_repartition: a shuffle before the barrier stage. Without it, training rows derived from a
    # union (the prepared parts read as one frame, then filtered) make Spark refuse the barrier stage
    # ("Barrier execution mode does not allow ... union()"), as XGBoost without early stopping did.
    out: dict[str, Any] = {"num_workers": num_workers(spark), "tree_method": "hist", "random_state": int(seed),
                           "force_repartition": True,
                           "feature_types": list(feature_types) if feature_types else None}
    if validation:
        out["validationIndicatorCol"] = VALIDATION
        if (name := EVAL_METRICS.get(task, {}).get(metric or "")) is not None:
            out["eval_metric"] = name
    else:
        out["early_stopping_rounds"] = None  # nothing to watch: build every tree
    return out


def with_validation(train: DataFrame, validation: DataFrame) -> DataFrame:
    """Training rows and validation rows in one frame, told apart by VALIDATION."""
    return train.withColumn(VALIDATION, F.lit(False)).unionByName(validation.withColumn(VALIDATION, F.lit(True)))


def fitted_metrics(model: PipelineModel) -> dict[str, float]:
    """best_iteration (0-based; the rounds used to predict are best_iteration + 1) and
    boosted_rounds of an XGBoost stage; {} for other models."""
    stage = next((s for s in model.stages if hasattr(s, "get_booster")), None)
    if stage is None:
        return {}
    booster = stage.get_booster()
    rounds = booster.num_boosted_rounds()
    best = booster.attributes().get("best_iteration")
    return {"boosted_rounds": float(rounds), "best_iteration": float(best) if best is not None else float(rounds - 1)}
