"""One loaded ONNX model: rows in, Vertex-AI-shaped predictions out."""
from __future__ import annotations

from typing import Any

import numpy as np

from zygarde.serving.instances import MAX_ROWS, feeds


class OnlineModel:
    """An onnxruntime session over a package's model.onnx, with its manifest's `online` section."""

    def __init__(self, onnx_bytes: bytes, online: dict[str, Any], labels: list[str] | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # small requests: threads cost more than they save
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self.online, self.labels = online, labels
        self.outputs = online["outputs"]
        self.max_rows = int(online.get("max_rows", MAX_ROWS))

    def raw(self, instances: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """(prediction [rows], probability [rows, classes] or None) as float64."""
        names = [self.outputs["prediction"]] + ([self.outputs["probability"]] if "probability" in self.outputs else [])
        result = self.session.run(names, feeds(self.online["inputs"], instances, self.max_rows))
        prediction = np.asarray(result[0], dtype=np.float64).reshape(-1)
        probability = np.asarray(result[1], dtype=np.float64) if len(result) > 1 else None
        return prediction, probability

    def predict(self, instances: Any) -> list[dict[str, Any]]:
        """One {"prediction", "label"?, "probabilities"?} per row."""
        return self._rows(*self.raw(instances))

    def predict_explained(self, instances: Any, explainer) -> list[dict[str, Any]]:
        """predict's rows, each with its "attributions" and "base_value" (zygarde.serving.attributions),
        computed on the feature vector the model scored (the export's `features` output)."""
        names = [self.outputs["prediction"], self.outputs.get("probability"), self.outputs["features"]]
        result = self.session.run([n for n in names if n], feeds(self.online["inputs"], instances, self.max_rows))
        prediction = np.asarray(result[0], dtype=np.float64).reshape(-1)
        probability = np.asarray(result[1], dtype=np.float64) if len(result) > 2 else None
        rows = self._rows(prediction, probability)
        for row, extra in zip(rows, explainer.explain(np.asarray(result[-1], dtype=np.float64), prediction)):
            row.update(extra)
        return rows

    def _rows(self, prediction: np.ndarray, probability: np.ndarray | None) -> list[dict[str, Any]]:
        rows = []
        for i, value in enumerate(prediction):
            row: dict[str, Any] = {"prediction": float(value)}
            if self.labels:
                row["label"] = self.labels[int(value)]
            if probability is not None:
                row["probabilities"] = [float(p) for p in probability[i]]
            rows.append(row)
        return rows
