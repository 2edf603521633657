"""Per-row attributions for online predictions, from a package's explanations (spark/explain_package):
tree SHAP values of an XGBoost booster (`pred_contribs`; xgboost is imported only here, on the first
request that asks), or exact linear contributions weight x (value - mean). Each feature's share counts
for the input column it came from; with the base value they sum to the row's margin."""
from __future__ import annotations

from typing import Any

import numpy as np


class Explainer:
    """Built from explanations.json (and, for trees, the booster's JSON bytes)."""

    def __init__(self, spec: dict[str, Any], booster: bytes | None = None):
        self.spec, self.method = spec, spec["method"]
        self.columns = list(dict.fromkeys(spec["feature_columns"]))
        index = {c: i for i, c in enumerate(self.columns)}
        groups = np.array([index[c] for c in spec["feature_columns"]])
        # [features (+ the bias), columns]: sums each feature's share into its column
        self.fold = np.zeros((len(groups), len(self.columns)))
        self.fold[np.arange(len(groups)), groups] = 1.0
        if self.method == "tree_shap":
            import xgboost

            self.booster = xgboost.Booster()
            self.booster.load_model(bytearray(booster or b""))
            self.rounds = int(spec["rounds"])
        elif self.method == "linear":
            self.weights = np.asarray(spec["weights"], dtype=np.float64)
            self.intercepts = np.asarray(spec["intercepts"], dtype=np.float64)
            self.means = np.asarray(spec["means"], dtype=np.float64)
        else:
            raise ValueError(f"unknown attribution method {self.method!r}")

    def _contributions(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """([rows, outputs, features] shares, [rows, outputs] base values)."""
        if self.method == "tree_shap":
            import xgboost

            raw = self.booster.predict(xgboost.DMatrix(features.astype(np.float32)), pred_contribs=True,
                                       iteration_range=(0, self.rounds), strict_shape=True)
            raw = np.asarray(raw, dtype=np.float64).reshape(len(features), -1, features.shape[1] + 1)
            return raw[:, :, :-1], raw[:, :, -1]
        shares = (features - self.means)[:, None, :] * self.weights[None, :, :]
        base = np.broadcast_to(self.weights @ self.means + self.intercepts, (len(features), len(self.intercepts)))
        return shares, base

    def explain(self, features: np.ndarray, predicted: np.ndarray) -> list[dict[str, Any]]:
        """One {"attributions": {column: share}, "base_value"} per row; multiclass: for its predicted class."""
        shares, base = self._contributions(np.asarray(features, dtype=np.float64))
        pick = np.zeros(len(features), dtype=int) if shares.shape[1] == 1 else predicted.astype(int)
        rows = np.arange(len(features))
        by_column = shares[rows, pick] @ self.fold
        return [{"attributions": {c: float(v) for c, v in zip(self.columns, by_column[i])},
                 "base_value": float(base[i, pick[i]])} for i in rows]

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "output": self.spec.get("output")}
