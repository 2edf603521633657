"""The published JSON Schema and the code give the same verdict on generated specs: a valid spec
with one field replaced by a value drawn from that field's schema, or by any JSON value, is
accepted by both or refused by both. (Fields whose rules the schema cannot state, such as
the task and metric (checked against the catalog), the format (libsvm's target is always
'label'), k_folds' gap, or random search needing max_trials, are left out, and so are bucket names
that break only the naming rules the schema does not state: lengths, IP addresses, 'goog'.)"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

from tests.unit.conftest import spec_dict
from zygarde.domain.errors import SpecError
from zygarde.domain.spec import bucket_problem, parse_job_spec

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "job_spec.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
FIELDS = {  # field path -> the $defs model holding it (None: the top level)
    ("job_id",): None, ("owner",): None, ("name",): None, ("max_parallel",): None,
    ("max_attempts",): None, ("seed",): None, ("validation_fraction",): None,
    ("dataset", "uri"): "DatasetSpec", ("dataset", "target"): "DatasetSpec",
    ("search", "max_trials"): "SearchSpec", ("search", "n_startup_trials"): "SearchSpec",
    ("budget", "deadline_minutes"): "BudgetSpec", ("budget", "max_core_hours"): "BudgetSpec",
    ("budget", "cores_per_trial"): "BudgetSpec", ("data", "test_fraction"): "DataSpec",
    ("data", "min_rows"): "DataSpec", ("data", "include_columns"): "DataSpec", ("data", "exclude_columns"): "DataSpec",
}
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                         st.sampled_from(["5", "0.2", "true", "2.0", "csv", "regression", "a@b.c", " ana"]))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def field_schema(path: tuple[str, ...]) -> dict:
    owner = FIELDS[path]
    props = SCHEMA["properties"] if owner is None else SCHEMA["$defs"][owner]["properties"]
    return {**props[path[-1]], "$defs": SCHEMA["$defs"]}


def values_for(path: tuple[str, ...]):
    return st.one_of(from_schema(field_schema(path)), JSON_VALUES)


def spec_with(path: tuple[str, ...], value) -> dict:
    doc = spec_dict()
    target = doc
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = copy.deepcopy(value)
    return doc


def unstated_bucket_rule(value) -> bool:
    """Whether `value` is a gs:// URI whose bucket breaks a naming rule only the code checks."""
    if not isinstance(value, str) or not value.startswith("gs://"):
        return False
    problem = bucket_problem(value[5:].partition("/")[0]) or ""
    return problem.startswith(("may have at most", "cannot be an IP", "cannot start with 'goog'"))


def code_accepts(doc: dict) -> bool:
    try:
        parse_job_spec(json.dumps(doc).encode())
    except SpecError:
        return False
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), path=st.sampled_from(sorted(FIELDS)))
def test_schema_and_code_agree_on_each_field(data, path):
    value = data.draw(values_for(path), label=".".join(path))
    assume(not unstated_bucket_rule(value))
    doc = spec_with(path, value)
    assert VALIDATOR.is_valid(doc) == code_accepts(doc), (path, value)


def test_the_base_spec_is_valid_for_both():
    assert VALIDATOR.is_valid(spec_dict()) and code_accepts(spec_dict())


def test_bucket_names_with_two_dots_in_a_row_or_a_dot_at_an_end_are_refused_by_both():
    """Found by the test above: the schema let gs://0..0/0 through, the code refused it."""
    for uri in ("gs://0..0/0", "gs://a./x", "gs://.a/x", "gs://a-/x", "gs://a/x"):
        doc = spec_with(("dataset", "uri"), uri)
        assert not VALIDATOR.is_valid(doc) and not code_accepts(doc), uri
    doc = spec_with(("dataset", "uri"), "gs://my.data-bucket_1/x.csv")
    assert VALIDATOR.is_valid(doc) and code_accepts(doc)


def test_strings_for_numbers_are_refused_by_both():
    for path, value in [(("max_parallel",), "5"), (("seed",), "2"), (("max_attempts",), True),
                        (("data", "test_fraction"), "0.2"), (("validation_fraction",), True)]:
        doc = spec_with(path, value)
        assert not VALIDATOR.is_valid(doc) and not code_accepts(doc), path
