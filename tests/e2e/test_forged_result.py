"""The whole local cloud: a forged result object written to the bucket for a running trial (a perfect
objective, a model in another bucket) is never trusted: the trial's own result counts."""
from __future__ import annotations

import json
import time

import pytest

from tests.e2e.test_training_job import demo_spec, deps, wait_finished  # noqa: F401 - deps is a fixture
from zygarde.domain.contracts import TrialResult, result_object_name
from zygarde.domain.model import JobState
from zygarde.service_layer.launching import trial_uris

pytestmark = pytest.mark.e2e


def test_a_forged_result_for_a_running_trial_never_wins(deps, local_cloud):  # noqa: F811
    spec = demo_spec(deps.settings.bucket, "e2e-forged")
    spec["candidates"] = [{"algorithm": "logistic_regression", "params": {"regParam": [0.01]}}]
    deps.publisher.publish("jobs", json.dumps(spec).encode())
    pid = local_cloud.state_dir / "dataproc" / "batches" / "zyg-e2e-forged-t0000-a1" / "pid"
    deadline = time.monotonic() + 300
    while not pid.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pid.exists(), "the trial's batch never started"
    forged = TrialResult("e2e-forged", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 1.0, "f1": 1.0},
                         model_uri="gs://attacker/model")
    deps.blobs.write_bytes(f"gs://{deps.settings.bucket}/{result_object_name('e2e-forged', 't0000', 1)}",
                           forged.to_json().encode(), "application/json")  # notified like any result
    view = wait_finished(deps, "e2e-forged")
    trial = view.trials[0]
    assert view.job.state is JobState.SUCCEEDED, view.job
    assert trial.objective < 1.0 and view.job.best_objective == trial.objective
    assert trial.model_uri == trial_uris(deps.settings, "e2e-forged", "t0000", trial.attempt)[0]
    assert view.finalize.params["model_uri"] == trial.model_uri
