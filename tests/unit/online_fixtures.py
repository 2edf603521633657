"""A tiny packaged model with an ONNX export laid out as finalisation writes it (built with onnx's
helper, no Spark): numeric `age` (NaN imputed) and categorical `color` (unseen -> the unknown slot),
a softmax linear classifier over classes ["no", "yes"]. `sign` flips its decision (version 2)."""
from __future__ import annotations

import json

import numpy as np

INPUTS = [{"name": "age", "input": "zy__n0", "kind": "numeric"},
          {"name": "color", "input": "zy__s0", "kind": "categorical"}]
OUTPUTS = {"prediction": "learner_prediction", "probability": "learner_probability"}


def onnx_model(sign: float = 1.0) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    h = helper
    nodes = [
        h.make_node("IsNaN", ["zy__n0"], ["nan"]),
        h.make_node("Where", ["nan", "mean", "zy__n0"], ["age"]),
        h.make_node("LabelEncoder", ["zy__s0"], ["idx"], domain="ai.onnx.ml", keys_strings=["red", "blue"],
                    values_int64s=[0, 1], default_int64=2),
        h.make_node("Cast", ["idx"], ["idxd"], to=TensorProto.DOUBLE),
        h.make_node("Concat", ["age", "idxd"], ["x"], axis=1),
        h.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
        h.make_node("LinearClassifier", ["xf"], OUTPUTS.values(), domain="ai.onnx.ml",
                    coefficients=[-sign * 0.1, -sign, sign * 0.1, sign], intercepts=[sign * 3.0, -sign * 3.0],
                    classlabels_ints=[0, 1], post_transform="SOFTMAX"),
    ]
    graph = h.make_graph(
        nodes, "tiny",
        [h.make_tensor_value_info("zy__n0", TensorProto.DOUBLE, [None, 1]),
         h.make_tensor_value_info("zy__s0", TensorProto.STRING, [None, 1])],
        [h.make_tensor_value_info("learner_prediction", TensorProto.INT64, [None]),
         h.make_tensor_value_info("learner_probability", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(np.array([[30.0]]), "mean")])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 9
    return model.SerializeToString()


def register(repo, blobs, name: str, job_id: str, sign: float = 1.0, online: bool = True,
             bucket: str = "bucket", owner: str = "ana") -> int:
    """Writes a package (manifest + model.onnx) into `blobs` and registers it as a job of `owner`'s:
    the version number."""
    root = f"gs://{bucket}/models/{name}/{job_id}/"
    spec = {"status": "available", "onnx_uri": root + "model.onnx", "inputs": INPUTS, "outputs": OUTPUTS}
    if not online:
        spec = {"status": "unavailable", "reason": "no ONNX converter for FMClassificationModel"}
    else:
        blobs.write_bytes(root + "model.onnx", onnx_model(sign))
    blobs.write_bytes(root + "manifest.json", json.dumps({"labels": ["no", "yes"], "online": spec}).encode())
    summary = {k: spec[k] for k in ("status", "reason", "onnx_uri") if k in spec}
    return repo.register_model_version(name, job_id, {"package_uri": root, "manifest_uri": root + "manifest.json",
                                                      "online": summary}, owner)
