"""The text form of a row filter, e.g. `age >= 18 and country in ('FR', 'DE')`, parsed by Zygarde's
own grammar (never by Spark) into the tree of zygarde.domain.row_filter (whose `to_text` writes a
tree back in this form). Columns are plain identifiers or `back-quoted` (`` doubles a back quote);
strings are single-quoted ('' doubles a quote); keywords are case-insensitive. Anything the grammar
or the allow-list does not know is refused."""
from __future__ import annotations

import re

from lark import Lark, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from zygarde.domain.row_filter import KEYWORDS, RowFilterError, check, to_text  # noqa: F401 - to_text: re-exported

MAX_TEXT_CHARS = 2000

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> not_
         | predicate
?predicate: sum
          | sum COMPARE sum -> compare
          | sum _IS _NULL -> is_null
          | sum _IS _NOT _NULL -> is_not_null
          | sum _IN "(" in_value ("," in_value)* ")" -> in_
          | sum _NOT _IN "(" in_value ("," in_value)* ")" -> not_in
          | sum _LIKE string -> like
          | sum _NOT _LIKE string -> not_like
          | sum _BETWEEN sum _AND sum -> between
          | sum _NOT _BETWEEN sum _AND sum -> not_between
?sum: product
    | sum PLUS product -> arith
    | sum MINUS product -> arith
?product: unary
        | product TIMES unary -> arith
?unary: atom
      | MINUS unary -> neg
?atom: literal
     | column
     | NAME "(" [or_expr ("," or_expr)*] ")" -> call
     | "(" or_expr ")"
column: NAME | QUOTED_NAME
literal: string | NUMBER -> number | _TRUE -> true | _FALSE -> false | _NULL -> null
?in_value: literal
         | MINUS NUMBER -> negative_number
string: STRING

_OR: /or\b/i
_AND: /and\b/i
_NOT: /not\b/i
_IS: /is\b/i
_IN: /in\b/i
_NULL: /null\b/i
_LIKE: /like\b/i
_BETWEEN: /between\b/i
_TRUE: /true\b/i
_FALSE: /false\b/i
NAME.-1: /[A-Za-z_][A-Za-z0-9_]*/
QUOTED_NAME: /`(?:[^`]|``)+`/
STRING: /'(?:[^']|'')*'/
NUMBER: /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/
COMPARE: /==|!=|<>|<=|>=|=|<|>/
PLUS: "+"
MINUS: "-"
TIMES: /[*\/%]/

%import common.WS
%ignore WS
"""

_COMPARE = {"==": "=", "<>": "!="}


def _op(op: str, *args: dict) -> dict:
    return {"op": op, "args": list(args)}


@v_args(inline=True)
class _ToTree(Transformer):
    def or_expr(self, *args):
        return _op("or", *args)

    def and_expr(self, *args):
        return _op("and", *args)

    def not_(self, arg):
        return _op("not", arg)

    def compare(self, left, op, right):
        return _op(_COMPARE.get(str(op), str(op)), left, right)

    def is_null(self, arg):
        return _op("is_null", arg)

    def is_not_null(self, arg):
        return _op("is_not_null", arg)

    def in_(self, arg, *values):
        return _op("in", arg, *values)

    def not_in(self, arg, *values):
        return _op("not", _op("in", arg, *values))

    def like(self, arg, pattern):
        return _op("like", arg, pattern)

    def not_like(self, arg, pattern):
        return _op("not", _op("like", arg, pattern))

    def between(self, arg, low, high):
        return _op("and", _op(">=", arg, low), _op("<=", arg, high))

    def not_between(self, arg, low, high):
        return _op("not", self.between(arg, low, high))

    def arith(self, left, op, right):
        return _op(str(op), left, right)

    def neg(self, _minus, arg):
        if "lit" in arg and type(arg["lit"]) in (int, float):
            return {"lit": -arg["lit"]}
        return _op("neg", arg)

    def call(self, name, *args):
        return {"fn": str(name).lower(), "args": [a for a in args if a is not None]}

    def column(self, token):
        text = str(token)
        if token.type == "QUOTED_NAME":
            return {"col": text[1:-1].replace("``", "`")}
        if text.lower() in KEYWORDS:
            raise RowFilterError(f"{text!r} is a keyword: back-quote a column of that name (`{text}`)")
        return {"col": text}

    def string(self, token):
        return {"lit": str(token)[1:-1].replace("''", "'")}

    def number(self, token):
        text = str(token)
        return {"lit": int(text) if re.fullmatch(r"\d+", text) else float(text)}

    def negative_number(self, _minus, token):
        return {"lit": -self.number(token)["lit"]}

    def true(self):
        return {"lit": True}

    def false(self):
        return {"lit": False}

    def null(self):
        return {"lit": None}

    def literal(self, value):
        return value


_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=True, transformer=_ToTree())


def parse(text: str) -> dict:
    """The checked tree of a text filter; raises RowFilterError saying where the text is wrong."""
    if len(text) > MAX_TEXT_CHARS:
        raise RowFilterError(f"the filter text may have at most {MAX_TEXT_CHARS} characters")
    if not text.strip():
        raise RowFilterError("the filter is empty")
    try:
        tree = _PARSER.parse(text)
    except VisitError as exc:
        if isinstance(exc.orig_exc, RowFilterError):
            raise exc.orig_exc from None
        raise RowFilterError(f"cannot read the filter: {exc.orig_exc}") from None
    except RowFilterError:
        raise
    except UnexpectedEOF:
        raise RowFilterError("the filter ends too early") from None
    except UnexpectedCharacters as exc:
        raise RowFilterError(f"unexpected character {text[exc.pos_in_stream]!r} at position "
                             f"{exc.pos_in_stream + 1}") from None
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        where = f" at position {exc.pos_in_stream + 1}" if getattr(exc, "pos_in_stream", None) is not None else ""
        what = f"{str(token)!r}" if token is not None and str(token) else "the end"
        if str(token) == "" or getattr(token, "type", "") == "$END":
            raise RowFilterError("the filter ends too early") from None
        raise RowFilterError(f"unexpected {what}{where}") from None
    except (LarkError, RecursionError) as exc:
        raise RowFilterError(f"cannot read the filter ({type(exc).__name__})") from None
    return check(tree)
