"""Bounds on what a job can make a batch do (pure): LIKE patterns limited and matched without
backtracking, range-checked integer arguments, the listing rule a batch applies to every object it
lists, and failure text scrubbed of data values."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.conftest import spec_dict
from zygarde.domain import like_patterns
from zygarde.domain.dataset_paths import listed_object_problem
from zygarde.domain.errors import SpecError
from zygarde.domain.value_free import scrub, translate
from zygarde.domain.row_filter import RowFilterError, check
from zygarde.domain.spec import parse_job_spec

BOMB = "v like '" + "%a" * 30 + "%b'"  # the audit's: 60 rows held a slot for 5 minutes


def _reason(row_filter) -> tuple[str, str]:
    spec = spec_dict()
    spec["data"] = {"row_filter": row_filter}
    with pytest.raises(SpecError) as caught:
        parse_job_spec(spec)
    [(field, reason)] = caught.value.problems
    return field, reason


def test_the_like_bomb_is_refused_at_submission_naming_row_filter():
    assert _reason(BOMB) == ("data.row_filter", "args[1]: a like pattern may have at most 10 '%' wildcards, not 31")
    tree = {"op": "like", "args": [{"col": "v"}, {"lit": "%a" * 30 + "%b"}]}
    assert _reason(tree)[0] == "data.row_filter"
    assert _reason("v like '" + "x" * 201 + "'")[1] == "args[1]: a like pattern may have at most 200 characters, not 201"


def test_a_misplaced_escape_in_a_like_pattern_is_refused_at_submission():
    field, reason = _reason("v like 'abc\\'")
    assert field == "data.row_filter" and "ends with the escape character" in reason
    assert "before 'q'" in _reason("v like 'a\\q'")[1]
    assert check({"op": "like", "args": [{"col": "v"}, {"lit": "50\\%\\_\\\\%"}]})  # escaped %, _ and \: fine


def test_integer_arguments_are_range_checked():
    assert _reason("round(v, 2147483647) > 1") == ("data.row_filter",
                                                   "args[0]args[1]: argument 2 of round must be an integer literal "
                                                   "from -38 to 38")
    assert check({"op": ">", "args": [{"fn": "round", "args": [{"col": "v"}, {"lit": -38}]}, {"lit": 1}]})
    with pytest.raises(RowFilterError, match="from -2147483647 to 2147483647"):
        check({"op": "=", "args": [{"fn": "substring", "args": [{"col": "v"}, {"lit": 2 ** 31}, {"lit": 1}]},
                                   {"lit": "x"}]})


def _reference_like(pattern: str, value: str) -> bool:
    """LIKE by the book: a backtracking matcher (fine on the short values generated here)."""
    items = like_patterns.tokens(pattern)

    def match(i: int, j: int) -> bool:
        if i == len(items):
            return j == len(value)
        t = items[i]
        if t is like_patterns.ANY:
            return any(match(i + 1, k) for k in range(j, len(value) + 1))
        if j < len(value) and (t is like_patterns.ONE or t == value[j]):
            return match(i + 1, j + 1)
        return False

    return match(0, 0)


@settings(max_examples=1500, deadline=None)
@given(st.text("ab%_\\.*\n", max_size=9), st.text("ab%_\\.*\n", max_size=12))
def test_the_compiled_regex_matches_exactly_what_like_matches(pattern, value):
    if like_patterns.problem(pattern) is not None:
        return
    regex = re.compile(like_patterns.to_regex(pattern, like_patterns.PYTHON_END))
    assert (regex.search(value) is not None) == _reference_like(pattern, value)


@pytest.mark.timeout(60)
def test_the_worst_allowed_pattern_does_not_backtrack():
    """Ten wildcards against a long value that almost matches: a backtracking regex would take
    longer than the universe; this one is linear (a hang here is the failure)."""
    pattern = "%a" * 9 + "%b"
    value = "a" * 20_000 + "c"
    assert like_patterns.problem(pattern) is None
    assert re.compile(like_patterns.to_regex(pattern, like_patterns.PYTHON_END)).search(value) is None


@pytest.mark.parametrize("listed, found, why", [
    ("gs://b/datasets/B/racedir", "gs://b/datasets/B", "is not inside gs://b/datasets/B/racedir"),  # racedir/../
    ("gs://b/datasets/B/racedir", "gs://b/datasets/B/racedir", "is not inside"),  # racedir/./
    ("gs://b/datasets/B/racedir", "gs://b/datasets/A/secret.csv", "is not inside"),
    ("gs://b/datasets/B/racedir", "gs://b/datasets/B/racedir/%2e%2e/x.csv", "'.' or '..' segment"),
    ("gs://b/datasets/B/racedir", "gs://b/datasets/B/racedir/a\\b.csv", "backslash"),
    ("gs://b/datasets/B", "gs://b/datasets/B/x.csv", None),
    ("file:/tmp/d", "file:/tmp/d/sub/part-0.csv", None),
])
def test_every_listed_object_must_lie_inside_the_folder_listed(listed, found, why):
    problem = listed_object_problem(listed, found)
    assert (problem is None) if why is None else (why in problem)


def test_every_listed_object_must_lie_in_the_owner_s_folder():
    assert listed_object_problem("gs://b/datasets", "gs://b/datasets/A/x.csv", home="gs://b/datasets/B/") == \
        "is outside the owner's folder gs://b/datasets/B/"


SECRET = "hunter2-Xq9"
SPARK_ERRORS = [
    f"[CAST_INVALID_INPUT] The value '{SECRET}' of the type \"STRING\" cannot be cast to \"BIGINT\" because it is "
    "malformed. Correct the value as per the syntax, or change its target type. SQLSTATE: 22018",
    f"[CAST_INVALID_INPUT] The value '{SECRET}' of the type \"STRING\" cannot be cast to \"DATE\" because it is "
    "malformed.",
    "[ARITHMETIC_OVERFLOW] long overflow. Use 'try_add' to tolerate overflow and return NULL instead.",
    "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate divisor being 0 and return NULL instead.",
    f"[CAST_OVERFLOW] The value {SECRET} of the type \"BIGINT\" cannot be cast to \"INT\" due to an overflow.",
]


@pytest.mark.parametrize("text", SPARK_ERRORS, ids=["cast", "to_date", "overflow", "zero", "cast-overflow"])
def test_spark_value_errors_translate_without_the_value(text):
    sentence = translate(f"An error occurred while calling o88.collectToPython.\n: org.apache.spark."
                         f"SparkNumberFormatException: {text}")
    assert sentence and SECRET not in sentence and re.search(r"\([A-Z_]+\)$", sentence)
    assert SECRET not in scrub(text)


def test_the_scrubber_keeps_types_settings_and_column_names():
    text = ("[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `pass word` cannot be resolved; \"DECIMAL(10,2)\", "
            f"\"spark.sql.ansi.enabled\", 'secret {SECRET}', \"{SECRET}\", For input string: {SECRET}")
    out = scrub(text)
    assert SECRET not in out and "`pass word`" in out and '"DECIMAL(10,2)"' in out and "spark.sql.ansi.enabled" in out
