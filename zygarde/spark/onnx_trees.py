"""ONNX for Spark's tree learners (decision tree, random forest, GBT; classifier and regressor).

The fitted model is saved once and its node table read back in one go (no py4j call per node, no
save per tree, unlike onnxmltools). The trees become one ai.onnx.ml opset-5 TreeEnsemble over the
double feature tensor, with double thresholds, so each split decides as Spark's does: a continuous
split goes left when value <= threshold, a categorical one when the value is one of its left
categories (BRANCH_MEMBER); anything else, NaN included, goes right. Regressors sum the leaf values
(GBT: times the tree weights; RF: then / number of trees). Classifiers: DT and RF trees each give
their leaf's row in a table of class statistics (raw counts for DT, per-tree normalised for RF),
summed and normalised as Spark does; GBT sums the weighted margin m, probability [1/(1+e^{2m}), rest].
Each function adds nodes to `g` reading the double tensor `x` and returns {"prediction": name,
"probability"?: name}; a model this cannot translate raises ValueError."""
from __future__ import annotations

import math
import tempfile
import uuid
from typing import Any, Callable

import numpy as np
from onnx import TensorProto, numpy_helper

ML_OPSET = 5  # TreeEnsemble (double thresholds and leaf weights, set membership)
_LEQ, _MEMBER, _SUM = 0, 6, 1

Node = dict[str, Any]


def read_trees(stage) -> list[dict[int, Node]]:
    """Each tree's nodes by id, from one save of the model (under the default file system, as
    Spark writes it, then read back by Spark) removed afterwards."""
    import pyarrow as pa
    from pyspark.sql import SparkSession

    spark = SparkSession.active()
    path = f"{tempfile.gettempdir()}/zygarde-onnx-trees-{uuid.uuid4().hex}"
    try:
        stage.write().save(path)
        table = spark.read.parquet(path + "/data").toArrow()
    finally:
        jpath = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
        jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(jpath, True)
    while any(pa.types.is_struct(f.type) for f in table.schema):  # nodeData{..., split{...}}
        table = table.flatten()
    cols = {name.rsplit(".", 1)[-1]: table.column(name).to_pylist() for name in table.column_names}
    trees: dict[int, dict[int, Node]] = {}
    for i, tree in enumerate(cols.get("treeID") or [0] * len(cols["id"])):
        trees.setdefault(tree, {})[cols["id"][i]] = {k: v[i] for k, v in cols.items()}
    return [trees[t] for t in sorted(trees)]


def _tensor(values, dtype=np.float64):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype))


def _ensemble(g, x: str, trees: list[dict[int, Node]], leaf: Callable[[int, Node], float],
              per_tree: bool, targets: list[int] | None = None) -> str:
    """One TreeEnsemble summing leaf(t, node) over the trees: [n, 1], or [n, trees] (one target per
    tree) when per_tree, or [n, max(targets) + 1] summing tree t into column targets[t]."""
    a: dict[str, list] = {k: [] for k in ("feat", "split", "mode", "tnode", "tleaf", "fnode", "fleaf", "members",
                                          "roots", "target", "weight")}

    def add_leaf(t: int, node: Node) -> tuple[int, int]:
        a["target"].append(targets[t] if targets is not None else t if per_tree else 0)
        a["weight"].append(leaf(t, node))
        return len(a["weight"]) - 1, 1

    def add_split(feature: int, value: float, mode: int) -> int:
        for key, v in (("feat", feature), ("split", value), ("mode", mode), ("tnode", 0), ("tleaf", 0),
                       ("fnode", 0), ("fleaf", 0)):
            a[key].append(v)
        return len(a["feat"]) - 1

    def visit(t: int, nodes: dict[int, Node], i: int) -> tuple[int, int]:
        node = nodes[i]
        if node["leftChild"] < 0:
            return add_leaf(t, node)
        values = node["leftCategoriesOrThreshold"]
        if node["numCategories"] < 0:
            k = add_split(node["featureIndex"], values[0], _LEQ)
        elif values:
            k = add_split(node["featureIndex"], math.nan, _MEMBER)
            a["members"].extend([*values, math.nan])
        else:
            raise ValueError("a categorical split with no left categories")
        a["tnode"][k], a["tleaf"][k] = visit(t, nodes, node["leftChild"])
        a["fnode"][k], a["fleaf"][k] = visit(t, nodes, node["rightChild"])
        return k, 0

    for t, nodes in enumerate(trees):
        root, is_leaf = visit(t, nodes, 0)
        if is_leaf:  # a one-leaf tree: a split whose branches both reach the leaf
            k = add_split(0, 0.0, _LEQ)
            a["tnode"][k] = a["fnode"][k] = root
            a["tleaf"][k] = a["fleaf"][k] = 1
            root = k
        a["roots"].append(root)
    attrs = dict(nodes_featureids=a["feat"], nodes_splits=_tensor(a["split"]),
                 nodes_modes=_tensor(a["mode"], np.uint8), nodes_truenodeids=a["tnode"],
                 nodes_trueleafs=a["tleaf"], nodes_falsenodeids=a["fnode"], nodes_falseleafs=a["fleaf"],
                 tree_roots=a["roots"], leaf_targetids=a["target"], leaf_weights=_tensor(a["weight"]),
                 n_targets=max(targets) + 1 if targets is not None else len(trees) if per_tree else 1,
                 aggregate_function=_SUM, post_transform=0)
    if a["members"]:
        attrs["membership_values"] = _tensor(a["members"][:-1])
    g.ml_opset = max(getattr(g, "ml_opset", 0), ML_OPSET)
    return g.op("TreeEnsemble", [x], "trees", domain="ai.onnx.ml", **attrs)


def _flat(g, t: str) -> str:
    return g.op("Reshape", [t, g.const(np.array([-1], dtype=np.int64), np.int64)], "flat")


def _thresholds(stage) -> np.ndarray | None:
    if not (stage.isSet("thresholds") and stage.getThresholds()):
        return None
    thresholds = np.asarray(stage.getThresholds(), dtype=np.float64)
    if len(thresholds) != stage.numClasses or (thresholds <= 0).any():
        raise ValueError(f"thresholds {list(thresholds)} (only positive, one per class)")
    return thresholds


def _argmax(g, t: str) -> str:
    return _flat(g, g.op("Cast", [g.op("ArgMax", [t], "argmax", axis=1, keepdims=0)], "pred", to=TensorProto.DOUBLE))


def _votes(g, stage, x: str, normalise_each: bool) -> dict[str, str]:
    """DT / RF classifier: raw = Σ over trees of the leaf's class statistics (RF: each / its total),
    probability = raw / Σ raw, prediction = argmax raw (or of probability / thresholds)."""
    thresholds, k = _thresholds(stage), int(stage.numClasses)
    rows: list[np.ndarray] = []

    def row(_t: int, node: Node) -> float:
        stats = np.zeros(k)
        stats[:len(node["impurityStats"])] = node["impurityStats"]
        if normalise_each:  # Spark: a tree whose leaf has no weight adds nothing
            total = stats.sum()
            stats = stats / total if total != 0 else stats * 0.0
        rows.append(stats)
        return float(len(rows) - 1)

    leaves = _ensemble(g, x, read_trees(stage), row, per_tree=True)
    index = g.op("Cast", [leaves], "leaf", to=TensorProto.INT64)
    gathered = g.op("Gather", [g.const(np.array(rows)), index], "stats", axis=0)  # [n, trees, classes]
    raw = g.op("ReduceSum", [gathered, g.const(np.array([1], dtype=np.int64), np.int64)], "raw", keepdims=0)
    total = g.op("ReduceSum", [raw, g.const(np.array([1], dtype=np.int64), np.int64)], "total", keepdims=1)
    probability = g.op("Div", [raw, total], "probability")
    decide = raw if thresholds is None else g.op("Div", [probability, g.const(thresholds)], "scaled")
    return {"prediction": _argmax(g, decide), "probability": probability}


def decision_tree_classifier(g, stage, x: str) -> dict[str, str]:
    return _votes(g, stage, x, normalise_each=False)


def random_forest_classifier(g, stage, x: str) -> dict[str, str]:
    return _votes(g, stage, x, normalise_each=True)


def _margin(g, stage, x: str) -> str:
    """GBT: Σ weight_i · tree_i, [n, 1]."""
    weights = list(stage.treeWeights)
    return _ensemble(g, x, read_trees(stage), lambda t, node: weights[t] * node["prediction"], per_tree=False)


def gbt_classifier(g, stage, x: str) -> dict[str, str]:
    if stage.getLossType() != "logistic":
        raise ValueError(f"loss {stage.getLossType()}")
    thresholds = _thresholds(stage)
    margin = _margin(g, stage, x)
    p0 = g.op("Div", [g.const(1.0), g.op("Add", [g.const(1.0), g.op("Exp", [g.op("Mul", [g.const(2.0), margin])])])],
              "p0")
    probability = g.op("Concat", [p0, g.op("Sub", [g.const(1.0), p0], "p1")], "probability", axis=1)
    if thresholds is None:
        prediction = _flat(g, g.op("Cast", [g.op("Greater", [margin, g.const(0.0)], "gt")], "pred",
                                   to=TensorProto.DOUBLE))
    else:
        prediction = _argmax(g, g.op("Div", [probability, g.const(thresholds)], "scaled"))
    return {"prediction": prediction, "probability": probability}


def decision_tree_regressor(g, stage, x: str) -> dict[str, str]:
    return {"prediction": _flat(g, _ensemble(g, x, read_trees(stage), lambda t, node: node["prediction"], False))}


def random_forest_regressor(g, stage, x: str) -> dict[str, str]:
    trees = read_trees(stage)
    total = _ensemble(g, x, trees, lambda t, node: node["prediction"], per_tree=False)
    return {"prediction": _flat(g, g.op("Div", [total, g.const(float(len(trees)))], "mean"))}


def gbt_regressor(g, stage, x: str) -> dict[str, str]:
    return {"prediction": _flat(g, _margin(g, stage, x))}


CONVERTERS = {"DecisionTreeClassificationModel": decision_tree_classifier,
              "RandomForestClassificationModel": random_forest_classifier,
              "GBTClassificationModel": gbt_classifier,
              "DecisionTreeRegressionModel": decision_tree_regressor,
              "RandomForestRegressionModel": random_forest_regressor,
              "GBTRegressionModel": gbt_regressor}
