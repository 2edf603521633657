"""The search's starting portfolio (written by bench/build_portfolio.py; do not edit by hand).

Configurations of the default auto-mode space that did well across tabular datasets, in the greedy
order they were picked (each the one that most lowered the mean best normalised error so far).
search.ask runs those inside a Bayesian job's space first, before its seeded random points.
Measured on 9 datasets (breast_cancer, movies_drama, credit_card, wine, diamonds_cut, glass, diabetes, diamonds_price, boston) from a pool of 171: mean best normalised error
0.0052 (the seeded random start's first 10: 0.3523); left out of the build, a dataset's
mean is 0.2885 against 0.3523 (bench/results_portfolio.json).
Learners: "xgboost" (xgboost_classifier / xgboost_regressor) and "linear" (logistic_regression /
linear_regression). Pure data.
"""
from __future__ import annotations

LEARNERS = {"xgboost": ("xgboost_classifier", "xgboost_regressor"),
            "linear": ("logistic_regression", "linear_regression")}

PORTFOLIO: tuple[tuple[str, dict], ...] = (
    ("xgboost", {"colsample_bytree": 0.854081, "learning_rate": 0.025696, "max_depth": 5, "min_child_weight": 0.784611, "n_estimators": 822, "reg_alpha": 0.014578, "reg_lambda": 0.001267, "subsample": 0.742834}),
    ("xgboost", {"colsample_bytree": 0.506572, "learning_rate": 0.126153, "max_depth": 4, "min_child_weight": 3.199676, "n_estimators": 102, "reg_alpha": 0.001201, "reg_lambda": 0.1406, "subsample": 0.621299}),
    ("xgboost", {"colsample_bytree": 0.512672, "learning_rate": 0.119522, "max_depth": 2, "min_child_weight": 1.980132, "n_estimators": 73, "reg_alpha": 5.544484, "reg_lambda": 0.869257, "subsample": 0.809237}),
    ("xgboost", {"colsample_bytree": 0.999859, "learning_rate": 0.08772, "max_depth": 10, "min_child_weight": 16.594284, "n_estimators": 254, "reg_alpha": 0.060175, "reg_lambda": 0.011829, "subsample": 0.61437}),
    ("xgboost", {"colsample_bytree": 0.743928, "learning_rate": 0.208707, "max_depth": 8, "min_child_weight": 2.46768, "n_estimators": 490, "reg_alpha": 0.00102, "reg_lambda": 0.060471, "subsample": 0.888616}),
    ("xgboost", {"colsample_bytree": 0.670676, "learning_rate": 0.023601, "max_depth": 10, "min_child_weight": 2.907161, "n_estimators": 520, "reg_alpha": 0.025549, "reg_lambda": 0.006157, "subsample": 0.813855}),
    ("xgboost", {"colsample_bytree": 0.914253, "learning_rate": 0.031882, "max_depth": 8, "min_child_weight": 0.663392, "n_estimators": 259, "reg_alpha": 0.183597, "reg_lambda": 6.441469, "subsample": 0.745957}),
    ("xgboost", {"colsample_bytree": 0.648354, "learning_rate": 0.269713, "max_depth": 10, "min_child_weight": 0.626077, "n_estimators": 127, "reg_alpha": 0.001587, "reg_lambda": 0.080752, "subsample": 0.967755}),
    ("xgboost", {"colsample_bytree": 0.663277, "learning_rate": 0.186235, "max_depth": 6, "min_child_weight": 3.690346, "n_estimators": 750, "reg_alpha": 0.695099, "reg_lambda": 0.001053, "subsample": 0.724727}),
    ("linear", {"regParam": 0.01}),
)
