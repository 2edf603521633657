"""data.group_by in the job spec: duplicate and empty names and the target are refused with the
field named; unknown columns are refused at submission from the dataset's header; the spec's
group_by reaches the prepare and training batch requests."""
from __future__ import annotations

import json

import pytest

from tests.unit.conftest import spec_dict
from zygarde.adapters.memory import MemoryBlobStore
from zygarde.config import Settings
from zygarde.domain.errors import DatasetError, SpecError
from zygarde.domain.model import PREPARE, TRAIN
from zygarde.domain.spec import parse_job_spec
from zygarde.service_layer import datasets


def problems(raw) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_job_spec(raw)
    return dict(info.value.problems)


def test_group_by_defaults_to_row_by_row_and_keeps_the_columns_given():
    assert parse_job_spec(spec_dict()).data.group_by == []
    assert parse_job_spec(spec_dict(data={"group_by": ["customer id", "store"]})).data.group_by == ["customer id", "store"]


@pytest.mark.parametrize("group_by, words", [
    (["customer", "store", "customer"], "names customer more than once"),
    (["customer", ""], "column names cannot be empty"),
    ("customer", "valid list"),
])
def test_bad_group_by_is_named(group_by, words):
    found = problems(spec_dict(data={"group_by": group_by}))
    assert list(found) == ["data.group_by"] and words in found["data.group_by"]


def test_the_target_cannot_be_a_group_column_except_in_clustering():
    assert problems(spec_dict(data={"group_by": ["store", "y"]})) == {
        "data.group_by": "cannot include the target column 'y'"}
    clustering = spec_dict(task="clustering", candidates=[{"algorithm": "kmeans"}], data={"group_by": ["y"]})
    assert parse_job_spec(clustering).data.group_by == ["y"]


def test_unknown_group_columns_are_refused_at_submission():
    blobs = MemoryBlobStore()
    blobs.write_bytes("gs://bkt/d.csv", b"customer,amount,y\nc1,3.5,0\n")
    datasets.check(parse_job_spec(spec_dict(dataset={"uri": "gs://bkt/d.csv", "format": "csv", "target": "y"},
                                            data={"group_by": ["customer"]})), blobs)
    bad = parse_job_spec(spec_dict(dataset={"uri": "gs://bkt/d.csv", "format": "csv", "target": "y"},
                                   data={"group_by": ["customer", "store"]}))
    with pytest.raises(DatasetError, match=r"data.group_by names columns that are not in gs://bkt/d.csv: store "
                                           r"\(columns: customer, amount, y\)"):
        datasets.check(bad, blobs)


def test_group_by_reaches_the_prepare_and_trial_requests():
    from zygarde.domain.model import Trial
    from zygarde.service_layer.stages import STAGES

    spec = parse_job_spec(spec_dict(data={"group_by": ["customer"], "k_folds": 3}))
    settings = Settings(project="p", region="r", bucket="bkt")
    for kind, trial_id in ((PREPARE, "prepare"), (TRAIN, "t1")):
        trial = Trial(job_id="job-1", trial_id=trial_id, index=0, kind=kind, algorithm="logistic_regression",
                      params={}, attempt=1, batch_id="b", pack_id="p")
        request = json.loads(STAGES[kind].batch_request([trial], spec, "ana", settings).args[1])
        assert request["group_by"] == ["customer"]
