"""The row filter's second check, on Spark's parse tree (the submission check is lexical)."""
from __future__ import annotations

import pytest

from zygarde.spark.conditions import condition_problem, tree_problem


@pytest.mark.parametrize("condition, reason", [
    ("x IN (SELECT 1)", "subquery"),
    ("EXISTS (SELECT 1)", "subquery"),
    ("x > (SELECT max(y) FROM parquet.`/tmp/other`)", "subquery"),
    ("reflect('java.util.UUID', 'randomUUID') IS NOT NULL", "may not call reflect"),
    ("`JAVA_METHOD`('java.lang.Math', 'abs', -1) = 1", "may not call java_method"),
    ("x > 1 AND (y < 2 OR reflect('java.lang.System', 'lineSeparator') = '')", "may not call reflect"),
])
def test_the_parse_tree_check_finds_subqueries_and_reflection_anywhere(spark, condition, reason):
    assert reason in tree_problem(spark, condition)


@pytest.mark.parametrize("condition", [
    "x > 1 AND lower(city) = 'select'",
    "extract(YEAR FROM d) > 2020 OR trim(BOTH ' ' FROM c) IN ('a', 'b')",
    "coalesce(x, 0) BETWEEN 1 AND 5",
])
def test_conditions_on_the_dataset_s_columns_pass_both_checks(spark, condition):
    assert condition_problem(spark, condition) is None
