"""The pack's fit mode for XGBoost (domain/fit_mode.py): trial-parallel while the prepared parts' arrays,
every copy an executor holds, stay under a quarter of its memory; data-parallel beyond, and for k-fold."""
from __future__ import annotations

import pytest

from zygarde.domain import fit_mode
from zygarde.domain.contracts import FinalizeRequest, PackedTrial, PackRequest

GIB = 2**30


def test_flights_fits_a_dataproc_executor_trial_parallel():
    # 327,346 flights (train + validation about 85 %), 11 indexed features; 4 cores, 12,200 MiB executors
    mode = fit_mode.choose(278_000, 11, fit_mode.memory_bytes("12200m"), 4)
    assert mode.trial_parallel and mode.data_bytes == 278_000 * 12 * 4
    assert mode.footprint_bytes == 5 * mode.data_bytes <= mode.limit_bytes == int(0.25 * 12200 * 2**20)
    assert "under a quarter" in mode.reason


def test_data_that_does_not_fit_stays_data_parallel_and_the_boundary_is_max_rows():
    memory, slots, features = 4 * GIB, 4, 200
    edge = fit_mode.max_rows(features, memory, slots)
    assert fit_mode.choose(edge, features, memory, slots).mode == fit_mode.TRIAL_PARALLEL
    beyond = fit_mode.choose(edge + 1, features, memory, slots)
    assert beyond.mode == fit_mode.DATA_PARALLEL and "over a quarter" in beyond.reason
    assert fit_mode.max_rows(features, memory, 2 * slots) < edge  # more trials at once: more copies


def test_k_fold_fits_data_parallel_and_a_request_forces_a_mode():
    assert fit_mode.choose(1000, 5, GIB, 2, k_folds=3).mode == fit_mode.DATA_PARALLEL
    assert fit_mode.choose(10**9, 500, GIB, 2, requested="trial_parallel").mode == fit_mode.TRIAL_PARALLEL
    assert fit_mode.choose(1000, 5, GIB, 2, requested="data_parallel").mode == fit_mode.DATA_PARALLEL
    with pytest.raises(ValueError, match="fit_mode must be one of auto, trial_parallel, data_parallel"):
        fit_mode.choose(1000, 5, GIB, 2, requested="fast")


@pytest.mark.parametrize("text,expected", [("12200m", 12200 * 2**20), ("4g", 4 * GIB), ("512k", 512 * 1024),
                                           ("1073741824", GIB), ("2G", 2 * GIB), ("1.5g", int(1.5 * GIB)),
                                           ("lots", 7), (None, 7)])
def test_memory_settings_read_as_the_jvm_reads_them(text, expected):
    assert fit_mode.memory_bytes(text, default=7) == expected


def _pack(**fields) -> PackRequest:
    trial = PackedTrial(trial_id="t0001", attempt=1, algorithm="xgboost_regressor", params={}, result_uri="r.json")
    return PackRequest(job_id="j", pack_id="p", task="regression", metric="rmse", target="price", seed=1,
                       train_uri="gs://b/train", validation_uri="gs://b/validation", trials=(trial,), **fields)


def test_requests_carry_the_mode_auto_by_default_and_refuse_others():
    assert _pack().fit_mode == "auto"
    assert PackRequest.from_json(_pack(fit_mode="trial_parallel").to_json()).fit_mode == "trial_parallel"
    assert PackRequest.from_dict({k: v for k, v in _pack().__dict__.items() if k != "fit_mode"}).fit_mode == "auto"
    with pytest.raises(ValueError, match="fit_mode must be one of"):
        _pack(fit_mode="barrier")
    final = dict(job_id="j", attempt=1, model_uri="m", test_uri="t", task="regression", target="price",
                 metric="rmse", package_uri="p/", result_uri="r.json")
    assert FinalizeRequest(**final).fit_mode == "auto"
    with pytest.raises(ValueError, match="fit_mode must be one of"):
        FinalizeRequest(**final, fit_mode="sometimes")
