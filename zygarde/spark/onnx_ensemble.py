"""An ensemble package as one ONNX graph (issue #24 item 3): each member exported as a single model is
(onnx_export.export), its graph prefixed (m0_, m1_, ...) but reading the same raw input columns, then
the weighted average of the members' class probabilities (or values), as skl2onnx's voting converters
build it: probability = sum(w_i * p_i), prediction = its argmax (the first of equals, as Spark's
ensemble scoring takes it), or sum(w_i * value_i) for regression. Members' outputs are cast to double.
The graph has no `features` output: an ensemble has no attributions online.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from zygarde.spark.onnx_export import Unsupported, export as export_member


def export(members: list, spark) -> tuple[bytes, dict[str, Any]]:
    """(serialised ONNX model, {"inputs", "outputs"}) for ensemble_model.Member's; raises Unsupported."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    nodes, inits, graph_inputs, spec_inputs, opsets, ir = [], [], {}, {}, {}, 0
    probabilities, values = [], []
    for i, member in enumerate(members):
        blob, spec = export_member(member.model, spark)
        model = onnx.load_from_string(blob)
        prefix = f"m{i}_"
        graph = compose.add_prefix_graph(model.graph, prefix, rename_inputs=False)
        for entry in graph.input:
            if entry.name in graph_inputs and graph_inputs[entry.name] != entry:
                raise Unsupported(f"the ensemble's members read the input {entry.name!r} as different types")
            graph_inputs.setdefault(entry.name, entry)
        for entry in spec["inputs"]:
            if entry["name"] in spec_inputs and spec_inputs[entry["name"]] != entry:
                raise Unsupported(f"the ensemble's members read the input {entry['name']!r} differently")
            spec_inputs.setdefault(entry["name"], entry)
        nodes += graph.node
        inits += list(graph.initializer)
        for o in model.opset_import:
            opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
        ir = max(ir, model.ir_version)
        weight = numpy_helper.from_array(np.array(member.weight, dtype=np.float64), f"ens_w{i}")
        inits.append(weight)
        outputs = spec["outputs"]
        source = outputs.get("probability") if "probability" in outputs else outputs["prediction"]
        cast = f"ens_c{i}"
        nodes.append(helper.make_node("Cast", [prefix + source], [cast], to=TensorProto.DOUBLE))
        if "probability" not in outputs:  # a value per row, whatever its shape: [rows]
            shape = numpy_helper.from_array(np.array([-1], dtype=np.int64), f"ens_shape{i}")
            inits.append(shape)
            nodes.append(helper.make_node("Reshape", [cast, shape.name], [f"ens_r{i}"]))
            cast = f"ens_r{i}"
        nodes.append(helper.make_node("Mul", [cast, weight.name], [f"ens_wt{i}"]))
        (probabilities if "probability" in outputs else values).append(f"ens_wt{i}")
    if probabilities and values:
        raise Unsupported("the ensemble's members do not all give class probabilities")
    infos = []
    if probabilities:
        nodes.append(helper.make_node("Sum", probabilities, ["probability"]))
        nodes.append(helper.make_node("ArgMax", ["probability"], ["ens_argmax"], axis=1, keepdims=0))
        nodes.append(helper.make_node("Cast", ["ens_argmax"], ["prediction"], to=TensorProto.DOUBLE))
        infos.append(helper.make_tensor_value_info("probability", TensorProto.DOUBLE, [None, None]))
    else:
        nodes.append(helper.make_node("Sum", values, ["prediction"]))
    infos.insert(0, helper.make_tensor_value_info("prediction", TensorProto.DOUBLE, [None]))
    graph = helper.make_graph(nodes, "zygarde_ensemble", list(graph_inputs.values()), infos, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
    model.ir_version = ir
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - the members' graphs do not combine: say why
        raise Unsupported(f"the ensemble's ONNX graph is not valid: {str(exc).splitlines()[0][:200]}") from exc
    outputs = {"prediction": "prediction", **({"probability": "probability"} if probabilities else {})}
    return model.SerializeToString(), {"inputs": list(spec_inputs.values()), "outputs": outputs}
