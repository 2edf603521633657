"""What the ensemble selection at finalisation gains over the best single trial, on real data (issue #24).

For each dataset (scikit-learn's bundled ones: nothing is downloaded): the job's preparation, one pack of a
small diverse grid of trials keeping their validation predictions (or, with --k-folds, their out-of-fold
ones), then the finalisation twice with the platform's own code: once with the trials as ensemble
candidates (what a job does by default), once without (`ensemble: false`). Both fit their models the same
way and are scored once on the same test part, so the difference is the ensemble's.

    .venv/bin/python -m bench.bench_ensemble [--k-folds 3] [--out bench/results_ensemble.json]

Writes the figures as JSON and prints a Markdown table (README's Ensembles section quotes it).
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn import datasets as skdata

SEED, VALIDATION_FRACTION, TEST_FRACTION = 7, 0.2, 0.2
DATASETS = {  # name -> (loader, target, task, metric, trials)
    "breast_cancer": (skdata.load_breast_cancer, "diagnosis", "binary_classification", "logLoss", {
        "lr-0.01": ("logistic_regression", {"regParam": 0.01, "maxIter": 50}),
        "lr-0.3": ("logistic_regression", {"regParam": 0.3, "maxIter": 50}),
        "rf-30": ("random_forest_classifier", {"numTrees": 30, "maxDepth": 5}),
        "gbt-20": ("gbt_classifier", {"maxIter": 20, "maxDepth": 3}),
        "tree-4": ("decision_tree_classifier", {"maxDepth": 4}),
        "nb": ("naive_bayes", {"smoothing": 1.0}),
    }),
    "diabetes": (skdata.load_diabetes, "progression", "regression", "rmse", {
        "lin-0.01": ("linear_regression", {"regParam": 0.01}),
        "lin-1": ("linear_regression", {"regParam": 1.0}),
        "rf-30": ("random_forest_regressor", {"numTrees": 30, "maxDepth": 5}),
        "gbt-20": ("gbt_regressor", {"maxIter": 20, "maxDepth": 3}),
        "tree-4": ("decision_tree_regressor", {"maxDepth": 4}),
    }),
}


def _csv(name: str, root: Path) -> Path:
    loader, target = DATASETS[name][:2]
    frame = loader(as_frame=True).frame.rename(columns={"target": target})
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    if name == "breast_cancer":
        frame[target] = np.where(frame[target] == 1, "benign", "malignant")
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def run(spark, name: str, k_folds: int, root: Path) -> dict:
    from zygarde.domain.algorithms import METRICS
    from zygarde.domain.contracts import (EnsembleCandidate, FinalizeRequest, PackedTrial, PackRequest,
                                          PrepareRequest, RefitSpec)
    from zygarde.spark.pack_runner import run_pack
    from zygarde.spark.package import run_finalize
    from zygarde.spark.prepare import run_prepare

    _, target, task, metric, trials = DATASETS[name]
    out = root / name
    prep = run_prepare(spark, PrepareRequest(
        job_id=f"bench-{name}", attempt=1, dataset_uri=str(_csv(name, root)), dataset_format="csv", target=target,
        task=task, seed=SEED, validation_fraction=VALIDATION_FRACTION, test_fraction=TEST_FRACTION,
        output_prefix=f"{out}/data/", result_uri=f"{out}/prepare.json",
        dataset_options={"header": "true", "inferSchema": "true"}))
    assert prep.status == "SUCCEEDED", prep.error
    parts = prep.parts
    packed = tuple(PackedTrial(trial_id=tid, attempt=1, algorithm=algorithm, params=params,
                               result_uri=f"{out}/results/{tid}.json", predictions_uri=f"{out}/predictions/{tid}.parquet")
                   for tid, (algorithm, params) in trials.items())
    started = time.monotonic()
    results = run_pack(spark, PackRequest(job_id=f"bench-{name}", pack_id="p1", task=task, metric=metric,
                                          target=target, seed=SEED, train_uri=parts["train"],
                                          validation_uri=parts["validation"], trials=packed, k_folds=k_folds,
                                          concurrency=2)).results
    train_seconds = time.monotonic() - started
    ok = {tid: r for tid, r in results.items() if r.status == "SUCCEEDED" and r.validation_predictions_uri}
    sign = -1.0 if METRICS[task][metric] == "maximize" else 1.0
    ranked = sorted(ok, key=lambda tid: (sign * ok[tid].metrics[metric], tid))
    candidates = tuple(EnsembleCandidate(trial_id=tid, algorithm=trials[tid][0], params=trials[tid][1],
                                         predictions_uri=ok[tid].validation_predictions_uri) for tid in ranked)
    winner = candidates[0]

    def finalize(label: str, ensemble: tuple) -> tuple[dict, float]:
        request = FinalizeRequest(
            job_id=f"bench-{name}", attempt=1, model_uri=None, test_uri=parts["test"], task=task, target=target,
            metric=metric, package_uri=f"{out}/models/{label}/", result_uri=f"{out}/{label}.json",
            manifest={"job_id": f"bench-{name}", "seed": SEED}, ensemble=ensemble,
            refit=RefitSpec(algorithm=winner.algorithm, params=dict(winner.params), seed=SEED,
                            train_uri=parts["train"], validation_uri=parts["validation"]))
        began = time.monotonic()
        result = run_finalize(spark, request)
        assert result.status == "SUCCEEDED", result.error
        return result, time.monotonic() - began

    single, single_seconds = finalize("single", ())
    chosen, ensemble_seconds = finalize("ensemble", candidates)
    summary = chosen.ensemble or {}
    return {"dataset": name, "task": task, "metric": metric, "direction": METRICS[task][metric], "k_folds": k_folds,
            "rows": prep.rows, "trials": len(trials), "candidates": summary.get("candidates"),
            "selected_on": summary.get("selected_on"), "status": summary.get("status"),
            "best_single_trial": winner.trial_id, "selection_best_single": summary.get("best_single_score"),
            "selection_ensemble": summary.get("validation_score"),
            "members": [(m["trial_id"], round(m["weight"], 3)) for m in summary.get("members") or []],
            "test_single": single.test_metrics.get(metric), "test_chosen": chosen.test_metrics.get(metric),
            "train_seconds": round(train_seconds, 1), "finalize_single_seconds": round(single_seconds, 1),
            "finalize_ensemble_seconds": round(ensemble_seconds, 1)}


def table(rows: list[dict]) -> str:
    lines = ["| dataset | metric | k_folds | selected on | best single (selection) | ensemble (selection) | "
             "members (weight) | test: single winner | test: what the job registers |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        members = ", ".join(f"{t} {w}" for t, w in r["members"])
        lines.append(f"| {r['dataset']} | {r['metric']} | {r['k_folds']} | {r['selected_on']} | "
                     f"{r['selection_best_single']:.4f} | {r['selection_ensemble']:.4f} ({r['status']}) | {members} | "
                     f"{r['test_single']:.4f} | {r['test_chosen']:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k-folds", type=int, nargs="*", default=[0, 3], help="k-fold settings to run (0: off)")
    parser.add_argument("--datasets", nargs="*", default=sorted(DATASETS))
    parser.add_argument("--out", default="bench/results_ensemble.json")
    parser.add_argument("--port", type=int, default=None, help="the Spark driver's port (block manager: +1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from bench.packing_session import local_session

    rows = []
    with tempfile.TemporaryDirectory(prefix="zy-bench-ensemble-") as tmp, local_session(2, args.port) as spark:
        for k in args.k_folds:
            for name in args.datasets:
                rows.append(run(spark, name, k, Path(tmp) / f"k{k}"))
                print(json.dumps(rows[-1]), flush=True)
    Path(args.out).write_text(json.dumps({"machine": platform.platform(), "seed": SEED, "rows": rows}, indent=1) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
