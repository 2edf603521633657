"""One local[2] SparkSession for every Spark test, small datasets written once, and a helper that
runs the batch entry point in-process. The JVM is stopped (by PID) at the end of the session."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets as skdata
from sklearn.model_selection import train_test_split

from tests.unit.spark.session import local_session
from zygarde.domain.contracts import (FinalizeRequest, FinalizeResult, PackedTrial, PackRequest, PrepareRequest,
                                      PrepareResult, RefitSpec, TrialResult)

# This helper's port range is 18300-18399; Spark falls back to the next ports when one is busy.
_SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.port": "18310",
    "spark.blockManager.port": "18340",
    "spark.port.maxRetries": "20",
    "spark.sql.adaptive.enabled": "false",
    # a hundred tests' cached frames and plans: at the default 1 GB the heap ran out and the JVM died,
    # taking every later Spark test with it; the heap is a ceiling, not a reservation. (The 20,000-column
    # preparation, which died here at 3 and 5 GB on CI, runs in a JVM of its own: test_hostile_files.)
    "spark.driver.memory": "5g",
}


@pytest.fixture(scope="package")
def spark():
    """Stopped (its JVM too) after the last Spark unit test, before the integration and e2e tests: a
    session left running would be what their own getOrCreate returns, without their configuration (the
    e2e check of a package on fake-gcs-server then found no file system for gs://)."""
    with local_session("zygarde-spark-tests", _SPARK_CONF) as session:
        yield session


@pytest.fixture(autouse=True)
def _the_jvm_outlives_each_test():
    """A JVM that dies in a test (an OutOfMemoryError in a task thread exits it, code 52) fails that
    test by name, with the exit code: every later Spark test would only say ConnectionRefusedError."""
    yield
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    if proc is not None and proc.poll() is not None:
        pytest.fail(f"the Spark test JVM exited with code {proc.returncode} during this test (52: out of "
                    "memory; its stderr is in this test's captured output)", pytrace=False)


def _frame(loader, target_name: str):
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [c.replace(" ", "_").replace("(", "").replace(")", "") for c in frame.columns]
    return frame.rename(columns={"target": target_name})


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """breast cancer (binary, string labels, a categorical column, missing values), diabetes
    (regression), iris (multiclass; csv, parquet, json lines) and a libsvm file."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    cancer = _frame(skdata.load_breast_cancer, "diagnosis")
    cancer["diagnosis"] = np.where(cancer["diagnosis"] == 1, "benign", "malignant")
    cancer.insert(0, "size_band", np.where(cancer["mean_radius"] > 15, "large",
                                           np.where(cancer["mean_radius"] > 12, "medium", "small")))
    cancer.loc[rng.choice(len(cancer), 40, replace=False), "mean_texture"] = np.nan
    cancer.loc[rng.choice(len(cancer), 20, replace=False), "size_band"] = None
    cancer.to_csv(root / "cancer.csv", index=False)
    cancer[["size_band", *[c for c in cancer.columns if c.startswith("mean_")][:8], "diagnosis"]] \
        .to_csv(root / "cancer_small.csv", index=False)
    _frame(skdata.load_diabetes, "progression").to_csv(root / "diabetes.csv", index=False)
    iris = _frame(skdata.load_iris, "species")
    iris["species"] = iris["species"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    iris.to_csv(root / "iris.csv", index=False)
    iris.to_parquet(root / "iris.parquet", index=False)
    iris.to_json(root / "iris.jsonl", orient="records", lines=True)
    shuffled = iris.sample(frac=1.0, random_state=0)  # "prepared" parts, as the job's preparation writes them
    shuffled.iloc[:110].to_parquet(root / "iris_train.parquet", index=False)
    shuffled.iloc[110:].to_parquet(root / "iris_validation.parquet", index=False)
    x, y = skdata.load_breast_cancer(return_X_y=True)
    skdata.dump_svmlight_file(x, y, str(root / "cancer.libsvm"), zero_based=False)
    return root



@pytest.fixture(scope="session")
def clinic_parts(tmp_path_factory) -> dict[str, str]:
    """Breast cancer as a user would send it, prepared: malignant cases thinned to about a fifth
    (skewed classes), a clinic column of 60 levels (most rows in a few), a referral flag, nulls in
    numbers, categories and flags, and exact duplicate rows; split 60/20/20, stratified, into the
    Parquet parts the job's preparation writes. {"train" | "validation" | "test": path}."""
    root = tmp_path_factory.mktemp("clinic")
    rng = np.random.default_rng(3)
    frame = _frame(skdata.load_breast_cancer, "diagnosis")
    frame = frame[[c for c in frame.columns if c.startswith("mean_")][:8] + ["worst_area", "worst_concavity",
                                                                              "diagnosis"]].copy()
    frame["diagnosis"] = np.where(frame["diagnosis"] == 1, "benign", "malignant")
    malignant = frame.index[frame["diagnosis"] == "malignant"]
    frame = frame.drop(rng.choice(malignant, len(malignant) - 90, replace=False))
    weights = 1.0 / np.arange(1, 61)
    frame.insert(0, "clinic", [f"clinic-{i:02d}" for i in rng.choice(60, len(frame), p=weights / weights.sum())])
    frame["referred"] = pd.array(rng.random(len(frame)) < 0.3, dtype="boolean")
    for name, count in (("mean_texture", 30), ("mean_smoothness", 15), ("worst_area", 10)):
        frame.loc[rng.choice(frame.index, count, replace=False), name] = np.nan
    frame.loc[rng.choice(frame.index, 25, replace=False), "clinic"] = None
    frame.loc[rng.choice(frame.index, 20, replace=False), "referred"] = pd.NA
    frame = pd.concat([frame, frame.sample(30, random_state=1)]).sample(frac=1.0, random_state=2)
    train, rest = train_test_split(frame, test_size=0.4, stratify=frame["diagnosis"], random_state=0)
    validation, test = train_test_split(rest, test_size=0.5, stratify=rest["diagnosis"], random_state=0)
    parts = {}
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        part.reset_index(drop=True).to_parquet(root / f"{name}.parquet", index=False)
        parts[name] = str(root / f"{name}.parquet")
    return parts

DATASETS = {  # name -> (file, format, target, task)
    "cancer": ("cancer.csv", "csv", "diagnosis", "binary_classification"),
    "cancer_small": ("cancer_small.csv", "csv", "diagnosis", "binary_classification"),
    "diabetes": ("diabetes.csv", "csv", "progression", "regression"),
    "iris": ("iris.csv", "csv", "species", "multiclass_classification"),
    "iris_parquet": ("iris.parquet", "parquet", "species", "multiclass_classification"),
    "iris_json": ("iris.jsonl", "json", "species", "multiclass_classification"),
    "iris_clusters": ("iris.csv", "csv", "species", "clustering"),
    "cancer_libsvm": ("cancer.libsvm", "libsvm", "label", "binary_classification"),
}


# What a trial shares with the preparation that feeds it, and the job spec's default test fraction.
_PREPARATION_FIELDS = ("dataset_uri", "dataset_format", "dataset_options", "target", "task", "seed",
                       "validation_fraction", "group_by")
_PACK_TOO = {"target", "task", "seed", "group_by"}  # preparation fields a pack request also carries
TEST_FRACTION = 0.15
TRIAL_SEED, TRIAL_VALIDATION_FRACTION = 11, 0.25


@pytest.fixture(scope="package")
def prepared(spark, tmp_path_factory):
    """prepared(**PrepareRequest fields) -> (exit code, PrepareResult): runs the preparation batch's
    entry point in-process, as every job does before its trials. A successful preparation is kept for
    the session, so each dataset is prepared once per seed, fractions, target, task and selection."""
    from spark_jobs.prepare_data import main

    root = tmp_path_factory.mktemp("prepared")
    done: dict[str, PrepareResult] = {}

    def run(**fields) -> tuple[int, PrepareResult]:
        fields = {"job_id": "job-test", "attempt": 1, "test_fraction": TEST_FRACTION, **fields}
        key = json.dumps(fields, sort_keys=True, default=str)
        if key in done:
            return 0, done[key]
        out = root / uuid.uuid4().hex[:8]
        request = PrepareRequest(**fields, output_prefix=f"{out}/data/", result_uri=f"{out}/result.json")
        code = main(["--request", request.to_json()], spark=spark)
        result = PrepareResult.from_json(Path(request.result_uri).read_text())
        if code == 0 and result.status == "SUCCEEDED":
            done[key] = result
        return code, result

    return run


@pytest.fixture
def prepared_parts(prepared, data_dir):
    """prepared_parts(dataset, **trial request fields) -> PrepareResult: the parts the `trial` fixture
    trains on for the same dataset and fields (asserted to be prepared)."""
    def run(dataset: str, **overrides) -> PrepareResult:
        file, fmt, target, task = DATASETS[dataset]
        fields = dict(dataset_uri=str(data_dir / file), dataset_format=fmt, target=target, task=task,
                      seed=TRIAL_SEED, validation_fraction=TRIAL_VALIDATION_FRACTION)
        fields.update(overrides)
        code, result = prepared(**{k: v for k, v in fields.items() if k in _PREPARATION_FIELDS})
        assert code == 0 and result.status == "SUCCEEDED", result.error
        return result

    return run


@dataclass(frozen=True)
class OneTrial:
    """What a `trial` ran: its pack of one, and the dataset it was prepared from (to score new rows)."""

    request: PackRequest
    dataset_uri: str
    dataset_format: str

    @property
    def model_uri(self) -> str | None:
        return self.request.trials[0].model_uri

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def task(self) -> str:
        return self.request.task


def pack_of_one(job_id: str, trial_id: str, algorithm: str, params: dict, *, task: str, metric: str, target: str,
                seed: int, train_uri: str | None, validation_uri: str | None, result_uri: str,
                model_uri: str | None = None, train_fraction: float = 1.0, **fields) -> PackRequest:
    """A PackRequest of one trial, as a job that does not pack (or a lone trial) launches it."""
    trial = PackedTrial(trial_id=trial_id, attempt=1, algorithm=algorithm, params=params, result_uri=result_uri,
                        model_uri=model_uri, train_fraction=train_fraction)
    return PackRequest(job_id=job_id, pack_id=f"{trial_id}-a1", task=task, metric=metric, target=target, seed=seed,
                       train_uri=train_uri, validation_uri=validation_uri, trials=(trial,), **fields)


def finalize_ensemble(spark, *, job_id: str, task: str, target: str, metric: str, parts: dict[str, str], candidates,
                      root: Path, name: str, attempt: int = 1) -> tuple[FinalizeResult, dict]:
    """Runs the finalisation batch's entry point in-process with ensemble `candidates` (EnsembleCandidates,
    the winner first, refitted from the prepared `parts`), packaging under {root}/models/{name}/; asserts it
    succeeded. (its FinalizeResult, its manifest)."""
    from spark_jobs.finalize_model import main

    winner = candidates[0]
    request = FinalizeRequest(
        job_id=job_id, attempt=attempt, model_uri=None, test_uri=parts["test"], task=task, target=target,
        metric=metric, package_uri=f"{root}/models/{name}/", result_uri=f"{root}/results/{name}-{attempt}.json",
        manifest={"job_id": job_id, "seed": TRIAL_SEED},
        refit=RefitSpec(algorithm=winner.algorithm, params=dict(winner.params), seed=TRIAL_SEED,
                        train_uri=parts["train"], validation_uri=parts["validation"]),
        ensemble=tuple(candidates))
    assert main(["--request", request.to_json()], spark=spark) == 0
    result = FinalizeResult.from_json(Path(request.result_uri).read_text())
    assert result.status == "SUCCEEDED", result.error
    return result, json.loads(Path(result.manifest_uri).read_text())


@pytest.fixture
def trial(spark, data_dir, tmp_path, prepared_parts):
    """trial(dataset, algorithm, **overrides) -> (exit code, TrialResult, OneTrial): prepares the
    dataset as the job would (once per session, see `prepared`), then runs the training batch's entry
    point in-process against the shared session with a pack of this one trial on the prepared train and
    validation parts, keeping its model. Passing train_uri / validation_uri (None included) skips the
    preparation."""
    from spark_jobs.train_pack import main

    def run(dataset: str, algorithm: str, params: dict | None = None, **overrides):
        file, fmt, target, task = DATASETS[dataset]
        trial_id = "t" + uuid.uuid4().hex[:6]
        dataset_uri = overrides.get("dataset_uri", str(data_dir / file))
        preparation = {k: v for k, v in overrides.items() if k in _PREPARATION_FIELDS}
        fields = dict(task=task, metric="", target=target, seed=TRIAL_SEED,
                      model_uri=str(tmp_path / "models" / trial_id),
                      result_uri=str(tmp_path / "results" / f"{trial_id}.json"))
        fields.update({k: v for k, v in overrides.items() if k not in _PREPARATION_FIELDS or k in _PACK_TOO})
        if "train_uri" not in overrides and "validation_uri" not in overrides:
            parts = prepared_parts(dataset, **preparation)
            fields.update(train_uri=parts.parts["train"], validation_uri=parts.parts["validation"])
        request = pack_of_one("job-test", trial_id, algorithm, params or {}, **fields)
        code = main(["--request", request.to_json()], spark=spark)
        uri = request.trials[0].result_uri
        result = TrialResult.from_json(Path(uri).read_text())
        json.loads(Path(uri).read_text(), parse_constant=_reject)  # strict JSON
        return code, result, OneTrial(request, dataset_uri, fmt)

    return run


def _reject(name: str):
    raise AssertionError(f"non-standard JSON constant {name} in a result")


def score_unseen(spark, request: OneTrial, changes: dict[int, dict]) -> list:
    """Reloads the trial's saved model and scores five dataset rows without the target, after
    applying `changes` (row index -> {column: new value}): unseen categories, nulls, extremes."""
    from pyspark.ml import PipelineModel

    from zygarde.spark.dataset import read_dataset

    model = PipelineModel.load(request.model_uri)
    raw = read_dataset(spark, request.dataset_uri, request.dataset_format)
    features = raw.drop(request.target) if request.target in raw.columns else raw
    rows = [row.asDict() for row in features.limit(5).collect()]
    for index, values in changes.items():
        rows[index].update(values)
    return model.transform(spark.createDataFrame(rows, schema=features.schema)).collect()
