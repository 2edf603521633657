"""A fitted Zygarde PipelineModel as one ONNX graph, for serving without Spark.

Zygarde's preprocessing (features.py) is translated here stage by stage from the fitted parameters
(SQL copy/cast, Imputer, min-max clip, StringIndexer with its "unknown" slot, OneHotEncoder,
VectorAssembler, StandardScaler, MinMaxScaler): onnxmltools cannot convert the SQLTransformer stages
and its StringIndexer maps unseen values to -1 where Spark keeps them. Linear learners (onnx_learners)
and tree learners (onnx_trees) become nodes of the same double-precision graph; any other learner
is converted by onnxmltools' Spark ML converters (LEARNER_CONVERTERS can add others, e.g. an XGBoost
booster) and the two graphs are joined on the feature vector. Anything else raises Unsupported with the reason.
"""
from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from zygarde.spark.features import FEATURES
from zygarde.spark.onnx_learners import CONVERTERS as LINEAR_CONVERTERS
from zygarde.spark.onnx_trees import CONVERTERS as TREE_CONVERTERS
from zygarde.spark.onnx_xgboost import CONVERTERS as XGBOOST_CONVERTERS

FEATURES_F = "zy__features_f32"
LEARNER_PREFIX = "learner_"
# class name of a fitted learner -> (graph, stage, double features) -> {"prediction", "probability"?}
DOUBLE_CONVERTERS: dict[str, Callable] = {**LINEAR_CONVERTERS, **TREE_CONVERTERS, **XGBOOST_CONVERTERS}
FEATURES_OUT = "features"  # a graph output: the learner's double feature vector (for explanations)


class Unsupported(Exception):
    """The pipeline has a stage (or a form of one) with no ONNX translation."""


def _onnxmltools_learner(stage, n_features: int, spark) -> Any:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType
    from pyspark.ml import PipelineModel

    try:
        return onnxmltools.convert_sparkml(PipelineModel([stage]), "learner",
                                           [(FEATURES, FloatTensorType([None, n_features]))], spark_session=spark)
    except Exception as exc:  # noqa: BLE001 - the converter's own sentence is the reason
        raise Unsupported(f"no ONNX converter for {type(stage).__name__} ({str(exc).splitlines()[0][:200]})") from exc


# class name of a fitted learner -> (stage, n_features, spark) -> onnx ModelProto reading FEATURES (float32)
LEARNER_CONVERTERS: dict[str, Callable] = {}
_NO_CONVERTER = {"FMClassificationModel", "FMRegressionModel", "GeneralizedLinearRegressionModel",
                 "IsotonicRegressionModel", "BisectingKMeansModel", "GaussianMixtureModel"}

_CAST = re.compile(r"CAST\((`(?:[^`]|``)*`) AS (DOUBLE|STRING)\) AS (zy__[ns]\d+)")
_CLIP = re.compile(r"(GREATEST\()?(LEAST\()?(zy__i\d+)((?:, CAST\('[^']*' AS DOUBLE\)\))*) AS (zy__c\d+)")
_LITERAL = re.compile(r"CAST\('([^']*)' AS DOUBLE\)")


class _Graph:
    def __init__(self):
        from onnx import helper

        self.helper, self.nodes, self.inits, self.inputs, self.n = helper, [], [], [], 0
        self.ml_opset = 3  # a converter needing a later ai.onnx.ml opset raises it

    def name(self, hint: str) -> str:
        self.n += 1
        return f"pre_{hint}_{self.n}"

    def const(self, value, dtype=np.float64) -> str:
        from onnx import numpy_helper

        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "t", domain: str = "", output: str | None = None,
           **attrs) -> str:
        out = output or self.name(hint)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=self.name(op_type), domain=domain,
                                                **attrs))
        return out


def _unquote(quoted: str) -> str:
    return quoted[1:-1].replace("``", "`")


def _copy_stage(g: _Graph, stage, cols: dict[str, str], inputs: list[dict[str, str]]) -> None:
    from onnx import TensorProto

    statement = stage.getStatement()
    found = _CAST.findall(statement)
    if not found or "zy__v" in statement:
        raise Unsupported("vector-valued input columns cannot be served online")
    for quoted, kind, internal in found:
        numeric = kind == "DOUBLE"
        g.inputs.append(g.helper.make_tensor_value_info(
            internal, TensorProto.DOUBLE if numeric else TensorProto.STRING, [None, 1]))
        inputs.append({"name": _unquote(quoted), "input": internal, "kind": "numeric" if numeric else "categorical"})
        cols[internal] = internal


def _clip_stage(g: _Graph, stage, cols: dict[str, str]) -> None:
    found = _CLIP.findall(stage.getStatement())
    if not found:
        raise Unsupported(f"SQL stage {stage.getStatement()[:80]!r} has no ONNX translation")
    for greatest, least, src, literals, dst in found:
        values = [float(v) for v in _LITERAL.findall(literals)]
        t = cols[src]
        if least:
            t = g.op("Min", [t, g.const(values[0])])
        if greatest:
            t = g.op("Max", [t, g.const(values[-1])])
        cols[dst] = t


def _preprocess(g: _Graph, stage, cols: dict[str, str], inputs: list[dict[str, str]], first: bool) -> None:
    from onnx import TensorProto

    kind = type(stage).__name__
    if kind == "SQLTransformer":
        (_copy_stage if first else lambda g_, s, c, _i: _clip_stage(g_, s, c))(g, stage, cols, inputs)
    elif kind == "ImputerModel":
        if stage.getOrDefault("missingValue") == stage.getOrDefault("missingValue"):  # not NaN
            raise Unsupported("an Imputer replacing values other than NaN")
        surrogates = stage.surrogateDF.first().asDict()
        for src, dst in zip(stage.getInputCols(), stage.getOutputCols()):
            x = cols[src]
            cols[dst] = g.op("Where", [g.op("IsNaN", [x]), g.const([[surrogates[src]]]), x], "imputed")
    elif kind == "StringIndexerModel":
        if stage.getHandleInvalid() != "keep":
            raise Unsupported(f"a StringIndexer with handleInvalid={stage.getHandleInvalid()}")
        for src, dst, labels in zip(stage.getInputCols(), stage.getOutputCols(), stage.labelsArray):
            index = g.op("LabelEncoder", [cols[src]], "index", domain="ai.onnx.ml", keys_strings=list(labels),
                         values_int64s=list(range(len(labels))), default_int64=len(labels))
            cols[dst] = g.op("Cast", [index], "indexd", to=TensorProto.DOUBLE)
    elif kind == "OneHotEncoderModel":
        keep, drop = stage.getHandleInvalid() == "keep", stage.getDropLast()
        for src, dst, size in zip(stage.getInputCols(), stage.getOutputCols(), stage.categorySizes):
            width = size if (drop and keep) else size - 1 if drop else size + 1 if keep else size
            index = g.op("Min", [cols[src], g.const([[float(size)]])])  # invalid -> the slot after the last
            hot = g.op("Equal", [index, g.const([np.arange(width, dtype=np.float64)])])
            cols[dst] = g.op("Cast", [hot], "onehot", to=TensorProto.DOUBLE)
    elif kind == "VectorAssembler":
        cols[stage.getOutputCol()] = g.op("Concat", [cols[c] for c in stage.getInputCols()], "assembled", axis=1)
    elif kind == "StandardScalerModel":
        x = cols[stage.getInputCol()]
        if stage.getWithMean():
            x = g.op("Sub", [x, g.const([stage.mean.toArray()])])
        if stage.getWithStd():
            std = stage.std.toArray()
            x = g.op("Mul", [x, g.const([np.where(std != 0, 1.0 / np.where(std != 0, std, 1.0), 0.0)])])
        cols[stage.getOutputCol()] = x
    elif kind == "MinMaxScalerModel":
        lo, hi = stage.originalMin.toArray(), stage.originalMax.toArray()
        span, scale, low = hi - lo, stage.getMax() - stage.getMin(), stage.getMin()
        factor = np.where(span != 0, scale / np.where(span != 0, span, 1.0), 0.0)
        offset = np.where(span != 0, low - lo * factor, 0.5 * scale + low)
        cols[stage.getOutputCol()] = g.op("Add", [g.op("Mul", [cols[stage.getInputCol()], g.const([factor])]),
                                                  g.const([offset])])
    else:
        raise Unsupported(f"no ONNX translation for the {kind} stage")


def _native(g: _Graph, inputs: list[dict[str, str]], convert: Callable, learner, features: str):
    """The learner as nodes of the same double-precision graph (onnx_learners, onnx_trees)."""
    import onnx
    from onnx import TensorProto

    try:
        produced = {**convert(g, learner, features), FEATURES_OUT: features}
    except ValueError as exc:
        raise Unsupported(f"no ONNX translation for {type(learner).__name__} with {exc}") from exc
    outputs, infos = {}, []
    for key, tensor in produced.items():
        g.op("Identity", [tensor], output=key)
        outputs[key] = key
        infos.append(g.helper.make_tensor_value_info(key, TensorProto.DOUBLE, [None] if key == "prediction"
                                                     else [None, None]))
    graph = g.helper.make_graph(g.nodes, "zygarde_model", g.inputs, infos, g.inits)
    model = g.helper.make_model(graph, opset_imports=[g.helper.make_opsetid("", 17),
                                                      g.helper.make_opsetid("ai.onnx.ml", g.ml_opset)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString(), {"inputs": inputs, "outputs": outputs}


def export(model, spark) -> tuple[bytes, dict[str, Any]]:
    """(serialised ONNX model, {"inputs": [...], "outputs": {"prediction": name, "probability"?: name}})
    for a Zygarde PipelineModel. Raises Unsupported with the reason when it cannot be translated."""
    import onnx
    from onnx import TensorProto, compose

    stages = [s for s in model.stages if type(s).__name__ != "IndexToString"]
    learner, preprocessing = stages[-1], stages[:-1]
    kind = type(learner).__name__
    if kind in _NO_CONVERTER:
        raise Unsupported(f"no ONNX converter for {kind}")
    if not preprocessing or type(preprocessing[0]).__name__ != "SQLTransformer":
        raise Unsupported("not a Zygarde feature pipeline (no column copy stage first)")
    g, cols, inputs = _Graph(), {}, []
    for i, stage in enumerate(preprocessing):
        _preprocess(g, stage, cols, inputs, first=i == 0)
    if FEATURES not in cols:
        raise Unsupported("the preprocessing does not produce the feature vector")
    if kind in DOUBLE_CONVERTERS and kind not in LEARNER_CONVERTERS:
        return _native(g, inputs, DOUBLE_CONVERTERS[kind], learner, cols[FEATURES])
    n_features = int(learner.numFeatures if hasattr(learner, "numFeatures") else len(learner.clusterCenters()[0]))
    g.op("Cast", [cols[FEATURES]], output=FEATURES_F, to=TensorProto.FLOAT)
    learned = LEARNER_CONVERTERS.get(kind, _onnxmltools_learner)(learner, n_features, spark)
    opsets = {o.domain: o.version for o in learned.opset_import}
    opsets[""] = max(opsets.get("", 13), 13)
    opsets["ai.onnx.ml"] = max(opsets.get("ai.onnx.ml", 2), 2)
    features_out = g.helper.make_tensor_value_info(FEATURES_F, TensorProto.FLOAT, [None, n_features])
    g.op("Identity", [cols[FEATURES]], output=FEATURES_OUT)
    double_out = g.helper.make_tensor_value_info(FEATURES_OUT, TensorProto.DOUBLE, [None, n_features])
    pre = g.helper.make_model(g.helper.make_graph(g.nodes, "zygarde_preprocessing", g.inputs,
                                                  [features_out, double_out], g.inits),
                              opset_imports=[g.helper.make_opsetid(d, v) for d, v in opsets.items()])
    pre.ir_version = learned.ir_version
    learned = compose.add_prefix(learned, LEARNER_PREFIX)
    for o in learned.opset_import:
        o.version = opsets.get(o.domain, o.version)
    merged = compose.merge_models(pre, learned, io_map=[(FEATURES_F, LEARNER_PREFIX + FEATURES)])
    onnx.checker.check_model(merged)
    names = {o.name[len(LEARNER_PREFIX):]: o.name for o in merged.graph.output if o.name.startswith(LEARNER_PREFIX)}
    if "prediction" not in names:
        raise Unsupported(f"the {kind} converter gives no prediction output")
    outputs = {k: names[k] for k in ("prediction", "probability") if k in names}
    if any(o.name == FEATURES_OUT for o in merged.graph.output):
        outputs[FEATURES_OUT] = FEATURES_OUT
    return merged.SerializeToString(), {"inputs": inputs, "outputs": outputs}
