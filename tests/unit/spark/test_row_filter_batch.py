"""Row filters in the preparation batch, on local Spark: the compiler refuses forged trees, a legitimate
filter keeps the right rows, failure reasons name the filter's problem and never carry values from
outside the dataset nor from inside it (Spark's cast and ANSI errors translated), LIKE keeps what
Spark's LIKE keeps without backtracking, a stage stops at its time limit, and (Hypothesis) every
compiled filter holds only allow-listed Spark functions."""
from __future__ import annotations

import getpass
import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_row_filter import HOSTILE_TEXTS, _checked, _valid_trees
from zygarde.domain.contracts import PrepareRequest, PrepareResult
from zygarde.domain.row_filter import RowFilterError
from zygarde.domain.row_filter_text import parse, to_text
from zygarde.spark.row_filter import compile_filter

# What the old Spark SQL filters leaked into a job's public reason.
SECRETS = [v for v in (os.getcwd(), os.environ.get("HOME"), os.environ.get("JAVA_HOME"), getpass.getuser(),
                       os.environ.get("STORAGE_EMULATOR_HOST")) if v and len(v) > 2]

# Trees a forged message could carry past submission: each bypass of the old checks, as a tree.
FORGED = [
    {"op": "=", "args": [{"fn": "reflect", "args": [{"lit": "java.lang.System"}, {"lit": "getenv"},
                                                    {"lit": "HOME"}]}, {"lit": "x"}]},
    {"op": "=", "args": [{"fn": "`reflect`", "args": [{"lit": "java.lang.System"}, {"lit": "getenv"},
                                                      {"lit": "JAVA_HOME"}]}, {"lit": "x"}]},
    {"op": "=", "args": [{"fn": "java_method", "args": [{"lit": "java.lang.System"}, {"lit": "getProperty"},
                                                        {"lit": "user.dir"}]}, {"lit": "x"}]},
    {"fn": "exists", "args": [{"col": "size_band"}, {"lit": "x -> java_method('java.lang.System', 'getenv')"}]},
    {"op": "=", "args": [{"fn": "input_file_name", "args": []}, {"lit": "x"}]},
    {"op": "=", "args": [{"fn": "current_user", "args": []}, {"lit": "x"}]},
    {"op": "sql", "args": [{"lit": "reflect('java.lang.System', 'getenv', 'HOME') = 'x'"}]},
    {"op": "=", "args": [{"col": "size_band"}, {"lit": {"sql": "${env:HOME}"}}]},
    {"op": "=", "args": [{"col": "size_band"}, {"lit": "x"}], "sql": "${system:user.name}"},
    "cast(reflect('java.lang.System', 'getProperty', 'user.dir') as int) = 1",  # text straight to the batch
]


@pytest.fixture
def prepare(spark, data_dir, tmp_path):
    """prepare(row_filter, dataset=cancer_small.csv) -> (exit code, PrepareResult): the batch entry point."""
    from spark_jobs.prepare_data import main

    def run(tree, dataset: str = "cancer_small.csv"):
        out = tmp_path / uuid.uuid4().hex[:6]
        request = PrepareRequest(job_id="job-filter", attempt=1, dataset_uri=str(data_dir / dataset),
                                 dataset_format="csv", target="diagnosis", task="binary_classification", seed=11,
                                 validation_fraction=0.2, test_fraction=0.15, output_prefix=f"{out}/data/",
                                 result_uri=f"{out}/result.json", row_filter=tree)
        code = main(["--request", request.to_json()], spark=spark)
        return code, PrepareResult.from_json(Path(request.result_uri).read_text())

    return run


def _no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize("tree", FORGED, ids=range(len(FORGED)))
def test_a_forged_tree_is_refused_by_the_compiler_in_the_batch(prepare, tree):
    with pytest.raises(RowFilterError):
        compile_filter(tree)
    code, result = prepare(tree)
    assert code == 1 and result.status == "FAILED" and result.error_kind == "data"
    assert "row_filter is refused: " in result.error and result.rows == {}
    _no_secrets(result.error)
    _no_secrets(json.dumps(result.report))


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_text_cannot_become_a_tree(text):
    with pytest.raises(RowFilterError):
        parse(text)


@pytest.mark.parametrize("form", ["text", "tree"])
def test_a_legitimate_filter_keeps_the_right_rows(prepare, data_dir, form):
    text = "mean_radius > 12 and lower(size_band) in ('large', 'medium') or `mean_texture` is null"
    tree = parse(text) if form == "text" else {"op": "or", "args": [
        {"op": "and", "args": [{"op": ">", "args": [{"col": "mean_radius"}, {"lit": 12}]},
                               {"op": "in", "args": [{"fn": "lower", "args": [{"col": "size_band"}]},
                                                     {"lit": "large"}, {"lit": "medium"}]}]},
        {"op": "is_null", "args": [{"col": "mean_texture"}]}]}
    code, result = prepare(tree)
    assert code == 0, result.error
    frame = pd.read_csv(data_dir / "cancer_small.csv")
    kept = frame[((frame.mean_radius > 12) & frame.size_band.str.lower().isin(["large", "medium"]))
                 | frame.mean_texture.isna()]
    assert result.report["row_count"] == len(kept) < len(frame)
    assert sum(result.rows.values()) == len(kept)


def test_substitution_syntax_in_a_literal_is_only_text(spark):
    df = spark.createDataFrame([("${system:user.name}",), (getpass.getuser(),)], "v string")
    rows = df.filter(compile_filter(parse("v = '${system:user.name}'"))).collect()
    assert [r.v for r in rows] == ["${system:user.name}"]


def test_an_unknown_column_is_named_with_the_dataset_s_columns(prepare):
    code, result = prepare(parse("mean_radius > 12 and `no such` = 1"))
    assert code == 1 and "row_filter ((mean_radius > 12) and (`no such` = 1)) names columns that are not in " \
                          "the dataset (after the column selection): no such (columns: size_band, mean_radius" \
                          in result.error


def test_a_type_mismatch_names_the_filter_problem_not_a_raw_spark_error(prepare):
    code, result = prepare(parse("size_band and mean_radius"))
    assert code == 1
    assert "row_filter (size_band and mean_radius) does not fit this dataset's column types (binary op wrong " \
           "type; columns used: size_band string, mean_radius double)" in result.error
    assert "SQLSTATE" not in result.error and "Cannot resolve" not in result.error


# Spark's names for what the compiler may build (pyspark's Column operators and the allow-listed
# functions), written out here rather than taken from the compiler.
ALLOWED_SPARK_FUNCTIONS = {
    "and", "or", "!", "=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "negative", "in", "isNull",
    "isNotNull", "rlike", "lower", "upper", "length", "trim", "ltrim", "rtrim", "substring", "concat", "abs",
    "round", "floor", "ceil", "sqrt", "coalesce", "greatest", "least", "to_date", "year", "month",
    "dayofmonth", "dayofweek", "hour", "minute"}
ALLOWED_NODES = {"UnresolvedAttribute", "Literal"}


def _spark_functions(column) -> tuple[set[str], set[str]]:
    """(function names, other node kinds) in a Column's expression tree."""
    names, kinds, stack = set(), set(), [column._jc.node()]
    while stack:
        node = stack.pop()
        kind = node.getClass().getSimpleName()
        if kind == "UnresolvedFunction":
            names.add(str(node.functionName()))
        else:
            kinds.add(kind)
        children = node.children()
        stack.extend(children.apply(i) for i in range(children.size()))
    return names, kinds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(_valid_trees(foreign=("reflect", "`reflect`", "java_method", "JAVA_METHOD", "try_reflect", "input_file_name",
                             "current_user", "exists", "expr", "sql", "==", "between", "cast")))
def test_a_compiled_filter_holds_only_allow_listed_spark_functions(spark, tree):
    if _checked(tree) is None:
        with pytest.raises(RowFilterError):
            compile_filter(tree)
        return
    names, kinds = _spark_functions(compile_filter(tree))
    assert names <= ALLOWED_SPARK_FUNCTIONS and kinds <= ALLOWED_NODES


def test_the_walk_would_see_sql_text_and_reflection(spark):
    from pyspark.sql import functions as F

    assert _spark_functions(F.expr("reflect('a', 'b')"))[1] == {"SqlExpression"}
    assert "reflect" in _spark_functions(F.call_function("reflect", F.lit("a"), F.lit("b")))[0]


# ---- bounds: LIKE without backtracking, values kept out of reasons, the stage's time limit ----

PASSWORDS = [f"hunter{i}-Xq{i * 7 % 10}z" for i in range(60)]


@pytest.fixture(scope="module")
def accounts(tmp_path_factory) -> Path:
    """A user table with a password column (every value a secret), ages, balances and a long note."""
    frame = pd.DataFrame({"customer_id": [f"C{i:03d}" for i in range(60)], "password": PASSWORDS,
                          "age": [18 + i % 50 for i in range(60)], "balance": [i * 12.5 for i in range(60)],
                          "note": ["a" * 3000 for _ in range(60)],
                          "churned": ["yes" if i % 3 == 0 else "no" for i in range(60)]})
    path = tmp_path_factory.mktemp("accounts") / "accounts.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def prepare_accounts(spark, accounts, tmp_path):
    from spark_jobs.prepare_data import main

    def run(tree, **fields):
        out = tmp_path / uuid.uuid4().hex[:6]
        request = PrepareRequest(**{**dict(job_id="job-accounts", attempt=1, dataset_uri=str(accounts),
                                           dataset_format="csv", target="churned", task="binary_classification",
                                           seed=5, validation_fraction=0.2, test_fraction=0.15,
                                           output_prefix=f"{out}/data/", result_uri=f"{out}/result.json",
                                           row_filter=tree), **fields})
        code = main(["--request", request.to_json()], spark=spark)
        return code, PrepareResult.from_json(Path(request.result_uri).read_text())

    return run


def _no_passwords(text: str) -> None:
    assert not any(p in text for p in PASSWORDS), text
    assert "hunter" not in text, text


@pytest.mark.parametrize("text, error_class", [
    ("password > 1", "CAST_INVALID_INPUT"),
    ("to_date(password) is not null", "CAST_INVALID_INPUT"),
    ("age + 9223372036854775807 > 0", "ARITHMETIC_OVERFLOW"),
    ("balance / 0 > 1", "DIVIDE_BY_ZERO"),
], ids=["compare", "to_date", "overflow", "divide"])
def test_a_value_error_names_the_filter_and_never_the_value(prepare_accounts, text, error_class):
    code, result = prepare_accounts(parse(text))
    assert code == 1 and result.status == "FAILED" and result.error_kind == "data"  # never retried
    assert result.error.startswith(f"row_filter {to_text(parse(text))} cannot be computed on this dataset's "
                                   "values: ") and result.error.endswith(f"({error_class})")
    assert "\n" not in result.error and "SQLSTATE" not in result.error
    _no_passwords(result.error)


def test_an_expectation_on_a_secret_column_shows_no_example(prepare_accounts):
    code, result = prepare_accounts(None, expectations={"password": {"allowed": ["x"]}})
    assert code == 1 and "60 rows of column 'password' have values outside the allowed ones" in result.error
    _no_passwords(result.error)


@pytest.mark.parametrize("pattern, why", [
    ("%a" * 30 + "%b", "a like pattern may have at most 10 '%' wildcards, not 31"),
    ("abc\\", "the like pattern ends with the escape character"),
], ids=["bomb", "escape"])
def test_a_forged_like_pattern_past_submission_is_refused_in_the_batch(prepare_accounts, pattern, why):
    tree = {"op": "like", "args": [{"col": "note"}, {"lit": pattern}]}
    with pytest.raises(RowFilterError):
        compile_filter(tree)
    code, result = prepare_accounts(tree)
    assert code == 1 and result.error.startswith("the data cannot serve this job: row_filter is refused: args[1]: ")
    assert why in result.error


@pytest.mark.timeout(600)
def test_the_worst_allowed_like_pattern_runs_without_backtracking(prepare_accounts):
    """Ten wildcards over 3,000-character notes that never match: Spark's own LIKE backtracks for
    longer than any batch lives (the audit's 31 held a slot for minutes on 60 rows); a hang fails."""
    code, result = prepare_accounts(parse("note like '" + "%a" * 9 + "%b' or age >= 18"))
    assert code == 0, result.error
    assert result.report["row_count"] == 60


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text("ab%_\\", max_size=7))
def test_like_keeps_exactly_the_rows_spark_s_like_keeps(spark, pattern):
    from zygarde.domain import like_patterns

    if like_patterns.problem(pattern) is not None:
        return
    values = ["", "a", "b", "ab", "ba", "aab", "a%b", "a_b", "a\\b", "abab", "a\nb", "%", "_"]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    ours = [r.v for r in df.filter(compile_filter({"op": "like", "args": [{"col": "v"}, {"lit": pattern}]})).collect()]
    theirs = [r.v for r in df.filter(df.v.like(pattern)).collect()]
    assert ours == theirs


def test_a_preparation_is_stopped_at_its_time_limit_and_says_so(prepare_accounts, monkeypatch):
    """Whatever the machine's speed (on an idle one this preparation ends within its 1 s and fails on its
    data): its work starts only once the limit has passed, waited for as a condition, and the watchdog then
    cancels its Spark jobs every 10 ms."""
    import time

    from zygarde.spark import time_limit

    run = time_limit.run

    def run_past_the_limit(spark, request, execute, **kwargs):
        def late(*args):
            give_up = time.monotonic() + 60
            while time_limit.exceeded() is None and time.monotonic() < give_up:
                time.sleep(0.01)
            return execute(*args)
        return run(spark, request, late, **kwargs)

    monkeypatch.setattr(time_limit, "_POLL_SECONDS", 0.01)
    monkeypatch.setattr(time_limit, "run", run_past_the_limit)
    code, result = prepare_accounts(parse("age >= 18 and note like '%a%b'"), time_limit_seconds=1)
    assert code == 1 and result.status == "FAILED" and result.error_kind == "time_limit"  # never retried
    assert result.error == ("the data preparation ran past its time limit of 1 s (set from its predicted cost) and "
                            "was stopped; another attempt would be stopped too")
