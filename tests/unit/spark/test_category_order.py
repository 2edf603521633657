"""How categorical values are numbered: lexical for learners that read the index (graded labels keep
their order), most frequent first for one-hot learners (the rarest is the dropped one)."""
from __future__ import annotations

import pytest
from pyspark.ml.feature import StringIndexerModel

from zygarde.domain import algorithms
from zygarde.spark.features import fit_preprocessing, plan_features, profile

# colours graded D (best) .. G, the most frequent being the middling F, then E, G, D; and a null
ROWS = [("F", 1.0)] * 5 + [("E", 2.0)] * 4 + [("G", 3.0)] * 3 + [("D", 4.0)] * 2 + [(None, 5.0)]


@pytest.fixture(scope="module")
def frame(spark):
    return spark.createDataFrame(ROWS, "color string, carat double")


def labels_of(frame, algorithm: str) -> list[str]:
    plan = plan_features(frame, set())
    prepared = fit_preprocessing(frame, plan, profile(frame, plan), algorithms.get(algorithm))
    [indexer] = [s for s in prepared.model.stages if isinstance(s, StringIndexerModel)]
    return list(indexer.labelsArray[0])


@pytest.mark.parametrize("algorithm", ["xgboost_regressor", "random_forest_regressor"])
def test_learners_reading_the_index_get_the_values_in_lexical_order(frame, algorithm):
    assert labels_of(frame, algorithm) == ["D", "E", "F", "G"]


def test_one_hot_learners_get_the_most_frequent_first(frame):
    assert labels_of(frame, "linear_regression") == ["F", "E", "G", "D"]
