"""Row filters at submission (pure): the text grammar, the tree check, the spec field, and
properties of both (Hypothesis)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.conftest import spec_dict
from zygarde.domain import row_filter
from zygarde.domain.errors import SpecError
from zygarde.domain.row_filter import RowFilterError, check
from zygarde.domain.row_filter_text import parse, to_text
from zygarde.domain.spec import parse_job_spec

# Each way past the old Spark SQL checks (identifier-quoted reflection, reflection in a lambda,
# getenv, variable substitution, input_file_name, current_user) and the old subquery and ';' cases.
HOSTILE_TEXTS = [
    "`reflect`('java.lang.System', 'getenv', 'HOME') = 'x'",
    "`java_method`('java.lang.System', 'getProperty', 'user.dir') = 'x'",
    "exists(array(1), x -> java_method('java.lang.System', 'getProperty', 'user.dir') = 'x')",
    "reflect('java.lang.System', 'getenv', 'JAVA_HOME') = 'x'",
    "cast(reflect('java.lang.System', 'getProperty', 'os.name') as int) = 1",
    "size_band = ${env:HOME}",
    "size_band = ${system:user.name}",
    "size_band = ${spark:spark.app.name}",
    "input_file_name() = 'x'",
    "cast(input_file_name() as int) = 1",
    "current_user() = 'x'",
    "mean_radius IN (SELECT 1)",
    "mean_radius > (SELECT max(y) FROM parquet.`/tmp/other`)",
    "mean_radius > 1; select 1",
]


def _spec(row_filter_value) -> dict:
    spec = spec_dict()
    spec["data"] = {"row_filter": row_filter_value}
    return spec


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_text_is_refused_at_submission_naming_the_field(text):
    with pytest.raises(SpecError) as caught:
        parse_job_spec(_spec(text))
    [(field, reason)] = caught.value.problems
    assert field == "data.row_filter" and reason and "Traceback" not in reason


def test_the_reason_says_what_is_wrong():
    def reason(value):
        with pytest.raises(SpecError) as caught:
            parse_job_spec(_spec(value))
        return caught.value.problems[0][1]

    assert "unknown function 'reflect'" in reason("reflect('a', 'b') = 1")
    assert "unexpected character '$' at position 13" in reason("size_band = ${env:HOME}")
    assert reason({"op": "===", "args": []}).startswith("unknown operator '==='")
    assert reason({"op": ">", "args": [{"col": "a"}]}) == "> takes 2 arguments, not 1"
    assert reason({"fn": "lower", "args": [{"col": "a"}]}).startswith("a row filter must be a condition")
    assert reason({"op": "and", "args": [{"col": "a"}, {"lit": 3}]}) == "args[1]: and combines conditions, not values"
    assert reason({"op": "in", "args": [{"col": "a"}, {"col": "b"}]}) == "in compares a value with a list of literals"
    assert reason({"col": "a", "sql": "1"}).startswith("unexpected keys ['col', 'sql']")
    assert reason(7) == "must be a condition as text or as a filter tree (an object)"
    assert "too large" in reason(" or ".join(["a = 1"] * 80))
    assert "nested too deeply" in reason("(" * 20 + "a = 1" + ")" * 20 + " and " + "not " * 20 + "b")
    assert "ends too early" in reason("a = 1 and")
    assert "'and' is a keyword" in reason("and = 1")


def test_text_and_tree_are_both_stored_as_the_same_tree():
    text = "age >= 18 and lower(`home country`) in ('fr', 'de') and name is not null"
    tree = {"op": "and", "args": [
        {"op": ">=", "args": [{"col": "age"}, {"lit": 18}]},
        {"op": "in", "args": [{"fn": "LOWER", "args": [{"col": "home country"}]}, {"lit": "fr"}, {"lit": "de"}]},
        {"op": "is_not_null", "args": [{"col": "name"}]}]}
    from_text = parse_job_spec(_spec(text)).data.row_filter
    assert from_text == parse_job_spec(_spec(tree)).data.row_filter == check(tree)
    assert from_text["args"][1]["args"][0]["fn"] == "lower"
    stored = parse_job_spec(_spec(text)).model_dump(mode="json")
    assert parse_job_spec(stored).model_dump(mode="json") == stored  # the stored spec re-reads as itself
    assert row_filter.columns(from_text) == ["age", "home country", "name"]


def test_text_conveniences_become_plain_tree_nodes():
    assert parse("x between 1 and 2") == parse("x >= 1 and x <= 2")
    assert parse("x not in (1, 2)") == {"op": "not", "args": [parse("x in (1, 2)")]}
    assert parse("x <> -1.5") == {"op": "!=", "args": [{"col": "x"}, {"lit": -1.5}]}
    assert parse("s = 'it''s ${env:HOME}'")["args"][1] == {"lit": "it's ${env:HOME}"}  # a literal, inert
    assert parse("`a``b` = TRUE") == {"op": "=", "args": [{"col": "a`b"}, {"lit": True}]}


# ---- properties ----

NAMES = st.sampled_from(["a", "b", "size band", "and", "x`y", "reflect"])
LITERALS = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 63 + 1, 2 ** 63 - 1),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))


def _valid_trees(foreign: tuple[str, ...] = ()) -> st.SearchStrategy:
    """Trees built from the allow-list (with the right arities), and from the `foreign` function and
    operator names (with 0 to 3 arguments)."""
    leaves = st.one_of(NAMES.map(lambda n: {"col": n}), LITERALS.map(lambda v: {"lit": v}))

    def extend(children):
        ops = st.sampled_from([o for o in row_filter.OPERATORS if o not in ("in", "like")]).flatmap(
            lambda op: st.lists(children, min_size=row_filter.OPERATORS[op][0],
                                max_size=row_filter.OPERATORS[op][1] or 3).map(lambda a: {"op": op, "args": a}))
        ins = st.tuples(children, st.lists(LITERALS.map(lambda v: {"lit": v}), min_size=1, max_size=3)).map(
            lambda p: {"op": "in", "args": [p[0], *p[1]]})
        likes = st.tuples(children, st.text(max_size=5)).map(lambda p: {"op": "like", "args": [p[0], {"lit": p[1]}]})
        fns = st.sampled_from(sorted(row_filter.FUNCTIONS)).flatmap(
            lambda fn: st.lists(children, min_size=row_filter.FUNCTIONS[fn][0],
                                max_size=row_filter.FUNCTIONS[fn][1] or 3).map(lambda a: {"fn": fn, "args": a}))
        if not foreign:
            return st.one_of(ops, ins, likes, fns)
        strangers = st.tuples(st.sampled_from(["fn", "op"]), st.sampled_from(foreign),
                              st.lists(children, max_size=3)).map(lambda p: {p[0]: p[1], "args": p[2]})
        return st.one_of(ops, ins, likes, fns, strangers)

    return st.recursive(leaves, extend, max_leaves=12)


def _checked(tree):
    try:
        return check(tree)
    except RowFilterError:
        return None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_valid_trees())
def test_any_accepted_tree_round_trips_through_its_text(tree):
    normal = _checked(tree)
    if normal is not None:
        assert parse(to_text(normal)) == normal
        assert check(normal) == normal  # the normal form is stable


TOKENS = ["a", "b", "`c d`", "1", "-", "2.5", "'s'", "'it''s'", "null", "true", "and", "or", "not", "in", "is",
          "like", "between", "(", ")", ",", "=", "!=", "<", ">=", "+", "*", "%", "lower", "round", "reflect",
          "${env:HOME}", ";", "select", "->", "`reflect`"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map(" ".join))
def test_random_text_is_refused_cleanly_or_parses_to_a_tree_that_round_trips(text):
    try:
        tree = parse(text)
    except RowFilterError as exc:
        assert str(exc)
        return
    assert tree == check(tree)
    assert parse(to_text(tree)) == tree


def test_a_filter_nested_past_what_json_can_read_is_a_clear_error():
    import json

    deep = '{"op": "not", "args": [' * 5000 + '{"col": "a"}' + "]}" * 5000
    with pytest.raises(SpecError) as caught:
        parse_job_spec(json.dumps(spec_dict())[:-1] + ', "data": {"row_filter": ' + deep + "}}")
    assert caught.value.problems == [("", "the job nests objects or lists more than 32 levels deep")]
    nested = {"col": "a"}
    for _ in range(40):
        nested = {"op": "not", "args": [nested]}
    with pytest.raises(SpecError, match="nested too deeply"):
        parse_job_spec(_spec(nested))


def test_integer_arguments_must_fit_a_java_int():
    assert parse("substring(s, 1, 2147483647) = 'a'")
    with pytest.raises(RowFilterError, match="argument 2 of round must be an integer literal"):
        parse("round(x, 2147483648) > 1")
    with pytest.raises(RowFilterError, match="argument 3 of substring must be an integer literal"):
        parse("substring(s, 1, n) = 'a'")
