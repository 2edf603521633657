"""data.ordinal_columns in the job spec (issue #24 item 4): the string columns XGBoost keeps splitting as
numbers, every other one being a native categorical. None unless declared; the list reaches the training
and finalisation batch requests. (Its checks, shared with data.group_by: test_spec_group_by.py.)"""
from __future__ import annotations

import json

from tests.unit.conftest import spec_dict
from zygarde.config import Settings
from zygarde.domain.model import FINALIZE, TRAIN
from zygarde.domain.spec import parse_job_spec


def test_no_column_is_ordinal_unless_declared():
    assert parse_job_spec(spec_dict()).data.ordinal_columns == []
    assert parse_job_spec(spec_dict(data={"ordinal_columns": ["grade", "size band"]})).data.ordinal_columns == [
        "grade", "size band"]


def test_the_list_reaches_the_trial_and_finalisation_requests():
    from zygarde.domain.model import Trial
    from zygarde.service_layer.stages import STAGES

    spec = parse_job_spec(spec_dict(data={"ordinal_columns": ["grade"]}))
    settings = Settings(project="p", region="r", bucket="bkt")
    train = Trial(job_id="job-1", trial_id="t1", index=0, kind=TRAIN, algorithm="xgboost_classifier", params={},
                  attempt=1, batch_id="b", pack_id="p")
    finalize = Trial(job_id="job-1", trial_id="finalize", index=-1, kind=FINALIZE, algorithm="xgboost_classifier",
                     params={"model_uri": "gs://bkt/m", "manifest": {}}, attempt=1, batch_id="b")
    for trial in (train, finalize):
        request = json.loads(STAGES[trial.kind].batch_request([trial], spec, "ana", settings).args[1])
        assert request["ordinal_columns"] == ["grade"]
