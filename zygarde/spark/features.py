"""Preprocessing: from raw columns to one feature vector, suited to the learner.

Every stage is a built-in Spark ML stage, so the saved PipelineModel loads anywhere without Zygarde.
The first stage (SQL) is the only one that reads the user's column names; it copies features into
safe internal names (zy__*), so dots or spaces in names cannot confuse later stages.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import (Imputer, MinMaxScaler, OneHotEncoder, SQLTransformer, StandardScaler,
                                StringIndexer, StringIndexerModel, VectorAssembler)
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zygarde.domain.algorithms import Algorithm
from zygarde.domain.errors import DatasetError
from zygarde.spark.dataset import quote

log = logging.getLogger(__name__)

FEATURES = "zy__features"
MAX_CATEGORIES = 1000  # string columns with more distinct values (ids, free text) are left out
RESERVED = ("prediction", "rawPrediction", "probability", "predicted_label")


@dataclass
class FeaturePlan:
    """Which input columns feed the model, in dataset order, by kind."""

    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, "numeric"|"categorical"|"vector")
    ignored: dict[str, str] = field(default_factory=dict)  # name -> why
    ordinal: frozenset[str] = frozenset()  # categorical columns whose values' lexical order is meaningful

    def names(self, kind: str) -> list[str]:
        return [name for name, k in self.columns if k == kind]

    def drop(self, name: str, reason: str) -> None:
        self.columns = [(n, k) for n, k in self.columns if n != name]
        self.ignored[name] = reason


def plan_features(df: DataFrame, exclude: set[str], ordinal: tuple[str, ...] | list[str] = ()) -> FeaturePlan:
    """Classifies every column: numbers and booleans are numeric, strings categorical, ML vectors
    pass through; anything else (dates, arrays, maps...) is left out. `ordinal` (data.ordinal_columns):
    string columns whose values, in lexical order, are ordered (XGBoost splits them as numbers)."""
    plan = FeaturePlan(ordinal=frozenset(ordinal))
    for f in df.schema.fields:
        if f.name in exclude or f.name.startswith("zy__"):
            continue
        if f.name in RESERVED:
            raise DatasetError(f"column {f.name!r} clashes with a model output column; rename it")
        if isinstance(f.dataType, (T.NumericType, T.BooleanType)):
            plan.columns.append((f.name, "numeric"))
        elif isinstance(f.dataType, T.StringType):
            plan.columns.append((f.name, "categorical"))
        elif isinstance(f.dataType, VectorUDT):
            plan.columns.append((f.name, "vector"))
        else:
            plan.ignored[f.name] = f"unsupported type {f.dataType.simpleString()}"
    return plan


def profile(train: DataFrame, plan: FeaturePlan) -> dict[str, dict[str, float]]:
    """One pass over the training data: count/min/max of numeric columns, approximate distinct
    counts of categorical ones. Drops columns that cannot help (all missing, too many categories)."""
    aggs = []
    for i, name in enumerate(plan.names("numeric")):
        x = F.col(quote(name)).cast("double")
        aggs += [F.count(F.when(~F.isnan(x), 1)).alias(f"c{i}"), F.min(F.when(~F.isnan(x), x)).alias(f"lo{i}"),
                 F.max(F.when(~F.isnan(x), x)).alias(f"hi{i}")]
    for j, name in enumerate(plan.names("categorical")):
        aggs.append(F.approx_count_distinct(F.col(quote(name))).alias(f"d{j}"))
    if not aggs:
        return {}
    row = train.agg(*aggs).first()
    stats: dict[str, dict[str, float]] = {}
    for i, name in enumerate(plan.names("numeric")):
        stats[name] = {"count": row[f"c{i}"], "min": row[f"lo{i}"], "max": row[f"hi{i}"]}
    for j, name in enumerate(plan.names("categorical")):
        stats[name] = {"distinct": row[f"d{j}"]}
    for name, s in stats.items():
        if s.get("count") == 0 or s.get("distinct") == 0:
            plan.drop(name, "no values in the training data")
        elif s.get("distinct", 0) > MAX_CATEGORIES:
            plan.drop(name, f"about {s['distinct']} distinct values (more than {MAX_CATEGORIES} categories)")
    for name, why in plan.ignored.items():
        log.info("feature left out column=%s reason=%s", name, why)
    if not plan.columns:
        raise DatasetError("no usable feature columns (need numeric, boolean or string columns besides the target)")
    return stats


def _literal(x: float) -> str:
    return f"CAST('{x!r}' AS DOUBLE)"


def category_order(algorithm: Algorithm) -> str:
    """How a categorical column's values are numbered. One-hot learners: most frequent first (the
    encoder drops the last, the rarest). Learners that read the index itself: in lexical order, a
    numbering that depends on the values only, not on the rows' order. Neither kind of tree reads it as
    an order: MLlib's trees take it as a nominal attribute, XGBoost as a native categorical feature
    (feature_types "c", set-membership splits), except for the columns declared in
    data.ordinal_columns, which XGBoost splits as numbers (graded labels such as A-F keep their order)."""
    return "frequencyDesc" if algorithm.one_hot else "alphabetAsc"


def preprocessing_stages(plan: FeaturePlan, stats: dict[str, dict[str, float]], algorithm: Algorithm) -> list:
    """Unfitted stages producing FEATURES: copy/cast, impute, index, (one-hot), assemble, (scale)."""
    numeric, categorical, vectors = plan.names("numeric"), plan.names("categorical"), plan.names("vector")
    internal: dict[str, str] = {}
    selects = []
    for i, name in enumerate(numeric):
        internal[name] = f"zy__n{i}"
        selects.append(f"CAST({quote(name)} AS DOUBLE) AS zy__n{i}")
    for j, name in enumerate(categorical):
        internal[name] = f"zy__s{j}"
        selects.append(f"CAST({quote(name)} AS STRING) AS zy__s{j}")
    for k, name in enumerate(vectors):
        internal[name] = f"zy__v{k}"
        selects.append(f"{quote(name)} AS zy__v{k}")
    stages: list = [SQLTransformer(statement=f"SELECT *, {', '.join(selects)} FROM __THIS__")]
    final = dict(internal)  # original name -> the column the assembler reads
    if numeric:
        cols = [internal[n] for n in numeric]
        stages.append(Imputer(inputCols=cols, outputCols=[c.replace("zy__n", "zy__i") for c in cols],
                              strategy="mean"))
        final.update({n: internal[n].replace("zy__n", "zy__i") for n in numeric})
        if algorithm.scale_features and algorithm.scaler == "minmax":
            # Clip to the training range so unseen extremes cannot go negative after min-max scaling.
            clips = []
            for n in numeric:
                lo, hi, src = stats[n]["min"], stats[n]["max"], final[n]
                expr = src
                if hi is not None and math.isfinite(hi):
                    expr = f"LEAST({expr}, {_literal(hi)})"
                if lo is not None and math.isfinite(lo):
                    expr = f"GREATEST({expr}, {_literal(lo)})"
                clips.append(f"{expr} AS {src.replace('zy__i', 'zy__c')}")
                final[n] = src.replace("zy__i", "zy__c")
            stages.append(SQLTransformer(statement=f"SELECT *, {', '.join(clips)} FROM __THIS__"))
    if categorical:
        cols = [internal[n] for n in categorical]
        indexed = [c.replace("zy__s", "zy__x") for c in cols]
        stages.append(StringIndexer(inputCols=cols, outputCols=indexed, handleInvalid="keep",
                                    stringOrderType=category_order(algorithm)))
        final.update({n: internal[n].replace("zy__s", "zy__x") for n in categorical})
        if algorithm.one_hot:
            stages.append(OneHotEncoder(inputCols=indexed, outputCols=[c.replace("zy__x", "zy__o") for c in indexed],
                                        handleInvalid="keep"))
            final.update({n: internal[n].replace("zy__s", "zy__o") for n in categorical})
    inputs = [final[name] for name, _ in plan.columns]
    scaled = algorithm.scale_features
    assembled = "zy__assembled" if scaled else FEATURES
    if len(inputs) == 1 and vectors:
        stages.append(SQLTransformer(statement=f"SELECT *, {inputs[0]} AS {assembled} FROM __THIS__"))
    else:
        # Nulls are imputed or indexed by now; "keep" also needs vector sizes, unknown for raw vectors.
        stages.append(VectorAssembler(inputCols=inputs, outputCol=assembled,
                                      handleInvalid="error" if vectors else "keep"))
    if scaled and algorithm.scaler == "minmax":
        stages.append(MinMaxScaler(inputCol=assembled, outputCol=FEATURES))
    elif scaled:
        # Centring densifies sparse vectors: only centre assembled tabular columns.
        centre = algorithm.scaler == "standard" and not vectors
        stages.append(StandardScaler(inputCol=assembled, outputCol=FEATURES, withMean=centre, withStd=True))
    return stages


@dataclass(frozen=True)
class Prepared:
    model: PipelineModel  # the fitted preprocessing stages
    n_features: int
    max_categories: int  # largest categorical cardinality (incl. the unknown slot), 0 if none
    # XGBoost's feature_types, one per feature: "c" for an indexed categorical column (not declared
    # ordinal), "q" for the rest; None when no feature is "c" (one-hot learners, numbers only)
    feature_types: tuple[str, ...] | None = None


def feature_types(plan: FeaturePlan, algorithm: Algorithm, vector_sizes: list[int]) -> tuple[str, ...] | None:
    """Prepared.feature_types: the assembler's slots in plan order (a vector column: its size)."""
    if algorithm.one_hot:
        return None
    sizes = iter(vector_sizes)
    types: list[str] = []
    for name, kind in plan.columns:
        if kind == "vector":
            types += ["q"] * next(sizes)
        else:
            types.append("c" if kind == "categorical" and name not in plan.ordinal else "q")
    return tuple(types) if "c" in types else None


def fit_preprocessing(train: DataFrame, plan: FeaturePlan, stats: dict, algorithm: Algorithm) -> Prepared:
    model = Pipeline(stages=preprocessing_stages(plan, stats, algorithm)).fit(train)
    vectors = [f"zy__v{k}" for k in range(len(plan.names("vector")))]
    first = model.transform(train).select(FEATURES, *vectors).first()
    if first is None:
        raise DatasetError("the training split is empty")
    max_categories = max((len(labels) + 1 for stage in model.stages if isinstance(stage, StringIndexerModel)
                          for labels in stage.labelsArray), default=0)
    types = feature_types(plan, algorithm, [int(first[v].size) for v in vectors])
    return Prepared(model=model, n_features=int(first[0].size), max_categories=max_categories,
                    feature_types=types)
