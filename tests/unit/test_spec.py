"""Job spec validation: good specs pass, each bad field is named with its reason."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.unit.conftest import DATA_URI, spec_dict, spec_problems as problems
from zygarde.domain.errors import SpecError
from zygarde.domain.search import expand
from zygarde.domain.spec import json_schema, parse_job_spec

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_objective():
    spec = parse_job_spec(spec_dict())
    assert spec.objective == "areaUnderROC" and spec.direction == "maximize"
    assert spec.max_attempts == 2 and spec.seed == 42 and spec.search.strategy == "grid"
    assert parse_job_spec(spec_dict(task="regression", candidates=[{"algorithm": "linear_regression"}])).direction \
        == "minimize"


@pytest.mark.parametrize("change, path, words", [
    ({"dataset": {"uri": "s3://b/x.csv", "format": "csv"}}, "dataset.uri", "gs://"),
    ({"dataset": {"uri": "gs://bkt/x.txt", "format": "xls"}}, "dataset.format", "csv"),
    ({"task": "ranking"}, "task", "regression"),
    ({"metric": "rmse"}, "metric", "not a binary_classification metric"),
    ({"candidates": []}, "candidates", "at least 1"),
    ({"candidates": [{"algorithm": "xgboost"}]}, "candidates[0].algorithm", "unknown algorithm"),
    ({"candidates": [{"algorithm": "linear_regression"}]}, "candidates[0].algorithm", "cannot do binary"),
    ({"candidates": [{"algorithm": "logistic_regression", "params": {"maxDepth": [3]}}]},
     "candidates[0].params.maxDepth[0]", "no hyperparameter"),
    ({"candidates": [{"algorithm": "logistic_regression", "params": {"elasticNetParam": [0.5, 2]}}]},
     "candidates[0].params.elasticNetParam[1]", "<= 1.0"),
    ({"candidates": [{"algorithm": "random_forest_classifier", "params": {"numTrees": ["many"]}}]},
     "candidates[0].params.numTrees[0]", "integer"),
    ({"candidates": [{"algorithm": "logistic_regression", "params": {"regParam": []}}]},
     "candidates[0].params", "no values"),
    ({"max_parallel": 0}, "max_parallel", "greater than or equal to 1"),
    ({"job_id": "Bad Id"}, "job_id", "lower-case letters"),
    ({"surprise": 1}, "surprise", "Extra inputs"),
])
def test_each_bad_field_is_named(change, path, words):
    found = problems(spec_dict(**change))
    assert path in found, found
    assert words in found[path]


def test_not_json_and_not_object():
    assert "not valid JSON" in problems(b"{nope")[""]
    assert "JSON object" in problems(b"[1, 2]")[""]
    assert "owner" in problems({k: v for k, v in spec_dict().items() if k != "owner"})


def test_grid_expansion_is_the_product_in_order():
    spec = parse_job_spec(spec_dict(candidates=[
        {"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1], "maxIter": [10, 20, 30]}},
        {"algorithm": "random_forest_classifier"}]))
    trials = expand(spec, "job-1", "2026-01-01T00:00:00+00:00")
    assert len(trials) == 7
    assert [t.trial_id for t in trials][:2] == ["t0000", "t0001"]
    assert trials[0].params == {"maxIter": 10, "regParam": 0.0}
    assert isinstance(trials[0].params["regParam"], float)
    assert trials[6].algorithm == "random_forest_classifier" and trials[6].params == {}
    assert len({json.dumps(t.params, sort_keys=True) + t.algorithm for t in trials}) == 7


def test_published_schema_is_current_and_validates_the_example():
    published = json.loads((ROOT / "schemas" / "job_spec.schema.json").read_text())
    assert published == json.loads(json.dumps(json_schema())), "run: make schema"
    example = json.loads((ROOT / "examples" / "breast_cancer_job.json").read_text())
    jsonschema.validate(example, published)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "task": "ranking"}, published)
    parse_job_spec(example)


@pytest.mark.parametrize("condition", [
    "age > 30 AND city = 'from the north; select'",  # words inside string literals are data
    "income IS NOT NULL OR `selected items` > 2",
    "lower(name) LIKE '%reflective%'",
    "year(signup) > 2020 AND trim(city) = 'Oslo'",
])
def test_row_filters_on_the_dataset_s_own_columns_are_accepted(condition):
    from zygarde.domain.row_filter_text import parse

    assert parse_job_spec(spec_dict(data={"row_filter": condition})).data.row_filter == parse(condition)


@pytest.mark.parametrize("condition, word", [
    ("id IN (SELECT id FROM parquet.`gs://bkt/artifacts/other-job/data/train`)", "unexpected 'SELECT'"),
    ("id IN (TABLE parquet.`gs://bkt/artifacts/other-job/data/train`)", "unexpected 'TABLE'"),
    ("reflect('java.lang.Runtime', 'getRuntime') IS NOT NULL", "unknown function 'reflect'"),
    ("java_method('java.lang.System', 'exit', 0) = 0", "unknown function 'java_method'"),
    ("x > 1; DROP TABLE t", "unexpected character ';'"),
])
def test_row_filters_that_could_read_other_data_or_run_code_are_refused(condition, word):
    found = problems(spec_dict(data={"row_filter": condition}))
    assert word in found["data.row_filter"], found


@pytest.mark.parametrize("over, reason", [
    ({"dataset": {"uri": DATA_URI, "format": "csv", "target": "y", "options": {"samplingRatio": [0.5]}}},
     "dataset.options.samplingRatio: must be a boolean, an integer, a number or a string"),
    ({"data": {"expectations": {"f1": {"min": {"a": 1}}}}},
     "data.expectations.f1.min: must be a boolean, an integer, a number or a string, or a list of them"),
    ({"candidates": [{"algorithm": "logistic_regression", "params": {"regParam": [[0.1]]}}]},
     "candidates[0].params.regParam: must be a distribution object or a list of booleans, integers, numbers or "
     "strings"),
    ({"dataset": {"uri": DATA_URI, "format": "csv", "target": "y", "options": {"": "x"}}},
     "dataset.options: has a field whose name is empty"),
    ({"name": "Churn"}, "name: a model name is 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter"),
    ({"dataset": {"uri": "gs://bkt./datasets/ana@example.com/d.csv", "format": "csv", "target": "y"}},
     "dataset.uri: must be a gs://bucket/object URI, and the bucket name 'bkt.' must start and end with a letter "
     "or digit"),
])
def test_a_value_of_no_allowed_type_is_one_sentence_naming_its_field(over, reason):
    with pytest.raises(SpecError) as exc:
        parse_job_spec(spec_dict(**over))
    assert str(exc.value) == reason
