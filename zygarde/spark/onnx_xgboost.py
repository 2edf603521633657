"""ONNX for XGBoost on Spark (SparkXGBClassifierModel, SparkXGBRegressorModel), from the booster's JSON.

XGBoost on Spark scores float32 features (`vector_to_array(..., "float32")`) with the rounds up to its
best iteration (early stopping), a numeric split going left when value < threshold. Here the double
features are cast to float32 and back, and each split becomes value <= the float32 just below its
threshold (the same decision for every float32 value), in one opset-5 TreeEnsemble of onnx_trees. The
margin is the sum of the leaves plus the booster's base margin (measured: the booster's margin on a row
of zeros less its trees' sum there); binary: probability [1 - s, s] with s = sigmoid(margin), label
margin > 0; multiclass: softmax and argmax (as xgboost.spark); regression: the margin, or exp(margin)
for the log-link objectives. Zygarde imputes every feature before it is assembled, so a missing value
(where XGBoost has a default direction per split) never reaches the trees. A categorical split
(native categoricals, feature_types "c") sends the categories it lists right and any other value left
(XGBoost's rule, unseen codes included): a set-membership node (BRANCH_MEMBER) whose true branch is
XGBoost's right child. Other boosters raise ValueError.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from onnx import TensorProto

from zygarde.spark.onnx_trees import _ensemble, _flat

IDENTITY = {"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:squaredlogerror"}
LOG_LINK = {"reg:gamma", "reg:tweedie", "count:poisson"}


def used_rounds(booster) -> int:
    """The boosting rounds XGBoost predicts with: up to the best iteration when it stopped early."""
    best = booster.attributes().get("best_iteration")
    return int(best) + 1 if best is not None else int(booster.num_boosted_rounds())


def _trees(booster) -> tuple[list[dict[int, dict]], list[int], str, int]:
    """(the used trees as onnx_trees node tables, each tree's class, the objective, number of features)."""
    model = json.loads(bytes(booster.save_raw("json")))
    learner = model["learner"]
    gbm = learner["gradient_booster"]
    if gbm.get("name") != "gbtree":
        raise ValueError(f"the {gbm.get('name')} booster")
    trees, info = gbm["model"]["trees"], gbm["model"]["tree_info"]
    end = gbm["model"]["iteration_indptr"][used_rounds(booster)]
    tables = []
    for tree in trees[:end]:
        categories = _categories(tree)
        nodes: dict[int, dict] = {}
        for i, left in enumerate(tree["left_children"]):
            value = float(tree["split_conditions"][i])
            right, feature = tree["right_children"][i] if left >= 0 else -1, tree["split_indices"][i]
            if left < 0:
                nodes[i] = {"leftChild": -1, "prediction": value}
            elif i in categories and categories[i]:  # the listed categories go right, any other value left
                nodes[i] = {"leftChild": right, "rightChild": left, "featureIndex": feature,
                            "numCategories": len(categories[i]), "leftCategoriesOrThreshold": categories[i]}
            elif i in categories:  # no category listed: every value goes left
                nodes[i] = {"leftChild": left, "rightChild": right, "featureIndex": feature, "numCategories": -1,
                            "leftCategoriesOrThreshold": [math.inf]}
            else:
                below = float(np.nextafter(np.float32(value), np.float32(-np.inf)))
                nodes[i] = {"leftChild": left, "rightChild": right, "featureIndex": feature, "numCategories": -1,
                            "leftCategoriesOrThreshold": [below]}
        tables.append(nodes)
    return tables, [int(c) for c in info[:end]], learner["objective"]["name"], int(
        learner["learner_model_param"]["num_feature"])


def _categories(tree: dict) -> dict[int, list[float]]:
    """Each categorical split's node id -> its listed categories (XGBoost's JSON: split_type 1, the
    sets in categories, one segment per node of categories_nodes)."""
    if not any(int(k) != 0 for k in tree.get("split_type", [])):
        return {}
    flat = tree["categories"]
    return {int(node): [float(c) for c in flat[int(start):int(start) + int(size)]]
            for node, start, size in zip(tree["categories_nodes"], tree["categories_segments"],
                                         tree["categories_sizes"])}


def _leaf_sum(tree: dict[int, dict], row: np.ndarray) -> float:
    node = tree[0]
    while node["leftChild"] >= 0:
        value, split = row[node["featureIndex"]], node["leftCategoriesOrThreshold"]
        true = value in split if node["numCategories"] >= 0 else value <= split[0]
        node = tree[node["leftChild"] if true else node["rightChild"]]
    return node["prediction"]


def base_margin(booster, trees: list[dict[int, dict]], classes: list[int], n_features: int) -> np.ndarray:
    """The margin XGBoost adds to the trees' sum, per output (measured on a row of zeros)."""
    import xgboost

    zeros = np.zeros((1, n_features), dtype=np.float32)
    margin = np.asarray(booster.predict(xgboost.DMatrix(zeros), output_margin=True,
                                        iteration_range=(0, used_rounds(booster))), dtype=np.float64).reshape(-1)
    sums = np.zeros(len(margin))
    for tree, k in zip(trees, classes):
        sums[k] += _leaf_sum(tree, zeros[0].astype(np.float64))
    return margin - sums


def _margins(g, stage, x: str) -> tuple[str, str, int]:
    """(margin tensor [n, outputs], objective, outputs)."""
    booster = stage.get_booster()
    trees, classes, objective, n_features = _trees(booster)
    base = base_margin(booster, trees, classes, n_features)
    x32 = g.op("Cast", [g.op("Cast", [x], "f32", to=TensorProto.FLOAT)], "x32", to=TensorProto.DOUBLE)
    summed = _ensemble(g, x32, trees, lambda t, node: node["prediction"], per_tree=False, targets=classes)
    return g.op("Add", [summed, g.const([base])], "margin"), objective, len(base)


def xgboost_classifier(g, stage, x: str) -> dict[str, Any]:
    margin, objective, outputs = _margins(g, stage, x)
    if objective == "binary:logistic" and outputs == 1:
        p1 = g.op("Sigmoid", [margin], "p1")
        probability = g.op("Concat", [g.op("Sub", [g.const(1.0), p1], "p0"), p1], "probability", axis=1)
        prediction = _flat(g, g.op("Cast", [g.op("Greater", [margin, g.const(0.0)], "gt")], "pred",
                                   to=TensorProto.DOUBLE))
        return {"prediction": prediction, "probability": probability}
    if objective == "multi:softprob":
        probability = g.op("Softmax", [margin], "probability", axis=1)
        index = g.op("ArgMax", [margin], "argmax", axis=1, keepdims=0)
        return {"prediction": _flat(g, g.op("Cast", [index], "pred", to=TensorProto.DOUBLE)),
                "probability": probability}
    raise ValueError(f"objective {objective}")


def xgboost_regressor(g, stage, x: str) -> dict[str, Any]:
    margin, objective, _ = _margins(g, stage, x)
    if objective in IDENTITY:
        return {"prediction": _flat(g, margin)}
    if objective in LOG_LINK:
        return {"prediction": _flat(g, g.op("Exp", [margin], "mean"))}
    raise ValueError(f"objective {objective}")


CONVERTERS = {"SparkXGBClassifierModel": xgboost_classifier, "SparkXGBRegressorModel": xgboost_regressor}
