"""A pack of one job's trials trained in one Spark session (spark_jobs/train_pack.py). Every trial runs
in a pack: a job that turns packing off runs packs of one.

The prepared train and validation parts are read, labelled and cached once. Each preprocessing
(fitting.preprocessing_key: "one_hot+standard", "indexed"...) is fitted once on the training rows,
and once per cross-validation fold, and its feature rows are cached for every trial that uses it
(released when the last of them ends: shared_values.py). Trials fit `concurrency` at a time in a thread
pool, as Spark's TrainValidationSplit does with `parallelism`; learners that train in barrier mode (XGBoost)
then fit one at a time in the main thread, so that two barrier stages never wait on each other's
task slots, unless the pack fits them trial-parallel (zygarde/spark/trial_parallel.py: when the prepared
parts fit an executor, each XGBoost trial is one Spark task in the pool). Each trial writes its own
TrialResult as soon as it ends; one that fails gets a FAILED result with one readable sentence and the
others go on.

A trial is fitted and scored in data_parallel.py, or in trial_parallel.py when it runs in one task.
A packed trial's result holds what run_trial's does, scored the same way: the validation metrics
(and the cross-validation means), boosting.fitted_metrics, train_seconds (the learner's fit: the shared
preprocessing is logged per plan), executor_cpu_seconds of the trial's own Spark job group (no
latency probe: the registered model's is measured at finalisation; peak memory is the batch's, not a
trial's: reported for a pack of one only, as peak_memory_bytes with the batch's executor CPU). The
model is saved (model_uri, model_bytes) only when the packed trial names a model_uri (the job keeps
every trial's model, or does not pack). A trial
fitted on all the train rows writes its validation predictions to its predictions_uri, when named
(validation_predictions: for the ensemble selection at finalisation); with k-fold cross-validation, its
out-of-fold predictions (each train row scored by its fold's model, each validation row by the final one).
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import DataFrame, SparkSession

from zygarde.domain import algorithms
from zygarde.domain.contracts import PackedTrial, PackRequest, TrialResult
from zygarde.domain.errors import SpecError
from zygarde.domain.algorithms import CLUSTERING
from zygarde.spark import data_parallel, hadoop_fs, trial_parallel
from zygarde.spark.estimators import resolve_params
from zygarde.spark.evaluation import finite
from zygarde.spark.failures import describe_failure
from zygarde.spark.fitting import (Candidate, Features, Parts, Phases, algorithm_for, fold_parts, folds,
                                   load_prepared, preprocess, preprocessing_key, profile_plan)
from zygarde.spark.resources import ResourceMeter, group_cpu_seconds
from zygarde.spark.shared_values import Once

log = logging.getLogger(__name__)

_LOCAL_PROPERTIES = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel",
                     "spark.scheduler.pool")


@dataclass
class PackOutcome:
    """What execute returns: every trial's result, by trial id, in the request's order."""

    job_id: str
    pack_id: str
    results: dict[str, TrialResult]
    unwritten: list[str] = field(default_factory=list)  # result URIs that could not be written

    @property
    def status(self) -> str:
        """SUCCEEDED when every result was written and at least one trial succeeded (the others' results
        say why they failed); FAILED when a result could not be written or every trial failed."""
        ok = any(r.status == "SUCCEEDED" for r in self.results.values())
        return "SUCCEEDED" if ok and not self.unwritten else "FAILED"

    def summary(self) -> str:
        counts = Counter(r.status for r in self.results.values())
        return f"trials={len(self.results)} succeeded={counts['SUCCEEDED']} failed={counts['FAILED']}"


@contextlib.contextmanager
def job_group(spark: SparkSession, group: str, description: str):
    """Runs this thread's Spark jobs under job group `group` (and a scheduler pool of its own, used
    when the session schedules FAIR), restoring the thread's previous properties after."""
    sc = spark.sparkContext
    before = {key: sc.getLocalProperty(key) for key in _LOCAL_PROPERTIES}
    sc.setJobGroup(group, description)
    sc.setLocalProperty("spark.scheduler.pool", f"zygarde-{threading.current_thread().name}")
    try:
        yield
    finally:
        for key, value in before.items():
            sc.setLocalProperty(key, value)


@dataclass
class _Folds:
    frame: DataFrame  # the train rows with their fold (cached)
    sizes: dict[int, int]

    def unpersist(self) -> None:
        self.frame.unpersist()


class _Pack:
    def __init__(self, spark: SparkSession, request: PackRequest):
        self.spark, self.request = spark, request
        self.ids = f"job_id={request.job_id} pack_id={request.pack_id}"
        self.cached: list[DataFrame] = []
        self.parts: Parts | None = None
        self.load_error: BaseException | None = None
        self.once = Once(Counter(key for trial in request.trials for key in self._keys(trial)))
        self.unwritten: list[str] = []
        self.lock = threading.Lock()
        self.predictions_kept: set[str] = set()  # trials whose validation predictions were written
        self.fit_mode = None  # trial_parallel.choose's, once the parts are loaded (packs with XGBoost)
        # a pack of one is its batch: the batch's resource use is the trial's (peak memory included)
        self.meter = ResourceMeter(spark) if len(request.trials) == 1 else None

    def _keys(self, trial: PackedTrial) -> list[tuple]:
        """The shared values a trial uses: its preprocessing (whole train part, each fold), the folds."""
        algorithm = algorithms.get(trial.algorithm)
        if algorithm is None:
            return []
        plan, k = preprocessing_key(algorithm), self.request.k_folds
        per_fold = [("features", plan, i) for i in range(k)] + [("folds",)] if k >= 2 else []
        arrays = [("arrays", plan)] if algorithm.barrier else []  # trial-parallel XGBoost's broadcast
        return [("features", plan, None), *per_fold, *arrays]

    def candidate(self, trial: PackedTrial) -> Candidate:
        r = self.request
        return Candidate(task=r.task, metric=r.metric, target=r.target, algorithm=trial.algorithm,
                         params=dict(trial.params), seed=r.seed, k_folds=r.k_folds, group_by=tuple(r.group_by),
                         train_fraction=trial.train_fraction, ordinal_columns=tuple(r.ordinal_columns))

    def load(self) -> None:
        phases, r = Phases(self.ids), self.request
        try:
            if not (r.train_uri and r.validation_uri):
                raise SpecError([("", "the trial request names no prepared data (train_uri and validation_uri): a "
                                      "trial trains only on the parts the job's data preparation writes")])
            with job_group(self.spark, f"{r.pack_id}-load", "reading the prepared parts"):
                self.parts = load_prepared(self.spark, r.train_uri, r.validation_uri, r.target, r.task, self.cached)
            phases.done("load", train_rows=self.parts.train_rows, validation_rows=self.parts.validation_rows)
        except Exception as exc:  # noqa: BLE001 - every trial reports it
            log.error("pack load failed %s error=%s", self.ids, str(exc).splitlines()[0][:300] if str(exc) else exc)
            self.load_error = exc

    def folds(self) -> _Folds:
        # the folds depend on the pack's seed, k_folds and group_by only
        return self.once.get(("folds",), lambda: _Folds(*folds(self.request, self.parts.train, self.cached)))

    def features(self, algorithm, fold: int | None) -> Features:
        """The preprocessing of `algorithm`'s plan, fitted on the train part (fold None) or on the
        other folds of `fold`, with the rows it is scored on (validation, or the held-out fold)."""
        key = preprocessing_key(algorithm)

        def make() -> Features:
            where = "" if fold is None else f" fold={fold}"
            phases = Phases(f"{self.ids} plan={key}{where}")
            with job_group(self.spark, f"{self.request.pack_id}-{key}-{fold}", f"preprocessing {key}{where}"):
                if fold is None:
                    train, scored = self.parts.train, self.parts.validation
                else:
                    train, scored = fold_parts(self.folds().frame, fold)
                plan, stats = self.once.get(("profile", fold),
                                            lambda: profile_plan(self.request.target, self.parts.raw, train,
                                                                 tuple(self.request.ordinal_columns)))
                features = preprocess(self.request.task, algorithm, plan, stats, train, scored, self.cached)
            phases.done("preprocess", features=features.prepared.n_features)
            return features

        return self.once.get(("features", key, fold), make)

    def _train_and_score(self, trial: PackedTrial, context: str) -> dict[str, float]:
        candidate = self.candidate(trial)
        algorithm = algorithm_for(candidate)
        resolve_params(algorithm, candidate.params)  # fail fast, before touching data
        if self.load_error is not None:
            raise self.load_error
        if trial_parallel.in_a_task(self.fit_mode, algorithm):  # issue #24: the whole trial in one Spark task
            return trial_parallel.train_and_score(self, trial, candidate, algorithm, context)
        return data_parallel.train_and_score(self, trial, candidate, algorithm, context)

    def keeps_predictions(self, trial: PackedTrial, candidate: Candidate) -> bool:
        """Whether the trial keeps its validation predictions: fitted on all the train rows, supervised."""
        return bool(trial.predictions_uri) and candidate.train_fraction >= 1.0 and candidate.task != CLUSTERING

    def keep_predictions(self, trial: PackedTrial, write: Callable[[], None]) -> None:
        """Writes the trial's validation predictions; a failed write leaves the trial out of the ensemble
        selection, nothing more."""
        try:
            write()
            with self.lock:
                self.predictions_kept.add(trial.trial_id)
        except Exception as exc:  # noqa: BLE001 - the trial's own result still stands
            log.warning("validation predictions not kept %s trial_id=%s uri=%s: %s", self.ids, trial.trial_id,
                        trial.predictions_uri, str(exc).splitlines()[0][:300] if str(exc) else exc)

    def run_trial(self, trial: PackedTrial) -> TrialResult:
        """One trial of the pack, scored. Never raises."""
        started, r = time.monotonic(), self.request
        context = f"{self.ids} trial_id={trial.trial_id} attempt={trial.attempt}"
        group = f"{r.pack_id}-{trial.trial_id}"
        common = {"job_id": r.job_id, "trial_id": trial.trial_id, "attempt": trial.attempt,
                  "spark_version": self.spark.version}
        log.info("trial started %s algorithm=%s task=%s", context, trial.algorithm, r.task)
        try:
            with job_group(self.spark, group, f"trial {trial.trial_id} ({trial.algorithm})"):
                metrics = self._train_and_score(trial, context)
            usage = self.meter.usage() if self.meter is not None else group_cpu_seconds(self.spark, group)
            metrics = finite({**metrics, **usage})
            train_rows = int(metrics["fit_rows"]) if "fit_rows" in metrics else self.parts.train_rows
            kept = trial.predictions_uri if trial.trial_id in self.predictions_kept else None
            result = TrialResult(status="SUCCEEDED", metrics=metrics, model_uri=trial.model_uri,
                                 validation_predictions_uri=kept,
                                 train_rows=train_rows, validation_rows=self.parts.validation_rows,
                                 duration_seconds=time.monotonic() - started, **common)
            log.info("trial succeeded %s %s=%s", context, r.metric, metrics.get(r.metric))
        except Exception as exc:  # noqa: BLE001 - every failure must become a result
            kind, message = describe_failure(exc, "training")
            log.error("trial failed %s error_kind=%s error=%s", context, kind, message, exc_info=True)
            result = TrialResult(status="FAILED", error=message, error_kind=kind,
                                 duration_seconds=time.monotonic() - started, **common)
        finally:
            for key in self._keys(trial):
                self.once.release(key)
        return result

    def finish(self, trial: PackedTrial) -> TrialResult:
        """run_trial, then its result written at once (a failed write is recorded, the pack goes on)."""
        result = self.run_trial(trial)
        try:
            write_result(self.spark, trial.result_uri, result)
            log.info("result written %s trial_id=%s status=%s uri=%s", self.ids, trial.trial_id, result.status,
                     trial.result_uri)
        except Exception as exc:  # noqa: BLE001 - the other trials still run and report
            log.error("could not write the result %s trial_id=%s uri=%s: %s", self.ids, trial.trial_id,
                      trial.result_uri, str(exc).splitlines()[0][:300] if str(exc) else exc)
            self.unwritten.append(trial.result_uri)
        return result

    def run(self) -> PackOutcome:
        r = self.request
        workers = max(1, r.concurrency or self.spark.sparkContext.defaultParallelism)
        log.info("pack started %s trials=%d concurrency=%d", self.ids, len(r.trials), workers)
        results: dict[str, TrialResult] = {}
        try:
            self.load()
            self.fit_mode = trial_parallel.choose(self)  # issue #24: trial-parallel XGBoost, or None
            barrier = [t for t in r.trials if getattr(algorithms.get(t.algorithm), "barrier", False)
                       and not trial_parallel.in_a_task(self.fit_mode, algorithms.get(t.algorithm))]
            pooled = [t for t in r.trials if t not in barrier]
            if pooled:
                with ThreadPoolExecutor(max_workers=min(workers, len(pooled)), thread_name_prefix="zy-pack") as pool:
                    results.update(zip((t.trial_id for t in pooled), pool.map(self.finish, pooled)))
            for trial in barrier:  # one barrier stage at a time, nothing else running beside it
                results[trial.trial_id] = self.finish(trial)
        finally:
            for df in self.cached:
                with contextlib.suppress(Exception):
                    df.unpersist()
        return PackOutcome(r.job_id, r.pack_id, {t.trial_id: results[t.trial_id] for t in r.trials},
                           list(self.unwritten))


def write_result(spark: SparkSession, uri: str, result: TrialResult) -> None:
    hadoop_fs.write_bytes(spark, uri, result.to_json().encode("utf-8"))


def run_pack(spark: SparkSession, request: PackRequest) -> PackOutcome:
    """Trains every trial of the pack, writing each one's result as it ends. Never raises."""
    return _Pack(spark, request).run()


def execute(spark: SparkSession, request: PackRequest) -> PackOutcome:
    """run_pack; raises (after every trial has run) when a trial's result could not be written."""
    outcome = run_pack(spark, request)
    if outcome.unwritten:
        raise OSError(f"could not write {len(outcome.unwritten)} of {len(request.trials)} trial results: "
                      + ", ".join(outcome.unwritten))
    return outcome
