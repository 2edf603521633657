"""The row filter checked again inside the batch, on Spark's own parse of it: no subquery and no
Java reflection may reach the plan, whatever the text looked like to the submission check
(zygarde.domain.row_filter)."""
from __future__ import annotations

from pyspark.sql import SparkSession

from zygarde.domain.row_filter import problem as lexical_problem

SUBQUERY_NODES = ("ScalarSubquery", "ListQuery", "Exists", "InSubquery", "LateralSubquery")
REFLECTION_FUNCTIONS = ("reflect", "java_method", "try_reflect")


def _children(expr) -> list:
    seq = expr.children()
    return [seq.apply(i) for i in range(seq.size())]


def condition_problem(spark: SparkSession, condition: str) -> str | None:
    """Why `condition` may not run, or None. Raises Spark's ParseException for text that is not
    a condition."""
    return lexical_problem(condition) or tree_problem(spark, condition)


def tree_problem(spark: SparkSession, condition: str) -> str | None:
    """The check on the parsed expression tree alone: the session's SQL parser (nothing is
    analysed or read), then every node."""
    root = spark._jsparkSession.sessionState().sqlParser().parseExpression(condition)
    stack = [root]
    while stack:
        node = stack.pop()
        kind = node.getClass().getSimpleName()
        if kind in SUBQUERY_NODES:
            return "may not contain a subquery"
        if kind == "UnresolvedFunction":
            name = str(node.prettyName()).strip("`").lower().rsplit(".", 1)[-1]
            if name in REFLECTION_FUNCTIONS:
                return f"may not call {name}"
        stack.extend(_children(node))
    return None
