"""data.ordinal_columns in the job spec (issue #24 item 4): the string columns XGBoost keeps splitting as
numbers, every other one being a native categorical. Duplicate and empty names and the target are
refused with the field named; unknown columns are refused at submission from the dataset's header; the
list reaches the training and finalisation batch requests."""
from __future__ import annotations

import json

import pytest

from tests.unit.conftest import spec_dict
from zygarde.adapters.memory import MemoryBlobStore
from zygarde.config import Settings
from zygarde.domain.errors import DatasetError, SpecError
from zygarde.domain.model import FINALIZE, TRAIN
from zygarde.domain.spec import parse_job_spec
from zygarde.service_layer import datasets


def problems(raw) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_job_spec(raw)
    return dict(info.value.problems)


def test_no_column_is_ordinal_unless_declared():
    assert parse_job_spec(spec_dict()).data.ordinal_columns == []
    assert parse_job_spec(spec_dict(data={"ordinal_columns": ["grade", "size band"]})).data.ordinal_columns == [
        "grade", "size band"]


@pytest.mark.parametrize("names, words", [
    (["grade", "grade"], "names grade more than once"),
    (["grade", ""], "column names cannot be empty"),
    ("grade", "valid list"),
])
def test_a_bad_list_is_named(names, words):
    found = problems(spec_dict(data={"ordinal_columns": names}))
    assert list(found) == ["data.ordinal_columns"] and words in found["data.ordinal_columns"]


def test_the_target_cannot_be_declared_ordinal():
    assert problems(spec_dict(data={"ordinal_columns": ["grade", "y"]})) == {
        "data.ordinal_columns": "cannot include the target column 'y'"}


def test_unknown_ordinal_columns_are_refused_at_submission():
    blobs = MemoryBlobStore()
    blobs.write_bytes("gs://bkt/d.csv", b"grade,amount,y\nB,3.5,0\n")
    dataset = {"uri": "gs://bkt/d.csv", "format": "csv", "target": "y"}
    datasets.check(parse_job_spec(spec_dict(dataset=dataset, data={"ordinal_columns": ["grade"]})), blobs)
    bad = parse_job_spec(spec_dict(dataset=dataset, data={"ordinal_columns": ["grade", "band"]}))
    with pytest.raises(DatasetError, match=r"data.ordinal_columns names columns that are not in gs://bkt/d.csv: "
                                           r"band \(columns: grade, amount, y\)"):
        datasets.check(bad, blobs)


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
