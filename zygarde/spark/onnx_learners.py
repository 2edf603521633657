"""ONNX for the linear learners, from the fitted parameters, in double precision (as Spark computes):
logistic regression (binary and multinomial), linear SVM and multinomial naive Bayes. onnxmltools'
converters for these compute in float32 and take other paths for thresholds and multinomial
probabilities, which do not meet parity. Each function adds nodes to `g` reading the double feature
tensor `x` and returns {"prediction": name, "probability"?: name}."""
from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto


def _matmul(g, x: str, weights: np.ndarray, intercept: np.ndarray) -> str:
    """x [n, f] @ weights [f, k] + intercept [k]."""
    return g.op("Add", [g.op("MatMul", [x, g.const(weights)]), g.const(intercept)], "margin")


def _as_double(g, t: str) -> str:
    return g.op("Cast", [t], "pred", to=TensorProto.DOUBLE)


def _softmax_argmax(g, raw: str) -> dict[str, str]:
    probability = g.op("Softmax", [raw], "probability", axis=1)
    index = g.op("ArgMax", [raw], "argmax", axis=1, keepdims=0)
    return {"prediction": _as_double(g, index), "probability": probability}


def _binary(g, margin: str, threshold_on_margin: float, with_probability: bool) -> dict[str, str]:
    """Spark's binary rule: class 1 when the margin exceeds the threshold (in margin units)."""
    out = {"prediction": _as_double(g, g.op("Greater", [margin, g.const(threshold_on_margin)], "gt"))}
    if with_probability:
        p1 = g.op("Sigmoid", [margin], "p1")
        out["probability"] = g.op("Concat", [g.op("Sub", [g.const(1.0), p1], "p0"), p1], "probability", axis=1)
    out["prediction"] = g.op("Reshape", [out["prediction"], g.const(np.array([-1], dtype=np.int64), np.int64)],
                             "flat")
    return out


def logistic_regression(g, stage, x: str) -> dict[str, str]:
    if stage.numClasses > 2:
        weights = stage.coefficientMatrix.toArray().T
        return _softmax_argmax(g, _matmul(g, x, weights, stage.interceptVector.toArray()))
    if stage.isSet("thresholds") and stage.getThresholds():
        raise ValueError("per-class thresholds")
    t = stage.getThreshold()
    cut = math.inf if t >= 1 else -math.inf if t <= 0 else math.log(t / (1 - t))
    if stage.coefficientMatrix.numRows == 2:  # binomial fitted with family="multinomial"
        m = stage.coefficientMatrix.toArray()
        b = stage.interceptVector.toArray()
        margin = _matmul(g, x, (m[1] - m[0]).reshape(-1, 1), np.array([b[1] - b[0]]))
    else:
        margin = _matmul(g, x, stage.coefficients.toArray().reshape(-1, 1), np.array([stage.intercept]))
    return _binary(g, margin, cut, True)


def linear_svc(g, stage, x: str) -> dict[str, str]:
    margin = _matmul(g, x, stage.coefficients.toArray().reshape(-1, 1), np.array([stage.intercept]))
    return _binary(g, margin, stage.getThreshold(), False)


def naive_bayes(g, stage, x: str) -> dict[str, str]:
    if stage.getModelType() != "multinomial" or (stage.isSet("thresholds") and stage.getThresholds()):
        raise ValueError(f"naive Bayes {stage.getModelType()} (only multinomial without thresholds)")
    theta, pi = stage.theta.toArray(), stage.pi.toArray()
    return _softmax_argmax(g, _matmul(g, x, theta.T, pi))


CONVERTERS = {"LogisticRegressionModel": logistic_regression, "LinearSVCModel": linear_svc,
              "NaiveBayesModel": naive_bayes}
