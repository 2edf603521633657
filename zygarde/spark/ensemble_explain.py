"""What an ensemble package carries besides its members and ONNX graph, as a single model's does
(package_extras): feature importance, each member's measured on the validation part (importance.py) and
averaged with the ensemble's weights (domain/ensemble_importance), and the MLflow model files' input
example (a typical row: each column's value from the first member whose pipeline has one). Per-row
explanations stay absent, with the reason (domain/ensemble_importance.NO_ATTRIBUTIONS).
"""
from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from zygarde.domain import ensemble_importance
from zygarde.domain.contracts import FinalizeRequest
from zygarde.spark.ensemble_model import Member
from zygarde.spark.feature_layout import feature_columns
from zygarde.spark.importance import importance
from zygarde.spark.package_extras import input_example, validation_part

log = logging.getLogger(__name__)


def _member_importance(spark: SparkSession, member: Member, validation: DataFrame | None, request: FinalizeRequest,
                       seed: int, context: str) -> dict[str, Any]:
    if validation is None:
        return {"status": "unavailable", "reason": "the validation part is not there to measure it on"}
    try:
        columns = feature_columns(member.model, validation)
        if columns is None:
            raise ValueError("the model's feature vector does not map back to its input columns")
        return importance(spark, member.model, validation, columns, request.task, request.metric, seed)
    except Exception as exc:  # noqa: BLE001 - explanations must never fail the finalisation
        log.warning("member importance failed %s", context, exc_info=True)
        return {"status": "unavailable", "reason": f"importance could not be computed: {type(exc).__name__}: "
                                                   f"{str(exc)[:200]}"}


def build(spark: SparkSession, request: FinalizeRequest, members: list[tuple[str, Member]], labels: list[str] | None,
          input_schema: list[dict[str, Any]], cached: list[DataFrame], context: str) -> dict[str, Any]:
    """The manifest's `importance`, `explanations` and `input_example` for an ensemble of `members`
    ((trial id, Member), in the manifest's order). Never raises."""
    try:
        validation = validation_part(spark, request, labels, cached)
    except Exception:  # noqa: BLE001
        log.warning("validation part unreadable %s", context, exc_info=True)
        validation = None
    seed = int(request.manifest.get("seed") or 0)
    sections = [_member_importance(spark, member, validation, request, seed, context) for _, member in members]
    if request.refit is not None and request.refit.on_train_and_validation:
        for section in sections:  # final_fit train_and_validation: the members have seen these rows
            if "permutation" in section:
                section["permutation"]["fitted_on_it"] = True
    combined = ensemble_importance.combine(sections, [m.weight for _, m in members], [t for t, _ in members])
    example: dict[str, Any] = {}
    for _, member in members:
        try:
            example = {**input_example(member.model, input_schema), **example}  # the first member's value wins
        except Exception:  # noqa: BLE001
            log.warning("input example failed %s", context, exc_info=True)
    log.info("ensemble importance %s status=%s members=%d", context, combined["status"], len(members))
    return {"importance": combined,
            "explanations": {"status": "unavailable", "reason": ensemble_importance.NO_ATTRIBUTIONS},
            "input_example": example}
