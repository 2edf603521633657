"""The job spec's column lists, data.group_by and data.ordinal_columns (one validator, spec.check_group_by):
duplicate and empty names and the target are refused with the field named; unknown columns are refused
at submission from the dataset's header. group_by reaches the prepare and training batch requests
(ordinal_columns' requests: test_spec_ordinal_columns.py)."""
from __future__ import annotations

import json

import pytest

from tests.unit.conftest import spec_dict, spec_problems as problems
from zygarde.adapters.memory import MemoryBlobStore
from zygarde.config import Settings
from zygarde.domain.errors import DatasetError
from zygarde.domain.model import PREPARE, TRAIN
from zygarde.domain.spec import parse_job_spec
from zygarde.service_layer import datasets

FIELDS = ("group_by", "ordinal_columns")


def test_group_by_defaults_to_row_by_row_and_keeps_the_columns_given():
    assert parse_job_spec(spec_dict()).data.group_by == []
    assert parse_job_spec(spec_dict(data={"group_by": ["customer id", "store"]})).data.group_by == ["customer id", "store"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("names, words", [
    (["customer", "store", "customer"], "names customer more than once"),
    (["customer", ""], "column names cannot be empty"),
    ("customer", "valid list"),
])
def test_a_bad_column_list_is_named(field, names, words):
    found = problems(spec_dict(data={field: names}))
    assert list(found) == [f"data.{field}"] and words in found[f"data.{field}"]


@pytest.mark.parametrize("field", FIELDS)
def test_the_target_cannot_be_listed_except_in_clustering(field):
    assert problems(spec_dict(data={field: ["store", "y"]})) == {
        f"data.{field}": "cannot include the target column 'y'"}
    clustering = spec_dict(task="clustering", candidates=[{"algorithm": "kmeans"}], data={field: ["y"]})
    assert getattr(parse_job_spec(clustering).data, field) == ["y"]


@pytest.mark.parametrize("field", FIELDS)
def test_unknown_columns_are_refused_at_submission(field):
    blobs = MemoryBlobStore()
    blobs.write_bytes("gs://bkt/d.csv", b"customer,amount,y\nc1,3.5,0\n")
    dataset = {"uri": "gs://bkt/d.csv", "format": "csv", "target": "y"}
    datasets.check(parse_job_spec(spec_dict(dataset=dataset, data={field: ["customer"]})), blobs)
    bad = parse_job_spec(spec_dict(dataset=dataset, data={field: ["customer", "store"]}))
    with pytest.raises(DatasetError, match=rf"data.{field} names columns that are not in gs://bkt/d.csv: store "
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
