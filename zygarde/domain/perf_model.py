"""The performance model: seconds of a trial's fit, of a job's stages and of a batch's start-up,
predicted from shapes; the prior formula (perf_prior) refined by what the installation observed.

a-MLLibrary's recipe, small: each key (a learner family's fits; each stage) has a few candidate
regressions on augmented features of the log of actual / prior seconds:
- prior: no correction;
- scale: one factor (the median ratio; what packing.correction did per job);
- constant: the median seconds, whatever the prior says (fits bound by fixed overheads);
- affine: seconds = a + b x prior (a fixed overhead the prior misses), fitted on relative error;
- loglinear: ridge regression of the log ratio on log rows, log features, log cores, the log of the
  prior's core factor and work, and of each of the family's drivers (trees, depth, rounds...): the
  prior as an offset, free exponents for every scaling law. It is not extrapolated: beyond the range
  of the data it was fitted on, each feature is held at the edge and the prior's laws go on alone.
The technique with the lowest cross-validated MAPE (folds over the key's observations) is kept, and
its correction is shrunk toward the prior by n / (n + PRIOR_WEIGHT): with 0 observations the prior
alone, with 1-2 still mostly the prior. Families with few fits lean on a correction learned from
every fit. A correction is bounded to MAX_RATIO either way.

fit() is closed-form least squares on at most WINDOW observations per key (the newest), so its cost
is bounded whatever the history: see bench/perf_model_mape.py for the time at 10,000 observations.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zygarde.domain import perf_prior as pf
from zygarde.domain.perf_records import EVALUATE, FIT, STARTUP, Observation, TrialShape

PRIOR_WEIGHT = 3.0  # the prior counts as this many observations
MAX_RATIO = 100.0  # a correction never moves a prediction further than this either way
PRIOR_SIGMA = math.log(2.0)  # the prior's spread in log seconds (about 2x either way)
WINDOW = 2000  # newest observations kept per key
FOLDS = 5
RIDGE = 1.0  # ridge penalty on the standardised log features (the intercept is free)
TECHNIQUES = ("prior", "scale", "constant", "affine", "loglinear")  # simplest first: ties go to the simpler
MIN_OBSERVATIONS = {"prior": 0, "scale": 1, "constant": 2, "affine": 4, "loglinear": 8}
ALL_FITS = "*"
VALIDATION_SHARE = 0.3  # validation rows per train row at the default split (0.2 / 0.65)
Z80 = 1.2816  # an 80 % interval
MIN_SECONDS = 0.05


@dataclass(frozen=True)
class Correction:
    """The learned correction of one key: its technique's coefficients, observations, CV error."""

    technique: str = "prior"
    coef: tuple[float, ...] = ()
    n: int = 0
    sigma: float = PRIOR_SIGMA  # out-of-fold RMS error in log seconds
    cv_mape: float | None = None
    bounds: tuple[tuple[float, float], ...] = ()  # loglinear: each feature's range in the data (no extrapolation)

    def to_dict(self) -> dict[str, Any]:
        return {"technique": self.technique, "coef": [round(c, 6) for c in self.coef], "n": self.n,
                "sigma": round(self.sigma, 6), "cv_mape": None if self.cv_mape is None else round(self.cv_mape, 6),
                "bounds": [[round(lo, 6), round(hi, 6)] for lo, hi in self.bounds]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Correction:
        if d.get("technique") not in TECHNIQUES:
            raise ValueError(f"performance model: unknown technique {d.get('technique')!r}")
        return cls(d["technique"], tuple(float(c) for c in d.get("coef", ())), int(d.get("n", 0)),
                   float(d.get("sigma", PRIOR_SIGMA)), d.get("cv_mape"),
                   tuple((float(lo), float(hi)) for lo, hi in d.get("bounds", ())))


@dataclass(frozen=True)
class Estimate:
    """Predicted seconds with an 80 % interval."""

    seconds: float
    low: float
    high: float


COMMON = 6  # the fit features every family shares: 1, log rows, log features, log cores, log core factor, log work


def _fit_z(shape: TrialShape) -> np.ndarray:
    """A fit's augmented features: the common ones, then the log of each of its family's drivers."""
    work, drivers = pf.terms(shape.algorithm, shape.params)
    common = [1.0, math.log(shape.fit_rows / pf.REFERENCE_ROWS),
              math.log(max(shape.features, 1) / pf.REFERENCE_FEATURES), math.log(shape.cores),
              math.log(pf.core_factor(shape.cores)), math.log(max(work, 1e-6))]
    return np.array(common + [math.log(d) for d in drivers])


def _stage_z(rows: float, columns: float, cores: float) -> np.ndarray:
    return np.array([1.0, math.log(max(rows, 1) / pf.REFERENCE_ROWS), math.log(max(columns, 1) / pf.REFERENCE_FEATURES),
                     math.log(cores)])


@dataclass(frozen=True)
class PerfModel:
    """Predictions from the prior and the learned corrections (immutable; fit() makes a new one)."""

    startup: float = pf.STARTUP_SECONDS
    fits: Mapping[str, Correction] = field(default_factory=dict)  # by family, and ALL_FITS
    stages: Mapping[str, Correction] = field(default_factory=dict)
    startup_prior: float = pf.STARTUP_SECONDS
    fit_scale: float = 1.0  # one job's calibration of every fit (see scaled)

    @staticmethod
    def _blend(c: Correction | None, p: np.ndarray, z: np.ndarray, fallback: tuple[np.ndarray, np.ndarray],
               n: int | None = None, floor: float = MIN_SECONDS) -> tuple[np.ndarray, np.ndarray]:
        """(log seconds, sigma) of each row: the correction's prediction from the formula's raw
        seconds `p` (at least `floor`), shrunk toward `fallback` (log seconds, sigma) by the weight
        of `n` observations (default: the correction's own)."""
        n = c.n if c is not None and n is None else (n or 0)
        if c is None or n <= 0:
            return fallback
        w = n / (n + PRIOR_WEIGHT)
        own = np.maximum(np.log(p) + _log_ratios(c.technique, c.coef, p, z, c.bounds), math.log(floor))
        return w * own + (1 - w) * fallback[0], w * c.sigma + (1 - w) * fallback[1]

    def _fits(self, shapes: Sequence[TrialShape]) -> tuple[np.ndarray, np.ndarray]:
        """(seconds, sigma) of each shape's fit. The correction of every fit weighs only the other
        families' observations (a family's own count once, in its own correction)."""
        seconds, sigma = np.empty(len(shapes)), np.empty(len(shapes))
        by_family: dict[str, list[int]] = {}
        for i, shape in enumerate(shapes):
            by_family.setdefault(pf.family(shape.algorithm), []).append(i)
        every, floor = self.fits.get(ALL_FITS), pf.MIN_FIT_SECONDS
        for fam, rows in by_family.items():
            group = [shapes[i] for i in rows]
            raw = np.array([max(pf.raw_fit_seconds(s), 1e-9) for s in group])
            z = np.array([_fit_z(s) for s in group])
            mine = self.fits.get(fam)
            others = (every.n if every else 0) - (mine.n if mine else 0)
            prior_log = np.log(np.maximum(raw, floor))
            base = self._blend(every, raw, z[:, :COMMON], (prior_log, np.full(len(rows), PRIOR_SIGMA)), others, floor)
            log_seconds, spread = self._blend(mine, raw, z, base, floor=floor)
            seconds[rows] = np.maximum(np.exp(log_seconds) * self.fit_scale, MIN_SECONDS)
            sigma[rows] = spread
        return seconds, sigma

    def estimate(self, shape: TrialShape) -> Estimate:
        """A fit's predicted seconds and an 80 % interval."""
        seconds, sigma = (float(a[0]) for a in self._fits([shape]))
        return Estimate(seconds, seconds * math.exp(-Z80 * sigma), seconds * math.exp(Z80 * sigma))

    def predict(self, shape: TrialShape) -> float:
        """A fit's predicted seconds."""
        return float(self._fits([shape])[0][0])

    def predict_many(self, shapes: Sequence[TrialShape]) -> np.ndarray:
        """Each fit's predicted seconds (predict, vectorised: the planner asks for thousands)."""
        return self._fits(shapes)[0]

    def _stages(self, stage: str, rows: np.ndarray, columns: np.ndarray, cores: np.ndarray) -> np.ndarray:
        p = np.array([pf.stage_seconds(stage, r, c, k) for r, c, k in zip(rows, columns, cores)])
        z = np.array([_stage_z(r, c, k) for r, c, k in zip(rows, columns, cores)])
        log_seconds, _ = self._blend(self.stages.get(stage), p, z, (np.log(p), np.full(len(p), PRIOR_SIGMA)))
        return np.maximum(np.exp(log_seconds), MIN_SECONDS)

    def stage_seconds(self, stage: str, rows: float, columns: float, cores: float = pf.REFERENCE_CORES) -> float:
        """Predicted seconds of a stage (prepare, load, evaluate, finalize) over rows x columns."""
        if stage == STARTUP:
            return self.startup
        return float(self._stages(stage, np.array([rows]), np.array([columns]), np.array([cores]))[0])

    def trial_seconds(self, shape: TrialShape, validation_rows: float | None = None) -> float:
        """A trial's seconds in its batch: its fit, then its evaluation on the validation rows."""
        return float(self.trial_seconds_many([shape], None if validation_rows is None else [validation_rows])[0])

    def trial_seconds_many(self, shapes: Sequence[TrialShape],
                           validation_rows: Sequence[float] | None = None) -> np.ndarray:
        """trial_seconds of each shape, vectorised."""
        rows = (np.array([s.rows * VALIDATION_SHARE for s in shapes]) if validation_rows is None
                else np.asarray(validation_rows, dtype=float))
        evaluation = self._stages(EVALUATE, rows, np.array([s.features for s in shapes], dtype=float),
                                  np.array([s.cores for s in shapes], dtype=float))
        return self.predict_many(shapes) + evaluation

    def observed(self, o: Observation) -> float:
        """The prediction for what an observation measured."""
        if o.stage == FIT:
            return self.predict(o.shape())
        return self.stage_seconds(o.stage, o.rows, o.columns, o.cores)

    def scaled(self, factor: float) -> PerfModel:
        """This model with every fit's prediction multiplied by `factor` (a job's own calibration:
        what its finished trials showed), bounded to MAX_RATIO either way."""
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"a fit scale is a positive number, got {factor!r}")
        bounded = min(MAX_RATIO, max(1 / MAX_RATIO, self.fit_scale * factor))
        return PerfModel(self.startup, self.fits, self.stages, self.startup_prior, bounded)

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "startup": self.startup, "startup_prior": self.startup_prior, "fit_scale": self.fit_scale,
                "fits": {k: c.to_dict() for k, c in sorted(self.fits.items())},
                "stages": {k: c.to_dict() for k, c in sorted(self.stages.items())}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PerfModel:
        if not isinstance(d, Mapping) or d.get("version") != 1:
            raise ValueError("performance model: expected a version 1 document")
        return cls(float(d["startup"]), {k: Correction.from_dict(v) for k, v in d.get("fits", {}).items()},
                   {k: Correction.from_dict(v) for k, v in d.get("stages", {}).items()},
                   float(d.get("startup_prior", pf.STARTUP_SECONDS)), float(d.get("fit_scale", 1.0)))


def prior(startup_seconds: float = pf.STARTUP_SECONDS) -> PerfModel:
    """The model before anything is observed: the formula, and the start-up measured where jobs run."""
    return PerfModel(startup=startup_seconds, startup_prior=startup_seconds)


def fit(observations: Iterable[Observation], startup_seconds: float = pf.STARTUP_SECONDS) -> PerfModel:
    """The model refitted on `observations` (oldest first; the newest WINDOW per key are used)."""
    by_key: dict[tuple[str, str], list[Observation]] = {}
    for o in observations:
        key = (FIT, pf.family(o.algorithm)) if o.stage == FIT else (o.stage, o.stage)
        by_key.setdefault(key, []).append(o)
    data = {fam: _fit_data(obs[-WINDOW:]) for (stage, fam), obs in by_key.items() if stage == FIT}
    fits = {fam: _correction(*d) for fam, d in data.items()}
    if data:  # every fit: the common features of each family's
        fits[ALL_FITS] = _correction(np.concatenate([d[0] for d in data.values()]),
                                     np.concatenate([d[1] for d in data.values()]),
                                     np.concatenate([d[2][:, :COMMON] for d in data.values()]))
    stages = {stage: _correction(*_stage_data(obs[-WINDOW:])) for (stage, _), obs in by_key.items()
              if stage not in (FIT, STARTUP)}
    startups = [o.seconds for o in by_key.get((STARTUP, STARTUP), [])[-WINDOW:]]
    startup = startup_seconds
    if startups:
        w = len(startups) / (len(startups) + PRIOR_WEIGHT)
        startup = math.exp(w * math.log(float(np.median(startups))) + (1 - w) * math.log(startup_seconds))
    return PerfModel(startup, fits, stages, startup_seconds)


def mape(model: PerfModel, held_out: Sequence[Observation], stage: str | None = FIT) -> float:
    """Mean absolute percentage error of the model on observations it was not fitted on (of one
    stage, default fits; None: all of them but start-ups)."""
    chosen = [o for o in held_out if (o.stage == stage if stage else o.stage != STARTUP)]
    if not chosen:
        raise ValueError(f"mape: no held-out observations of stage {stage or 'any'}")
    return float(np.mean([abs(model.observed(o) - o.seconds) / o.seconds for o in chosen]))


# --- fitting ---------------------------------------------------------------------------------------

def _fit_data(obs: Sequence[Observation]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the formula's raw seconds, seconds, augmented features) of one family's fits."""
    shapes = [o.shape() for o in obs]
    prior_s = np.array([max(pf.raw_fit_seconds(s), 1e-9) for s in shapes])
    return prior_s, np.array([o.seconds for o in obs]), np.array([_fit_z(s) for s in shapes])


def _stage_data(obs: Sequence[Observation]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    prior_s = np.array([pf.stage_seconds(o.stage, o.rows, o.columns, o.cores) for o in obs])
    return prior_s, np.array([o.seconds for o in obs]), np.array([_stage_z(o.rows, o.columns, o.cores) for o in obs])


Fitted = tuple[tuple[float, ...], tuple[tuple[float, float], ...]]  # a technique's coefficients and bounds


def _log_ratios(technique: str, coef: Sequence[float], p: np.ndarray, z: np.ndarray,
                bounds: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """log(predicted / prior) of each row, bounded to MAX_RATIO either way. A loglinear correction
    holds each feature within the range it was fitted on: beyond it, the prior's laws go on alone."""
    if technique == "scale":
        r = np.full(len(p), coef[0])
    elif technique == "constant":
        r = coef[0] - np.log(p)
    elif technique == "affine":
        r = np.log(np.maximum(coef[0] + coef[1] * p, 1e-6) / p)
    elif technique == "loglinear":
        x = z[:, 1:len(coef)]
        if bounds:
            x = np.clip(x, [lo for lo, _ in bounds], [hi for _, hi in bounds])
        r = coef[0] + x @ np.asarray(coef[1:])
    else:
        r = np.zeros(len(p))
    return np.clip(r, -math.log(MAX_RATIO), math.log(MAX_RATIO))


def _solve(technique: str, p: np.ndarray, y: np.ndarray, z: np.ndarray) -> Fitted:
    """The technique's coefficients (and bounds) on (prior seconds, actual seconds, log features)."""
    r = np.log(y / p)
    if technique == "scale":
        return (float(np.median(r)),), ()
    if technique == "constant":  # the fits take about the same whatever the prior says (overheads)
        return (float(np.median(np.log(y))),), ()
    if technique == "affine":  # min sum(((a + b p) / y - 1)^2) with a, b >= 0
        design = np.column_stack([1 / y, p / y])
        a, b = np.linalg.lstsq(design, np.ones_like(y), rcond=None)[0]
        if a < 0:
            a, b = 0.0, float(np.sum(p / y) / np.sum((p / y) ** 2))
        if b <= 0:
            a, b = float(1 / np.mean(1 / y)), 0.0
        return (float(a), float(b)), ()
    if technique == "loglinear":
        x = z[:, 1:]
        mean, std = x.mean(axis=0), x.std(axis=0)
        keep = std > 1e-9
        xs = (x[:, keep] - mean[keep]) / std[keep]
        centred = r - r.mean()
        beta = np.linalg.solve(xs.T @ xs + RIDGE * np.eye(xs.shape[1]), xs.T @ centred) if keep.any() else np.zeros(0)
        coef = np.zeros(z.shape[1])
        coef[1:][keep] = beta / std[keep]
        coef[0] = r.mean() - float(np.dot(coef[1:], mean))
        bounds = tuple((float(lo), float(hi)) for lo, hi in zip(x.min(axis=0), x.max(axis=0)))
        return tuple(float(c) for c in coef), bounds
    return (), ()


def _correction(p: np.ndarray, y: np.ndarray, z: np.ndarray) -> Correction:
    """The technique with the lowest cross-validated MAPE, refitted on every observation (one
    observation: a scale, as the old per-job correction did)."""
    n = len(y)
    if n < 2:
        return Correction("scale", *_solve("scale", p, y, z)[:1], n)
    candidates = [t for t in TECHNIQUES if n >= MIN_OBSERVATIONS[t]]
    folds = np.arange(n) % min(FOLDS, n)
    scores: list[tuple[float, int, str, float]] = []
    for rank, technique in enumerate(candidates):
        errors = np.empty(n)
        for k in np.unique(folds):
            train, test = folds != k, folds == k
            coef, bounds = _solve(technique, p[train], y[train], z[train])
            errors[test] = _log_ratios(technique, coef, p[test], z[test], bounds) - np.log(y[test] / p[test])
        scores.append((float(np.mean(np.abs(np.expm1(errors)))), rank, technique, float(np.sqrt(np.mean(errors ** 2)))))
    cv_mape, _, technique, sigma = min(scores)
    coef, bounds = _solve(technique, p, y, z)
    return Correction(technique, coef, n, sigma, cv_mape, bounds)
