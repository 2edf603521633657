"""v1 requests: translated into the native spec with v1's names, defaults, metrics and limits;
every error names the v1 field."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from zygarde.domain import algorithms, search, v1_request
from zygarde.domain.errors import SpecError
from zygarde.domain.spec import parse_job_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "examples" / "v1_request.json").read_text())
NOW = "2026-01-01T00:00:00+00:00"


def v1(domain: str, *methods: dict, **over) -> dict:
    doc = {"domain": domain, "dataset": {"path": "gs://bkt/datasets/d.txt", "format": "libsvm"},
           "methods": list(methods) or [{"algorithm": "linear-regression"}], "emailAddress": "ana@example.com"}
    return {**doc, **over}


def problems(doc) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_job_spec(doc)
    return dict(info.value.problems)


def test_the_reference_example_translates_exactly_and_validates():
    native, notes = v1_request.to_native_with_notes(EXAMPLE)
    assert native == {
        "owner": "someone@example.com",
        "dataset": {"uri": "gs://zygarde-local/datasets/someone@example.com/sample_libsvm_data.txt", "format": "libsvm",
                    "target": "label"},
        "task": "binary_classification",
        "metric": "mcc",
        "candidates": [
            {"algorithm": "logistic_regression",
             "params": {"family": ["binomial"], "regParam": [0.0, 0.1, 0.3], "elasticNetParam": [0.0, 0.5]}},
            {"algorithm": "gbt_classifier", "params": {"maxDepth": [3, 5]}},
        ],
        "search": {"strategy": "grid"},
        "max_parallel": 6,
    }
    assert notes == []
    spec = parse_job_spec(json.dumps(EXAMPLE).encode())  # as the handler and the CLI receive it
    assert spec.objective == "mcc" and spec.direction == "maximize"
    trials = search.initial_trials(spec, "job-1", NOW)
    assert len(trials) == 3 * 2 + 2
    assert trials[0].algorithm == "logistic_regression"
    assert trials[0].params == {"elasticNetParam": 0.0, "family": "binomial", "regParam": 0.0}


def test_detection():
    assert v1_request.is_v1(EXAMPLE)
    assert v1_request.is_v1({"domain": "regression"})
    assert not v1_request.is_v1({"task": "regression", "owner": "a"})
    assert not v1_request.is_v1({**EXAMPLE, "task": "regression"})  # mixed: judged as native
    assert not v1_request.is_v1([EXAMPLE])


@pytest.mark.parametrize("domain, task, metric, algorithm", [
    ("regression", "regression", "rmse", "linear-regression"),
    ("binomial-classification", "binary_classification", "mcc", "linear-support-vector-machine"),
    ("multinomial-classification", "multiclass_classification", "f1", "naive-bayes"),
    ("classification", "multiclass_classification", "f1", "random-forest-classification"),
    ("clustering", "clustering", "silhouette", "k-means"),
])
def test_each_domain(domain, task, metric, algorithm):
    spec = parse_job_spec(v1(domain, {"algorithm": algorithm}))
    assert (spec.task, spec.metric) == (task, metric)


@pytest.mark.parametrize("domain", ["deep-learning", "misc-functions"])
def test_unsupported_domains_are_named(domain):
    assert problems(v1(domain))["domain"].startswith(f"not supported by Zygarde: {domain}")


V1_DOMAIN = {  # a domain each v1 learner belongs to
    "linear-regression": "regression", "generalized-linear-regression": "regression",
    "decision-tree-regression": "regression", "random-forest-regression": "regression",
    "gradient-boosted-tree-regression": "regression",
    "linear-support-vector-machine": "binomial-classification",
    "binomial-logistic-regression": "binomial-classification",
    "gradient-boosted-tree-classification": "binomial-classification",
    "naive-bayes": "multinomial-classification", "multinomial-logistic-regression": "multinomial-classification",
    "decision-tree-classification": "multinomial-classification",
    "random-forest-classification": "multinomial-classification",
    "multilayer-perceptron-classifier": "multinomial-classification",
    "k-means": "clustering", "gaussian-mixture-model": "clustering",
}
EXPECTED = {  # v1 name -> (catalog name, params with v1's defaults as single values)
    "linear-regression": ("linear_regression", {"maxIter": [100], "regParam": [0.0], "elasticNetParam": [0.0]}),
    "generalized-linear-regression": ("generalized_linear_regression",
                                      {"maxIter": [25], "family": ["gaussian"], "link": ["identity"]}),
    "decision-tree-regression": ("decision_tree_regressor", {"maxDepth": [5]}),
    "random-forest-regression": ("random_forest_regressor", {"numTrees": [20], "maxDepth": [5]}),
    "gradient-boosted-tree-regression": ("gbt_regressor", {"maxIter": [20], "maxDepth": [5]}),
    "linear-support-vector-machine": ("linear_svc", {}),
    "binomial-logistic-regression": ("logistic_regression", {"family": ["binomial"]}),
    "gradient-boosted-tree-classification": ("gbt_classifier", {}),
    "naive-bayes": ("naive_bayes", {"smoothing": [1.0], "modelType": ["multinomial"]}),
    "multinomial-logistic-regression": ("logistic_regression", {"family": ["multinomial"]}),
    "decision-tree-classification": ("decision_tree_classifier", {}),
    "random-forest-classification": ("random_forest_classifier", {}),
    "multilayer-perceptron-classifier": ("multilayer_perceptron", {}),
    "k-means": ("kmeans", {"k": [2], "maxIter": [20]}),
    "gaussian-mixture-model": ("gaussian_mixture", {"k": [2]}),
}


def test_every_v1_name_is_covered():
    assert set(V1_DOMAIN) == set(EXPECTED) == set(algorithms.V1_NAMES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_algorithm_maps_with_its_defaults_and_validates(name):
    doc = v1(V1_DOMAIN[name], {"algorithm": name})
    assert v1_request.to_native(doc)["candidates"] == [{"algorithm": EXPECTED[name][0], "params": EXPECTED[name][1]}]
    spec = parse_job_spec(doc)
    assert len(search.initial_trials(spec, "job-1", NOW)) == 1


def test_request_values_override_defaults():
    native = v1_request.to_native(v1("regression", {"algorithm": "random-forest-regression", "hyperparameters": [
        {"param": "maxDepth", "values": [3, 8]}, {"param": "minInstancesPerNode", "values": [1, 5]}]}))
    assert native["candidates"][0]["params"] == {"numTrees": [20], "maxDepth": [3, 8], "minInstancesPerNode": [1, 5]}


def test_glm_link_default_only_without_family_or_link():
    native = v1_request.to_native(v1("regression", {"algorithm": "generalized-linear-regression", "hyperparameters": [
        {"param": "family", "values": ["poisson", "gamma"]}]}))
    assert native["candidates"][0]["params"] == {"maxIter": [25], "family": ["poisson", "gamma"]}
    assert len(search.initial_trials(parse_job_spec(native), "j", NOW)) == 2


def test_search_and_resources():
    doc = v1("regression", parameterSearch="random", computationalResources={"maxTotalInstances": 10})
    native = v1_request.to_native(doc)
    assert native["search"] == {"strategy": "random", "max_trials": 10} and native["max_parallel"] == 10
    bayes = v1_request.to_native(v1("regression", parameterSearch="bayesian-optimization"))
    assert bayes["search"] == {"strategy": "bayesian", "max_trials": 4} and bayes["max_parallel"] == 4
    grid = v1_request.to_native(v1("regression"))
    assert grid["search"] == {"strategy": "grid"} and grid["max_parallel"] == 4
    spec = parse_job_spec(v1("regression", {"algorithm": "linear-regression", "hyperparameters": [
        {"param": "regParam", "values": [0.0, 0.01, 0.1, 1.0]}, {"param": "elasticNetParam", "values": [0, 0.5, 1]}]},
        parameterSearch="random", computationalResources={"maxTotalInstances": 5}))
    assert len(search.initial_trials(spec, "j", NOW)) == 5  # at most maxTotalInstances points


def test_gpu_and_instances_are_ignored_with_notes():
    doc = v1("regression", computationalResources={
        "instances": [{"type": "n1-standard-4", "additionalHardware": ["GPU"], "minInstances": 1, "maxInstances": 2}],
        "minTotalInstances": 1, "maxTotalInstances": 2})
    native, notes = v1_request.to_native_with_notes(doc)
    assert native["max_parallel"] == 2
    assert any("additionalHardware" in n and "GPU" in n for n in notes)
    assert any(n.startswith("computationalResources.instances ignored") for n in notes)
    assert any("minTotalInstances" in n for n in notes)
    parse_job_spec(doc)


def test_csv_target_and_job_id():
    doc = v1("regression", dataset={"path": "gs://bkt/d.csv", "format": "CSV", "labelCol": "price"}, job_id="v1-job")
    native = v1_request.to_native(doc)
    assert native["dataset"] == {"uri": "gs://bkt/d.csv", "format": "csv", "target": "price"}
    assert parse_job_spec(doc).job_id == "v1-job"
    csv_default = v1_request.to_native(v1("regression", dataset={"path": "gs://bkt/d.csv", "format": "csv"}))
    assert csv_default["dataset"]["target"] == "label"
    assert v1_request.to_native(v1("regression", dataset={"path": "gs://bkt/d.txt"}))["dataset"]["format"] == "libsvm"


def _bad_method(**method) -> dict:
    return v1("binomial-classification", {"algorithm": "binomial-logistic-regression", **method})


@pytest.mark.parametrize("doc, path, words", [
    (v1("regression", {"algorithm": "foo"}), "methods[0].algorithm",
     "unknown v1 algorithm 'foo' (known: linear-regression"),
    (v1("regression", {"algorithm": "linear_regression"}), "methods[0].algorithm", "unknown v1 algorithm"),
    (v1("regression", {"algorithm": "k-means"}), "methods[0].algorithm", "not a regression algorithm"),
    (v1("classification", {"algorithm": "gradient-boosted-tree-classification"}), "methods[0].algorithm",
     "use domain binomial-classification"),
    (v1("multinomial-classification", {"algorithm": "binomial-logistic-regression"}), "methods[0].algorithm",
     "multinomial-logistic-regression"),
    (v1("ranking"), "domain", "unknown v1 domain"),
    ({k: v for k, v in v1("regression").items() if k != "domain"} | {"methods": []}, "domain", "required"),
    ({k: v for k, v in v1("regression").items() if k != "emailAddress"}, "emailAddress", "required"),
    (v1("regression", methods=[]), "methods", "non-empty"),
    (v1("regression", dataset={"path": "/home/me/data.txt", "format": "libsvm"}), "dataset.path", "gs://"),
    (v1("regression", dataset={"path": "gs://bkt/d.orc", "format": "orc"}), "dataset.format", "unsupported"),
    (v1("regression", dataset={"path": "gs://bkt/d.txt", "labelCol": "y"}), "dataset.labelCol", "always 'label'"),
    (v1("regression", parameterSearch="genetic"), "parameterSearch", "unknown v1 search"),
    (v1("regression", computationalResources={"maxTotalInstances": 65}), "computationalResources.maxTotalInstances",
     "1 to 64"),
    (v1("regression", priority="high"), "priority", "not a field of a v1 request"),
    (_bad_method(hyperparameters=[{"param": "regParam", "values": []}]), "methods[0].hyperparameters[0].values",
     "non-empty"),
    (_bad_method(hyperparameters=[{"param": "regParam", "values": [1]}, {"param": "regParam", "values": [2]}]),
     "methods[0].hyperparameters[1].param", "twice"),
    (_bad_method(hyperparameters=[{"name": "regParam", "values": [1]}]), "methods[0].hyperparameters[0]",
     "expected"),
    # caught by native validation, reported in v1 terms
    (_bad_method(hyperparameters=[{"param": "regParam", "values": [0.1]},
                                  {"param": "elasticNetParam", "values": [0.5, 2]}]),
     "methods[0].hyperparameters[1].values[1]", "<= 1.0"),
    (_bad_method(hyperparameters=[{"param": "maxDepth", "values": [3]}]), "methods[0].hyperparameters[0].values[0]",
     "no hyperparameter 'maxDepth'"),
    (v1("regression", dataset={"path": "gs://B/x", "format": "libsvm"}), "dataset.path", "gs://bucket/object"),
    (v1("regression", emailAddress="x" * 300), "emailAddress", "at most 256"),
    (v1("regression", job_id="Bad Id"), "job_id", "lower-case letters"),
])
def test_errors_name_the_v1_field(doc, path, words):
    found = problems(doc)
    assert path in found, found
    assert words in found[path], found[path]
    assert not any(p.startswith(("candidates", "owner", "task", "max_parallel")) for p in found), found


def test_translation_does_not_change_the_request():
    before = copy.deepcopy(EXAMPLE)
    v1_request.to_native(EXAMPLE)
    parse_job_spec(EXAMPLE)
    assert EXAMPLE == before


def test_v1_path_mapping():
    doc = _bad_method(hyperparameters=[{"param": "regParam", "values": [0.1]}])
    assert v1_request.v1_path("candidates[0].params.family[0]", doc) == "methods[0].algorithm"  # a v1 default
    assert v1_request.v1_path("candidates[0].params.regParam.low", doc) == "methods[0].hyperparameters[0].values.low"
    assert v1_request.v1_path("search.max_trials", doc) == "computationalResources.maxTotalInstances"
    assert v1_request.v1_path("dataset.uri", doc) == "dataset.path"
