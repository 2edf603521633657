"""How the preparation splits rows, through the real batch entry point on local Spark: copies of an
identical row are split independently (so labels do not shift between parts and model selection
is sound), the split ignores row order, column order and file layout, data.group_by keeps groups in
one part and one k-fold fold, and the data report says how much of the data repeats."""
from __future__ import annotations

import math
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zygarde.domain.contracts import PrepareRequest, PrepareResult
from zygarde.spark.data_report import part_sizes

REGIONS = ["north", "south", "east", "west", None]  # a missing region is a value like any other
PLANS = ["basic", "basic plus", "pro", "team"]
ROWS = 20_000


@pytest.fixture(scope="module")
def few_vectors(tmp_path_factory) -> tuple[Path, pd.DataFrame, dict[tuple, float]]:
    """20 distinct feature vectors (region x plan), each with its own churn rate in [0.2, 0.8];
    20,000 rows, so nearly every row repeats another exactly, and 37 rows with no label."""
    rng = np.random.default_rng(8)
    rates = {(r, p): float(rng.uniform(0.2, 0.8)) for r in REGIONS for p in PLANS}
    keys = list(rates)
    picks = rng.integers(0, len(keys), ROWS)
    region = [keys[i][0] for i in picks]
    plan = [keys[i][1] for i in picks]
    churned = rng.random(ROWS) < np.array([rates[keys[i]] for i in picks])
    frame = pd.DataFrame({"region": region, "plan": plan, "churned": np.where(churned, "yes", "no")})
    frame.loc[rng.choice(ROWS, 37, replace=False), "churned"] = None
    path = tmp_path_factory.mktemp("few_vectors") / "churn.csv"
    frame.to_csv(path, index=False)
    return path, frame, rates


@pytest.fixture
def prepare(spark, tmp_path):
    """prepare(dataset, **fields) -> PrepareResult (asserted to succeed unless ok=False)."""
    from spark_jobs.prepare_data import main

    def run(dataset: Path, ok: bool = True, **overrides) -> PrepareResult:
        out = tmp_path / uuid.uuid4().hex[:6]
        fields = dict(job_id="job-split", attempt=1, dataset_uri=str(dataset), dataset_format="csv",
                      target="churned", task="binary_classification", seed=7, validation_fraction=0.2,
                      test_fraction=0.15, output_prefix=f"{out}/data/", result_uri=f"{out}/result.json")
        fields.update(overrides)
        request = PrepareRequest(**fields)
        code = main(["--request", request.to_json()], spark=spark)
        result = PrepareResult.from_json(Path(request.result_uri).read_text())
        if ok:
            assert code == 0 and result.status == "SUCCEEDED", result.error
        return result

    return run


def _parts(spark, result: PrepareResult, columns: list[str]) -> dict[str, pd.DataFrame]:
    return {name: spark.read.parquet(uri).select(*columns).toPandas() for name, uri in result.parts.items()}


def _rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Each feature vector's share of churned rows and its row count."""
    known = frame.assign(region=frame["region"].fillna("(missing)"), y=frame["churned"] == "yes")
    return known.groupby(["region", "plan"])["y"].agg(["mean", "size"])


def test_copies_are_split_row_by_row_so_each_vector_keeps_its_label_rate_in_every_part(spark, prepare, few_vectors):
    path, frame, _ = few_vectors
    result = prepare(path)
    parts = _parts(spark, result, ["region", "plan", "churned"])
    labelled = frame.dropna(subset=["churned"])
    overall = _rates(labelled)["mean"]
    for name, part in parts.items():
        rates = _rates(part)
        assert len(rates) == 20, name
        for key, row in rates.iterrows():
            p = overall[key]
            assert abs(row["mean"] - p) <= 4 * math.sqrt(p * (1 - p) / row["size"]), (name, key, row["mean"], p)

    sizes = [part_sizes(n, 0.2, 0.15) for n in labelled["churned"].value_counts()]
    assert result.rows == {p: sum(s[i] for s in sizes) for i, p in enumerate(("train", "validation", "test"))}
    assert result.report["split"]["method"] == "row" and result.report["split"]["group_by"] == []
    duplicates = result.report["duplicates"]
    assert duplicates["rows"] == len(labelled) and duplicates["distinct_rows"] == 40
    assert duplicates["distinct_feature_vectors"] == 20 and duplicates["mixed_label_vectors"] == 20
    assert duplicates["duplicate_row_share"] == pytest.approx(1 - 40 / len(labelled))
    [warning] = [w for w in result.report["warnings"] if w["kind"] == "duplicate_rows"]
    assert warning["column"] is None
    assert warning["message"].startswith("100% of rows repeat another row exactly (40 distinct rows, 20 distinct "
                                         f"feature vectors in {len(labelled)} rows); 20 feature vectors (100%) "
                                         "are seen with more than one label")


def test_a_deep_tree_validates_near_the_best_possible_auc(spark, prepare, few_vectors):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import StringIndexer, VectorAssembler
    from pyspark.sql import functions as F

    path, _, rates = few_vectors
    result = prepare(path, seed=3)
    train, validation = (spark.read.parquet(result.parts[p]) for p in ("train", "validation"))
    pipeline = Pipeline(stages=[
        StringIndexer(inputCols=["region", "plan"], outputCols=["region_i", "plan_i"], handleInvalid="keep"),
        StringIndexer(inputCol="churned", outputCol="label", stringOrderType="alphabetAsc"),  # no 0, yes 1
        VectorAssembler(inputCols=["region_i", "plan_i"], outputCol="features"),
        DecisionTreeClassifier(maxDepth=10, seed=1)])
    scored = pipeline.fit(train).transform(validation)
    # Ranked by the leaf's probability: a tree's rawPrediction holds the leaf's class counts, not rates.
    auc = BinaryClassificationEvaluator(rawPredictionCol="probability", metricName="areaUnderROC").evaluate(scored)

    true_rate = F.create_map(*[x for (r, p), rate in rates.items()
                               for x in (F.lit(f"{r}|{p}"), F.lit(rate))])[
        F.concat_ws("|", F.coalesce("region", F.lit("None")), "plan")]
    oracle = BinaryClassificationEvaluator(rawPredictionCol="true_rate", metricName="areaUnderROC").evaluate(
        scored.withColumn("true_rate", true_rate))
    assert 0.6 < oracle < 0.75
    assert auc > 0.5 and abs(auc - oracle) < 0.03, (auc, oracle)


def test_the_same_seed_gives_the_same_parts_whatever_the_row_order_columns_or_files(spark, prepare, few_vectors,
                                                                                    tmp_path):
    path, frame, _ = few_vectors
    first = prepare(path)
    folder = tmp_path / "reordered"
    folder.mkdir()
    shuffled = frame.sample(frac=1.0, random_state=1)[["churned", "plan", "region"]]
    for i, piece in enumerate(np.array_split(shuffled, 3)):
        piece.to_csv(folder / f"part-{i}.csv", index=False)
    again = prepare(folder)
    other_seed = prepare(path, seed=8)

    def rows(result):
        return {name: Counter(map(tuple, part.fillna("").itertuples(index=False)))
                for name, part in _parts(spark, result, ["region", "plan", "churned"]).items()}

    assert rows(first) == rows(again) and rows(first) != rows(other_seed)


@pytest.fixture(scope="module")
def customers(tmp_path_factory) -> Path:
    """Baskets of 400 customers (1 to 30 each): the same customer's rows look alike, so a split that
    separates a customer's rows leaks. Amounts are continuous: no row repeats."""
    rng = np.random.default_rng(21)
    sizes = rng.integers(1, 31, 400)
    ids = np.repeat([f"C{i:04d}" if i % 50 else f"c {i}" for i in range(400)], sizes)
    loyal = np.repeat(rng.random(400) < 0.3, sizes)
    frame = pd.DataFrame({"customer": ids, "amount": rng.gamma(2.0, 30.0, len(ids)).round(2),
                          "store": rng.choice(["mall", "high street", "online"], len(ids)),
                          "returned": np.where(loyal ^ (rng.random(len(ids)) < 0.1), "yes", "no")})
    frame.loc[rng.choice(len(frame), 15, replace=False), "store"] = None
    path = tmp_path_factory.mktemp("customers") / "baskets.csv"
    frame.to_csv(path, index=False)
    return path


def test_group_by_keeps_every_customer_in_one_part(spark, prepare, customers):
    result = prepare(customers, target="returned", group_by=["customer"])
    parts = _parts(spark, result, ["customer", "returned"])
    seen = {name: set(part["customer"]) for name, part in parts.items()}
    assert not (seen["train"] & seen["validation"]) and not (seen["train"] & seen["test"]) \
        and not (seen["validation"] & seen["test"])
    split = result.report["split"]
    assert split["method"] == "group" and split["group_by"] == ["customer"]
    assert split["groups"] == {name: len(s) for name, s in seen.items()} and sum(split["groups"].values()) == 400
    total = sum(result.rows.values())
    for name, fraction in (("train", 0.65), ("validation", 0.2), ("test", 0.15)):
        assert abs(result.rows[name] / total - fraction) < 0.03, result.rows
        share_yes = (parts[name]["returned"] == "yes").mean()
        assert 0.2 < share_yes < 0.45, (name, share_yes)  # stratified by each customer's usual class
    assert not [w for w in result.report["warnings"] if w["kind"] == "duplicate_rows"]
    assert result.report["duplicates"]["duplicate_row_share"] == 0.0


def test_group_columns_must_exist_survive_the_selection_and_not_be_the_target(prepare, customers):
    unknown = prepare(customers, ok=False, target="returned", group_by=["customer_id"])
    assert unknown.status == "FAILED" and unknown.error_kind == "data"
    assert "data.group_by names columns that are not in the dataset: customer_id (columns: customer" in unknown.error
    dropped = prepare(customers, ok=False, target="returned", group_by=["customer"], exclude_columns=["customer"])
    assert "data.group_by names columns that include_columns / exclude_columns drop: customer" in dropped.error
    target = prepare(customers, ok=False, target="returned", group_by=["returned"])
    assert "data.group_by cannot include the target column 'returned'" in target.error


def test_k_folds_split_copies_row_by_row_and_keep_groups_whole(spark):
    from zygarde.spark.splitting import with_fold

    rows = [("a", 1.0, "yes")] * 30 + [("b", 2.0, "no")] * 30 + [(f"g{i}", float(i), "no") for i in range(11)]
    frame = spark.createDataFrame(rows, "shop string, spend double, y string").repartition(3)
    row_folds = with_fold(frame, seed=5, k=3, name="fold").toPandas()
    for shop in ("a", "b"):
        counts = row_folds[row_folds["shop"] == shop]["fold"].value_counts()
        assert sorted(counts.index) == [0, 1, 2] and counts.min() >= 4, counts.to_dict()  # copies spread
    one_partition = with_fold(frame.coalesce(1), seed=5, k=3, name="fold").toPandas()
    assert Counter(map(tuple, row_folds.itertuples(index=False))) == \
        Counter(map(tuple, one_partition.itertuples(index=False)))  # partitioning is no matter

    group_folds = with_fold(frame, seed=5, k=3, name="fold", group_by=["shop"]).toPandas()
    assert group_folds.groupby("shop")["fold"].nunique().max() == 1
    assert sorted(group_folds.drop_duplicates("shop")["fold"].value_counts()) == [4, 4, 5]  # 13 groups dealt out


def test_a_trial_cross_validates_by_group(spark, trial, prepared_parts):
    code, result, _ = trial("cancer_small", "logistic_regression", {"maxIter": 20}, metric="areaUnderROC", k_folds=3,
                            group_by=["size_band"])
    assert code == 0 and result.status == "SUCCEEDED", result.error
    assert 0.5 < result.metrics["cv_areaUnderROC_mean"] <= 1.0

    code, result, _ = trial("cancer_small", "logistic_regression", {"maxIter": 20}, metric="areaUnderROC", k_folds=5,
                            group_by=["size_band"])
    assert code == 1 and result.status == "FAILED"
    train = spark.read.parquet(prepared_parts("cancer_small", group_by=["size_band"]).parts["train"])
    groups = train.select("size_band").distinct().count()  # a missing size_band is a group of its own
    assert groups < 5
    assert f"{groups} groups of size_band: too few for 5-fold cross-validation by group" in result.error
