"""The whole local cloud: a job published with gcloud trains through functions, Dataproc (local) and
Spark, the leaderboard is right, the best model loads back and predicts; bad jobs are rejected."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from zygarde.config import topic
from zygarde.domain.identity import identity_of_key, token_attributes
from zygarde.domain.model import JobState, TrialState
from zygarde.local import demo
from zygarde.local.sample_data import breast_cancer_csv
from zygarde.service_layer.queries import job_view

pytestmark = pytest.mark.e2e


def demo_spec(bucket: str, job_id: str) -> dict:
    """The demo job, registered under its own job id so that tests do not share a model's versions."""
    return {**demo.demo_spec(bucket, job_id), "name": job_id}


def wait_finished(deps, job_id: str, timeout: float = 900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = job_view(deps.repo, job_id)
        if view is not None and view.job.state.is_finished():
            return view
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {job_view(deps.repo, job_id)}")


DEMO_OWNER = "demo@zygarde.dev"


def gcloud_publish(cloud, project: str, message: str, user: str = DEMO_OWNER) -> None:
    """As the README says: `gcloud pubsub topics publish zygarde-jobs --message=... --attribute=token=...`,
    the token the local cloud issues for `user` (`zygarde local env --user USER` exports it)."""
    token = cloud.identity_token(user)
    subprocess.run(["gcloud", "pubsub", "topics", "publish", topic("jobs"), f"--project={project}",
                    f"--message={message}", f"--attribute=token={token}"], env={**os.environ, **cloud.env()},
                   check=True, capture_output=True, timeout=120)


def signed(cloud, user: str = DEMO_OWNER, **attributes: str) -> dict[str, str]:
    return {**token_attributes(cloud.identity_token(user)), **attributes}


@pytest.fixture(scope="module")
def deps(local_cloud):
    os.environ.update(local_cloud.env())
    from zygarde.bootstrap import build_deps

    d = build_deps()
    d.blobs.write_bytes(demo.demo_data_uri(d.settings.bucket, "demo@zygarde.dev"), breast_cancer_csv(), "text/csv")
    return d


def test_bad_jobs_are_rejected_with_reasons(deps, local_cloud):
    spec = demo_spec(deps.settings.bucket, "e2e-no-target")
    spec["dataset"]["target"] = "price"
    gcloud_publish(local_cloud, deps.settings.project, json.dumps(spec))
    gcloud_publish(local_cloud, deps.settings.project, "this is not json")
    view = wait_finished(deps, "e2e-no-target", timeout=120)
    assert view.job.state is JobState.REJECTED and "target column 'price'" in view.job.error
    out = subprocess.run([sys.executable, "-m", "zygarde.cli", "status"], env={**os.environ, **local_cloud.env(), "COLUMNS": "200"},
                         capture_output=True, text=True, timeout=120)
    assert "e2e-no-target" in out.stdout and "REJECTED" in out.stdout
    assert deps.launcher.list({"zygarde-job": "e2e-no-target"}) == []


def test_job_trains_end_to_end_and_model_predicts(deps, local_cloud):
    spec = demo_spec(deps.settings.bucket, "e2e-train")
    spec["candidates"] = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.05]}},
                          {"algorithm": "random_forest_classifier", "params": {"numTrees": [10], "maxDepth": [4]}}]
    gcloud_publish(local_cloud, deps.settings.project, json.dumps(spec))
    deps.publisher.publish("jobs", json.dumps(spec).encode(), **signed(local_cloud))  # the same job twice: trained once
    view = wait_finished(deps, "e2e-train")
    assert view.job.state is JobState.SUCCEEDED, view.job
    assert [t.state for t in view.trials] == [TrialState.SUCCEEDED] * 3
    assert all(t.attempt == 1 for t in view.trials)
    batches = deps.launcher.list({"zygarde-job": "e2e-train"})
    # a small job is one batch: the preparation's batch takes the pack of the three trials, then the
    # finalisation, each handed to it warm (handoffs 1 and 2); every stage and trial keeps its record
    assert len(batches) == 1, [(b.batch_id, b.state) for b in batches]
    [batch] = batches
    assert batch.batch_id == "zyg-e2e-train-prepare-a1", batches
    assert {t.batch_id for t in [*view.trials, view.prepare, view.finalize]} == {batch.batch_id}
    assert [view.prepare.handoff, view.trials[0].handoff, view.finalize.handoff] == [0, 1, 2]
    assert len({t.pack_id for t in view.trials}) == 1 and view.trials[0].pack_id.startswith("pack-")
    assert all("HandedOff" in [c.reason for c in t.conditions] for t in [*view.trials, view.finalize])
    assert all(t.model_uri is None for t in view.trials)  # no model per trial
    assert view.finalize.params["refit"]["algorithm"] == next(t for t in view.trials
                                                              if t.trial_id == view.job.best_trial_id).algorithm
    deadline = time.monotonic() + 120  # a batch exits a moment after writing its result
    while not all(b.state == "SUCCEEDED" for b in batches) and time.monotonic() < deadline:
        time.sleep(1)
        batches = deps.launcher.list({"zygarde-job": "e2e-train"})
    assert all(b.state == "SUCCEEDED" for b in batches), batches
    assert view.prepare.outputs["rows"]["test"] > 0 and view.data_report
    assert view.job.model_name == "e2e-train" and view.job.model_version == 1
    assert view.job.test_metrics["areaUnderROC"] > 0.9
    package = view.finalize.outputs["package_uri"]
    manifest = json.loads(deps.blobs.read_bytes(view.finalize.outputs["manifest_uri"]))
    assert manifest["job_id"] == "e2e-train" and manifest["trial_id"] == view.job.best_trial_id
    # the winner was fitted in this batch by its trial: taken from memory, not fitted again
    assert manifest["refit"]["refitted"] is False and manifest["refit"]["on"] == "train", manifest["refit"]
    # every trial kept its validation predictions in the bucket, and the finalisation selected on them: on
    # this data their ensemble does not beat the winner, so the single winner is what got registered
    assert all(t.outputs["validation_predictions_uri"].endswith(f"/{t.trial_id}/attempt-1/validation_predictions.parquet")
               and deps.blobs.exists(t.outputs["validation_predictions_uri"]) for t in view.trials)
    ensemble = view.finalize.outputs["ensemble"]
    assert ensemble["candidates"] == 3 and ensemble["selected_on"] == "validation", ensemble
    assert ensemble["status"] == "not_better" and "ensemble" not in manifest, ensemble
    assert ensemble["best_single_trial_id"] == view.job.best_trial_id
    assert deps.repo.model_versions("e2e-train")[0]["package_uri"] == package
    rows = view.leaderboard()
    assert rows[0].rank == 1 and rows[0].trial_id == view.job.best_trial_id
    assert rows[0].objective == max(t.objective for t in view.trials) > 0.9
    assert all(set(t.metrics) >= {"areaUnderROC", "f1", "accuracy"} for t in view.trials)
    assert [c.state for c in view.trials[0].conditions] == ["LAUNCHING", "RUNNING", "SUCCEEDED"]

    out = subprocess.run([sys.executable, "-m", "zygarde.cli", "status", "e2e-train"],
                         env={**os.environ, **local_cloud.env(), "COLUMNS": "200"}, capture_output=True, text=True, timeout=120)
    assert "leaderboard" in out.stdout and "registered: e2e-train v1" in out.stdout, out.stdout + out.stderr
    owner = {"ZYGARDE_IDENTITY_TOKEN": local_cloud.identity_token(identity_of_key(view.job.owner))}  # as its owner
    out = subprocess.run([sys.executable, "-m", "zygarde.cli", "models", "e2e-train"],
                         env={**os.environ, **local_cloud.env(), **owner, "COLUMNS": "250"}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "model e2e-train (areaUnderROC)" in out.stdout, out.stdout + out.stderr
    assert f"{view.job.test_metrics['areaUnderROC']:.4f}" in out.stdout and package in out.stdout, out.stdout

    from pyspark.ml import PipelineModel
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.sql import SparkSession

    from zygarde.local.spark_gcs import spark_conf_for_emulator

    builder = SparkSession.builder.master("local[1]").appName("e2e-check").config("spark.ui.enabled", "false")
    for k, v in spark_conf_for_emulator(os.environ["STORAGE_EMULATOR_HOST"]).items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    try:
        model = PipelineModel.load(package + "model")  # the registered package's copy
        data = spark.read.option("header", True).option("inferSchema", True).csv(spec["dataset"]["uri"])
        scored = model.transform(data)
        assert scored.count() == data.count() == 569
        from pyspark.sql import functions as F

        # the pipeline indexes string labels alphabetically: benign 0, malignant 1
        scored = scored.withColumn("y", F.when(F.col("diagnosis") == "malignant", 1.0).otherwise(0.0))
        auc = BinaryClassificationEvaluator(labelCol="y").evaluate(scored)
        assert auc > 0.95, auc
        if "predicted_label" in scored.columns:
            assert {r[0] for r in scored.select("predicted_label").distinct().collect()} <= {"benign", "malignant"}
    finally:
        spark.stop()


def test_a_pack_killed_mid_run_keeps_finished_trials_reruns_the_rest_and_a_forged_result_never_wins(
        deps, local_cloud):
    """A pack of two logistic regressions and two small GBTs, fitted two at a time in the request's
    order: the GBTs start only once a logistic regression has ended. When the first result is
    written, a forged result for a GBT (a perfect objective, a model in another bucket) is written too
    and the batch is killed (kill -9). The reconciler tick finds it dead: the trials that reported
    keep their results, the rest are packed again as attempt 2, and only their own results count.
    Nothing waits for slow work after the kill (the rerun trials are quick)."""
    import signal

    from zygarde.domain.contracts import TrialResult, result_object_name
    from zygarde.domain.model import TRAIN

    spec = demo_spec(deps.settings.bucket, "e2e-killed")
    spec["candidates"] = [{"algorithm": "logistic_regression", "params": {"regParam": [0.01, 0.1], "maxIter": [10]}},
                          {"algorithm": "gbt_classifier", "params": {"maxIter": [5], "maxDepth": [2, 3]}}]
    spec["max_parallel"] = 1
    assert deps.settings.pack_concurrency == 2  # tests/e2e/conftest.py: two fits at a time
    deps.publisher.publish("jobs", json.dumps(spec).encode(), **signed(local_cloud))
    deadline = time.monotonic() + 300

    def result_uri(trial_id: str) -> str:
        return f"gs://{deps.settings.bucket}/{result_object_name('e2e-killed', trial_id, 1)}"

    def trials_of(algorithm: str) -> list[str]:
        return sorted(t.trial_id for t in deps.repo.list_trials("e2e-killed")
                      if t.kind == TRAIN and t.algorithm == algorithm)

    while len(trials_of("gbt_classifier")) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    queued, trial_ids = trials_of("gbt_classifier"), trials_of("logistic_regression") + trials_of("gbt_classifier")
    while not (first := [t for t in trial_ids if deps.blobs.exists(result_uri(t))]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first and not set(first) & set(queued), f"reported first: {first}; queued behind them: {queued}"
    batch_id = deps.repo.get_trial("e2e-killed", first[0]).batch_id
    pid = int((local_cloud.state_dir / "dataproc" / "batches" / batch_id / "pid").read_text())
    forged = TrialResult("e2e-killed", queued[0], 1, "SUCCEEDED", {"areaUnderROC": 1.0, "f1": 1.0},
                         model_uri="gs://attacker/model")
    # notified like any result
    deps.blobs.write_bytes(result_uri(queued[0]), forged.to_json().encode(), "application/json")
    os.kill(pid, signal.SIGKILL)
    done = [t for t in trial_ids if t != queued[0] and deps.blobs.exists(result_uri(t))]  # their own results
    assert set(first) <= set(done) and not set(done) & set(queued), done
    while deps.launcher.get(batch_id).state != "FAILED" and time.monotonic() < deadline:
        time.sleep(0.2)
    deps.publisher.publish("reconcile", b'{"reason": "tick"}')
    view = wait_finished(deps, "e2e-killed")
    assert view.job.state is JobState.SUCCEEDED, view.job
    trials = {t.trial_id: t for t in view.trials}
    for trial_id in done:
        kept = trials[trial_id]
        assert kept.attempt == 1 and kept.state is TrialState.SUCCEEDED and kept.batch_id == batch_id
    rerun = [t for t in view.trials if t.attempt == 2]
    assert sorted(t.trial_id for t in rerun) == sorted(set(trial_ids) - set(done))
    assert all(t.batch_id != batch_id and t.batch_id.endswith("-a2") for t in rerun)
    assert all(t.state is TrialState.SUCCEEDED and t.attempt <= 2 for t in view.trials)  # never a third time
    retried = trials[queued[0]]
    reasons = [c.reason for c in retried.conditions]
    assert retried.attempt == 2 and "Retrying" in reasons and reasons[-1] == "TrainingSucceeded"
    died = next(c for c in retried.conditions if c.reason == "Retrying")  # the dead batch left only the forged result
    assert "is not this attempt's" in died.message and "gs://attacker/model" in died.message
    assert "train_seconds" in retried.metrics  # its own result, which the forged one is not
    assert retried.objective < 1.0 and view.job.best_objective < 1.0  # the forged 1.0 never counted


def test_a_v1_request_runs(deps, local_cloud):
    """The original Zygarde request format, on the LIBSVM sample that pyspark ships."""
    import pyspark

    sample = os.path.join(os.path.dirname(pyspark.__file__), "data", "mllib", "sample_libsvm_data.txt")
    uri = f"gs://{deps.settings.bucket}/datasets/someone@example.com/sample_libsvm_data.txt"
    with open(sample, "rb") as f:
        deps.blobs.write_bytes(uri, f.read())
    request = {"job_id": "e2e-v1", "domain": "binomial-classification", "dataset": {"path": uri, "format": "libsvm"},
               "methods": [{"algorithm": "binomial-logistic-regression",
                            "hyperparameters": [{"param": "regParam", "values": [0.0, 0.1]}]}],
               "parameterSearch": "grid", "computationalResources": {"maxTotalInstances": 2},
               "emailAddress": "someone@example.com"}
    gcloud_publish(local_cloud, deps.settings.project, json.dumps(request), user="someone@example.com")
    view = wait_finished(deps, "e2e-v1")
    assert view.job.state is JobState.SUCCEEDED, view.job
    assert view.metric == "mcc" and view.job.owner == "someone@example.com"
    assert len(view.trials) == 2 and view.job.model_version == 1


def test_a_deadline_job_runs_on_its_plan_and_shows_predicted_beside_actual(deps, local_cloud):
    """Issue #25: the plan made at acceptance sizes the job's batches; status shows it beside what the job took."""
    spec = demo_spec(deps.settings.bucket, "e2e-plan")
    spec["candidates"] = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.05]}},
                          {"algorithm": "random_forest_classifier", "params": {"numTrees": [10], "maxDepth": [4]}}]
    spec["budget"] = {"deadline_minutes": 10}
    spec.pop("max_parallel", None)
    gcloud_publish(local_cloud, deps.settings.project, json.dumps(spec))
    view = wait_finished(deps, "e2e-plan")
    job = view.job
    assert job.state is JobState.SUCCEEDED, job
    plan = job.plan
    assert plan["sized"] and plan["predicted_seconds"] <= 600 and "plan: about" in job.conditions[0].message
    assert job.duration_seconds <= 600  # ended by its deadline
    out = subprocess.run([sys.executable, "-m", "zygarde.cli", "status", "e2e-plan", "--format", "json"],
                         env={**os.environ, **local_cloud.env()}, capture_output=True, text=True, timeout=120)
    shown = json.loads(out.stdout)
    assert shown["plan"] == {k: plan[k] for k in ("predicted_seconds", "predicted_dcu_hours", "predicted_dollars")}
    assert shown["duration_seconds"] == job.duration_seconds and shown["cost"]["cores_per_batch"] == \
        max(12, plan["executors"] * plan["executor_cores"] + plan["driver_cores"])
    out = subprocess.run([sys.executable, "-m", "zygarde.cli", "status", "e2e-plan"],
                         env={**os.environ, **local_cloud.env(), "COLUMNS": "250"}, capture_output=True, text=True,
                         timeout=120)
    assert f"plan: {plan['summary']}; actual: " in out.stdout, out.stdout + out.stderr
    print(f"\nplan {plan['summary']} ({plan['batches']} x {plan['executors']}x{plan['executor_cores']}, "
          f"{plan['concurrency']} at a time); actual {job.duration_seconds:.0f} s, {shown['cost']}")
