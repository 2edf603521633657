"""A job's row filter: a small expression tree over the dataset's own columns.

No user text ever reaches Spark's SQL parser. A filter is this JSON tree (the text form,
zygarde.domain.row_filter_text, parses into it), which the batch compiles to Column expressions
with an allow-list of pure functions (zygarde.spark.row_filter):

    {"col": NAME}                      a column of the dataset
    {"lit": VALUE}                     a string, number, boolean or null
    {"op": OP, "args": [NODE, ...]}    an operator of OPERATORS
    {"fn": NAME, "args": [NODE, ...]}  a function of FUNCTIONS

`check` is the one validation, at submission and again in the batch. Stdlib only: shipped to the batch.
"""
from __future__ import annotations

import math
import re
from typing import Any

from zygarde.domain.raw_doc import shorten

MAX_NODES = 200
MAX_DEPTH = 16
MAX_NAME_CHARS = 256
MAX_STRING_CHARS = 1000
MAX_INT = 2 ** 63 - 1
KEYWORDS = ("and", "or", "not", "in", "is", "null", "like", "between", "true", "false")  # of the text form

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
ARITHMETIC = ("+", "-", "*", "/", "%")
# op -> (fewest, most) arguments; None: no limit
OPERATORS: dict[str, tuple[int, int | None]] = {
    "and": (2, None), "or": (2, None), "not": (1, 1),
    **{c: (2, 2) for c in COMPARISONS},
    "in": (2, None),  # a value, then the literals it may equal
    "is_null": (1, 1), "is_not_null": (1, 1),
    "like": (2, 2),  # a value, then a string literal pattern (% and _)
    **{a: (2, 2) for a in ARITHMETIC}, "neg": (1, 1),
}
CONDITIONS = frozenset({"and", "or", "not", "in", "is_null", "is_not_null", "like", *COMPARISONS})
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "lower": (1, 1), "upper": (1, 1), "length": (1, 1), "trim": (1, 1), "ltrim": (1, 1), "rtrim": (1, 1),
    "substring": (3, 3), "concat": (1, None),
    "abs": (1, 1), "round": (1, 2), "floor": (1, 1), "ceil": (1, 1), "sqrt": (1, 1),
    "coalesce": (1, None), "greatest": (2, None), "least": (2, None),
    "to_date": (1, 1), "year": (1, 1), "month": (1, 1), "day": (1, 1), "dayofweek": (1, 1),
    "hour": (1, 1), "minute": (1, 1),
}
# (function, argument index) -> what that argument must be: an integer literal
INTEGER_ARGS = {("round", 1), ("substring", 1), ("substring", 2)}
MAX_INT_ARG = 2 ** 31 - 1  # a Java int


class RowFilterError(ValueError):
    """A filter that cannot be accepted; the message says where (args[i]...) and why."""


def _fail(path: str, reason: str) -> RowFilterError:
    return RowFilterError(f"{path}: {reason}" if path else reason)


def _names(table: dict) -> str:
    return ", ".join(sorted(table))


def _literal(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise _fail(path, f"the integer {shorten(str(value), 40)} is out of range (at most {MAX_INT} in size)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(path, "a number must be finite")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise _fail(path, f"a string literal may have at most {MAX_STRING_CHARS} characters")
        return value
    raise _fail(path, f"a literal must be a string, number, boolean or null, not {type(value).__name__}")


def _is_condition(node: dict) -> bool:
    return "col" in node or ("lit" in node and (node["lit"] is None or isinstance(node["lit"], bool))) \
        or node.get("op") in CONDITIONS


def _args(node: dict, name: str, limits: tuple[int, int | None], path: str) -> list:
    args = node.get("args")
    if not isinstance(args, list):
        raise _fail(path, f"{name} needs \"args\": a list of expressions")
    low, high = limits
    if len(args) < low or (high is not None and len(args) > high):
        count = str(low) if low == high else f"at least {low}" if high is None else f"{low} to {high}"
        raise _fail(path, f"{name} takes {count} argument{'s' if count != '1' else ''}, not {len(args)}")
    return args


class _Checker:
    def __init__(self) -> None:
        self.nodes = 0

    def node(self, node: Any, path: str, depth: int) -> dict:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail("", f"the filter is too large (at most {MAX_NODES} nodes)")
        if depth > MAX_DEPTH:
            raise _fail("", f"the filter is nested too deeply (at most {MAX_DEPTH} levels)")
        if not isinstance(node, dict):
            raise _fail(path, f"expected an object {{\"col\"}}, {{\"lit\"}}, {{\"op\", \"args\"}} or "
                              f"{{\"fn\", \"args\"}}, not {type(node).__name__}")
        keys = set(node)
        if keys == {"col"}:
            name = node["col"]
            if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
                raise _fail(path, f"a column name must be a string of 1 to {MAX_NAME_CHARS} characters")
            return {"col": name}
        if keys == {"lit"}:
            return {"lit": _literal(node["lit"], path)}
        if keys == {"op", "args"}:
            return self.operator(node, path, depth)
        if keys == {"fn", "args"}:
            return self.function(node, path, depth)
        raise _fail(path, f"unexpected keys {sorted(keys)}: a node is {{\"col\"}}, {{\"lit\"}}, "
                          "{\"op\", \"args\"} or {\"fn\", \"args\"}")

    def children(self, args: list, path: str, depth: int) -> list[dict]:
        return [self.node(a, f"{path}.args[{i}]" if path else f"args[{i}]", depth + 1) for i, a in enumerate(args)]

    def operator(self, node: dict, path: str, depth: int) -> dict:
        op = node["op"]
        if not isinstance(op, str) or op not in OPERATORS:
            raise _fail(path, f"unknown operator {op!r} (operators: {_names(OPERATORS)})")
        args = self.children(_args(node, op, OPERATORS[op], path), path, depth)
        if op in ("and", "or", "not"):
            for i, a in enumerate(args):
                if not _is_condition(a):
                    raise _fail(f"{path}args[{i}]", f"{op} combines conditions, not values")
        if op == "in" and not all("lit" in a for a in args[1:]):
            raise _fail(path, "in compares a value with a list of literals")
        if op == "like" and not (isinstance(args[1].get("lit"), str)):
            raise _fail(f"{path}args[1]", "like needs a string literal pattern")
        if op == "neg" and "lit" in args[0] and type(args[0]["lit"]) in (int, float):
            return {"lit": -args[0]["lit"]}  # a negative number is a literal
        return {"op": op, "args": args}

    def function(self, node: dict, path: str, depth: int) -> dict:
        fn = node["fn"]
        name = fn.lower() if isinstance(fn, str) else fn
        if not isinstance(name, str) or name not in FUNCTIONS:
            raise _fail(path, f"unknown function {fn!r} (functions: {_names(FUNCTIONS)})")
        args = self.children(_args(node, name, FUNCTIONS[name], path), path, depth)
        for i, a in enumerate(args):
            if (name, i) in INTEGER_ARGS and not (type(a.get("lit")) is int and abs(a["lit"]) <= MAX_INT_ARG):
                raise _fail(f"{path}args[{i}]", f"argument {i + 1} of {name} must be an integer literal "
                                                f"(at most {MAX_INT_ARG} in size)")
        return {"fn": name, "args": args}


def check(tree: Any) -> dict:
    """The filter in its normal form (function names lower case, negative numbers as literals);
    raises RowFilterError naming the node and the problem."""
    normal = _Checker().node(tree, "", 0)
    if not _is_condition(normal):
        raise _fail("", "a row filter must be a condition (a comparison, in, like, is null, and / or / not), "
                        "not a value")
    return normal


def columns(tree: dict) -> list[str]:
    """The column names a (checked) filter refers to, in order of first use."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if "col" in node:
            if node["col"] not in found:
                found.append(node["col"])
        else:
            stack.extend(reversed(node.get("args", [])))
    return found


# ---- writing a tree as text ----

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _column_text(name: str) -> str:
    if _IDENTIFIER.fullmatch(name) and name.lower() not in KEYWORDS:
        return name
    return "`" + name.replace("`", "``") + "`"


def _literal_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def to_text(tree: dict) -> str:
    """A checked tree in the text form (zygarde.domain.row_filter_text); parse(to_text(tree)) == tree."""
    if "col" in tree:
        return _column_text(tree["col"])
    if "lit" in tree:
        return _literal_text(tree["lit"])
    args = [to_text(a) for a in tree["args"]]
    if "fn" in tree:
        return f"{tree['fn']}({', '.join(args)})"
    op = tree["op"]
    if op in ("and", "or"):
        return "(" + f" {op} ".join(args) + ")"
    if op == "not":
        return f"(not {args[0]})"
    if op == "neg":
        return f"(- {args[0]})"
    if op == "in":
        return f"({args[0]} in ({', '.join(args[1:])}))"
    if op == "is_null":
        return f"({args[0]} is null)"
    if op == "is_not_null":
        return f"({args[0]} is not null)"
    return f"({args[0]} {op} {args[1]})"  # comparisons, like, arithmetic
