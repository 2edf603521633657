"""An ensemble's feature importance: its members' importance sections averaged with the ensemble's weights
(domain/ensemble_importance), over the members that measured each column and measure."""
from __future__ import annotations

import pytest

from zygarde.domain.ensemble_importance import METHOD, combine

LINEAR = {"status": "available", "native": "coefficient",
          "columns": [{"column": "support_calls", "permutation": 0.30, "native": 0.7},
                      {"column": "tenure", "permutation": 0.10, "native": 0.2},
                      {"column": "region", "permutation": 0.00, "native": 0.1}],
          "permutation": {"metric": "areaUnderROC", "rows": 400, "repeats": 2, "baseline": 0.81,
                          "part": "validation", "columns_scored": 3, "columns_total": 3}}
FOREST = {"status": "available", "native": "gain",
          "columns": [{"column": "tenure", "permutation": 0.20, "native": 0.5},
                      {"column": "support_calls", "permutation": 0.10, "native": 0.4},
                      {"column": "region", "native": 0.1}],  # not shuffled (beyond MAX_PERMUTED)
          "permutation": {"metric": "areaUnderROC", "rows": 400, "repeats": 2, "baseline": 0.84,
                          "part": "validation", "columns_scored": 2, "columns_total": 3}}


def test_members_importances_are_averaged_with_the_ensemble_weights():
    out = combine([LINEAR, FOREST], [0.75, 0.25], ["t1", "t2"])
    assert out["status"] == "available" and out["native"] == "coefficient+gain"
    by = {c["column"]: c for c in out["columns"]}
    assert by["support_calls"]["permutation"] == pytest.approx(0.75 * 0.30 + 0.25 * 0.10)
    assert by["tenure"]["permutation"] == pytest.approx(0.75 * 0.10 + 0.25 * 0.20)
    assert by["region"]["permutation"] == pytest.approx(0.0)  # only the linear member shuffled it
    assert by["support_calls"]["native"] == pytest.approx(0.75 * 0.7 + 0.25 * 0.4)
    assert sum(c["native"] for c in out["columns"]) == pytest.approx(1.0)  # still normalised
    assert [c["column"] for c in out["columns"]] == ["support_calls", "tenure", "region"]  # most important first
    assert out["permutation"] == {"metric": "areaUnderROC", "rows": 400, "repeats": 2, "part": "validation",
                                  "columns_scored": 3, "columns_total": 3, "weighted": True}
    assert out["ensemble"] == {"method": METHOD, "members": [
        {"trial_id": "t1", "weight": 0.75, "status": "available", "native": "coefficient"},
        {"trial_id": "t2", "weight": 0.25, "status": "available", "native": "gain"}]}


def test_a_member_without_a_measure_does_not_pull_the_others_towards_zero():
    plain = {**FOREST, "native": None, "columns": [{k: v for k, v in c.items() if k != "native"}
                                                   for c in FOREST["columns"]]}
    failed = {"status": "unavailable", "reason": "importance could not be computed: ValueError: boom"}
    out = combine([LINEAR, plain, failed], [0.5, 0.25, 0.25], ["t1", "t2", "t3"])
    by = {c["column"]: c for c in out["columns"]}
    assert by["support_calls"]["native"] == pytest.approx(0.7)  # the only member with a native measure
    assert by["support_calls"]["permutation"] == pytest.approx((0.5 * 0.30 + 0.25 * 0.10) / 0.75)
    assert out["native"] == "coefficient"
    assert out["ensemble"]["members"][2] == {"trial_id": "t3", "weight": 0.25, "status": "unavailable",
                                             "native": None, "reason": failed["reason"]}


def test_fitted_on_it_is_kept_and_no_measured_member_means_no_importance():
    seen = {**LINEAR, "permutation": {**LINEAR["permutation"], "fitted_on_it": True}}
    assert combine([seen, FOREST], [0.5, 0.5], ["a", "b"])["permutation"]["fitted_on_it"] is True
    out = combine([{"status": "unavailable", "reason": "the validation part is not there to measure it on"}] * 2,
                  [0.5, 0.5], ["a", "b"])
    assert out == {"status": "unavailable", "reason": "none of the ensemble's members' importance was measured "
                                                      "(the validation part is not there to measure it on)"}
    with pytest.raises(ValueError, match="one of each per member"):
        combine([LINEAR], [0.5, 0.5], ["a"])
