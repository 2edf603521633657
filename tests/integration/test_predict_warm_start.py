"""The predict function started as Cloud Functions starts it (FUNCTION_TARGET=predict) with
ZYGARDE_PREDICT_WARM naming a model by its alias, on the Firestore emulator and fake-gcs-server: it
loads that version in the background as it starts (its log says so), and the first request is answered
by that version; a name that cannot load is logged and does not stop the service."""
from __future__ import annotations

import json
import os
import time

import pytest
import requests

from tests.integration.predict_service import running_predict_service
from tests.unit.identities import fresh_token
from tests.unit.online_fixtures import register
from zygarde.config import env_name
from zygarde.local.cloud import LocalPorts
from zygarde.packaging import REPO_ROOT

pytestmark = pytest.mark.integration
ANA = "ana@example.com"


def _log_lines(path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_the_aliased_version_is_loaded_at_start_and_answers_the_first_request(module_namespace, token_issuer,
                                                                             tmp_path):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, storage

    from zygarde.adapters.firestore import FirestoreJobRepository
    from zygarde.adapters.gcs import GcsBlobStore

    ns = module_namespace
    repo = FirestoreJobRepository(firestore.Client(project=ns.project))
    blobs = GcsBlobStore(storage.Client(project=ns.project, credentials=AnonymousCredentials()))
    register(repo, blobs, "churn", "job-1", sign=1.0, bucket=ns.bucket, owner=ANA)
    register(repo, blobs, "churn", "job-2", sign=-1.0, bucket=ns.bucket, owner=ANA)
    repo.set_alias("churn", "production", 1, ANA, "2026-12-07T10:00:00+00:00")

    port, log_path = LocalPorts.free().scheduler, tmp_path / "predict.log"
    env = {**os.environ, **ns.env, **token_issuer, "PYTHONPATH": str(REPO_ROOT), "XDG_RUNTIME_DIR": str(tmp_path),
           "FUNCTION_TARGET": "predict", env_name("predict_warm"): "churn@production,nosuch@production"}
    with running_predict_service(env, port, log_path) as base:
        deadline, warmed = time.monotonic() + 60, []
        while time.monotonic() < deadline and not warmed:  # wait on the log line, not a fixed time
            warmed = [r for r in _log_lines(log_path) if "model warmed" in r.get("message", "")]
            time.sleep(0.2)
        assert warmed and "ref=churn@production version=1" in warmed[0]["message"], log_path.read_text()[-2000:]
        skipped = [r for r in _log_lines(log_path) if "model not warmed" in r.get("message", "")]
        assert skipped and "ref=nosuch@production" in skipped[0]["message"]
        answer = requests.post(base + "/v1/models/churn/versions/production:predict",
                               json={"instances": [{"age": 50, "color": "blue"}]}, timeout=10,
                               headers={"Authorization": "Bearer " + fresh_token(ANA, base)})
        assert answer.status_code == 200 and answer.json()["modelVersionId"] == "1", answer.text
