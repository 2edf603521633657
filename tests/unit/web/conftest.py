"""Web fixtures: the Flask app on in-memory ports, a signed-in test client, recorded jobs."""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone

import pytest

from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryJobRepository, MemoryPublisher
from tests.unit.identities import DELEGATE, SETTINGS, fresh_token, verifier
from zygarde.domain.model import FINALIZE, PREPARE, Condition, Job, JobState, Trial, TrialState
from zygarde.domain.spec import parse_job_spec
from zygarde.service_layer.deps import Deps
from zygarde.web.app import create_app
from zygarde.web.settings import WebSettings

BUCKET = "zb"
CSV = b"age,income,city,label\n" + b"".join(f"{20 + i},{1000 + 7 * i},c{i % 3},{i % 2}\n".encode() for i in range(40))
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def deps() -> Deps:
    """In-memory ports, and the real token verifier: a test can hand what the app published to the handlers."""
    return Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(),
                publisher=MemoryPublisher(), settings=dataclasses.replace(SETTINGS, bucket=BUCKET),
                verifier=verifier())


def delegate_token() -> str:
    """The web app's own identity token (a trusted delegate's), valid now."""
    return fresh_token(DELEGATE)


@pytest.fixture
def settings() -> WebSettings:
    return WebSettings(bucket=BUCKET, dev_login=True, admins=frozenset({"root"}), max_upload_bytes=20_000,
                       secret_key="test-secret", price_per_dcu_hour=0.5)


@pytest.fixture
def app(settings, deps):
    return create_app(settings, deps, tokens=delegate_token)


def csrf_token(client, path: str = "/signin") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def sign_in(client, user: str):
    token = csrf_token(client)
    resp = client.post("/signin", data={"user": user, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


@pytest.fixture
def ana(app):
    return sign_in(app.test_client(), "ana")


@pytest.fixture
def bob(app):
    return sign_in(app.test_client(), "bob")


@pytest.fixture
def carol(app):
    return sign_in(app.test_client(), "carol")


def spec_doc(owner: str, job_id: str, **over) -> dict:
    doc = {"job_id": job_id, "owner": owner, "task": "binary_classification",
           "dataset": {"uri": f"gs://{BUCKET}/datasets/{owner}/people.csv", "format": "csv", "target": "label"},
           "candidates": [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1]}}],
           "search": {"strategy": "grid"}, "seed": 7}
    doc.update(over)
    return parse_job_spec(doc).model_dump(mode="json")


def _metrics(auc: float) -> dict:
    """What a binary trial records: every metric of the task, and its resources."""
    return {"areaUnderROC": auc, "areaUnderPR": auc - 0.05, "accuracy": auc - 0.08, "f1": auc - 0.1,
            "logLoss": 1.2 - auc, "weightedPrecision": auc - 0.07, "weightedRecall": auc - 0.08, "mcc": auc - 0.3,
            "train_seconds": 12.5, "predict_ms_per_1k": 3.25, "peak_memory_bytes": 2.5e8}


# what job_plans stores for a job without limits (its figures as the planner priced it)
PLAN = {"predicted_seconds": 228.4, "predicted_dcu_hours": 0.8, "predicted_dollars": 0.048, "batches": 2,
        "executors": 2, "executor_cores": 4, "driver_cores": 4, "concurrency": 3, "trials": 2, "search_seconds": 190.2,
        "summary": "about 4 minutes, about 0.80 DCU-hours, about $0.05", "sized": False, "fixed_parallel": False,
        "infeasible": None, "price_per_dcu_hour": 0.06, "properties": {}, "rows": 40, "rows_estimated": True}


def add_job(repo, owner: str, job_id: str, finished: bool = True) -> Job:
    """A recorded job with a prepared data report, two finished trials and (when finished) a model."""
    spec = spec_doc(owner, job_id)
    prepare = Trial(job_id, PREPARE, -2, PREPARE, {}, TrialState.SUCCEEDED, attempt=1, kind=PREPARE,
                    started_at=iso(0), finished_at=iso(60), created_at=iso(0),
                    outputs={"report": {"row_count": 40, "target": "label", "class_balance": {"0": 20, "1": 20},
                                        "warnings": [{"column": "city", "kind": "x", "message": "city <b>odd</b>"}],
                                        "columns": {"age": {"type": "int", "nulls": 0, "distinct": 40, "min": 20,
                                                            "max": 59, "mean": 39.5}}},
                             "fingerprint": {"objects": [{"path": "people.csv", "crc32c": "abc"}]}})
    trials = [prepare]
    for i, (reg, score) in enumerate([(0.0, 0.81), (0.1, 0.93)]):
        cond = Condition("SUCCEEDED", "TrainingSucceeded", f"areaUnderROC={score}", iso(120 + 60 * i))
        trials.append(Trial(job_id, f"t{i:03d}", i, "logistic_regression", {"regParam": reg},
                            TrialState.SUCCEEDED if finished or i == 0 else TrialState.WAITING,
                            attempt=1 if finished or i == 0 else 0, objective=score if finished or i == 0 else None,
                            metrics=_metrics(score) if finished or i == 0 else {},
                            started_at=iso(60) if finished or i == 0 else None,
                            finished_at=iso(120 + 60 * i) if finished or i == 0 else None,
                            conditions=(cond,) if finished or i == 0 else ()))
    if finished:
        trials.append(Trial(job_id, FINALIZE, -1, "logistic_regression", {}, TrialState.SUCCEEDED, attempt=1,
                            kind=FINALIZE, started_at=iso(240), finished_at=iso(270),
                            outputs={"package_uri": f"gs://{BUCKET}/models/{job_id}/{job_id}/",
                                     "test_metrics": {"areaUnderROC": 0.9}}))
    state = JobState.SUCCEEDED if finished else JobState.RUNNING
    job = Job(job_id, owner, state, spec, created_at=iso(0), trial_count=2,
              best_trial_id="t001" if finished else "t000", best_objective=0.93 if finished else 0.81,
              finished_at=iso(300) if finished else None,
              model_name=job_id if finished else None, model_version=1 if finished else None,
              test_metrics={"areaUnderROC": 0.9} if finished else {}, plan=PLAN)
    repo.add_job(job, trials)
    if finished:
        repo.register_model_version(job_id, job_id, {
            "trial_id": "t001", "algorithm": "logistic_regression", "params": {"regParam": 0.1},
            "metric": "areaUnderROC", "validation_metrics": {"areaUnderROC": 0.93},
            "test_metrics": {"areaUnderROC": 0.9}, "package_uri": f"gs://{BUCKET}/models/{job_id}/{job_id}/",
            "manifest_uri": f"gs://{BUCKET}/models/{job_id}/{job_id}/manifest.json", "registered_at": iso(300)}, owner)
    return job
