"""Requests in the original Zygarde (v1) format, translated into the native job spec.

A v1 request names a `domain`, `methods` (v1 algorithm names with `hyperparameters` as
[{param, values}]), `parameterSearch`, `computationalResources` and `emailAddress`
(docs: /work/shared/reference/zygarde-v1-request.md). The translation keeps v1's meaning:
- learners map to the catalog's (algorithms.V1_NAMES) with the defaults v1 applied, set as
  single values unless the request gives that param; a GLM's `link identity` default only applies
  when the request sets neither family nor link (identity does not suit every family);
- domains map to tasks; plain `classification` becomes multiclass_classification, which also
  trains on two classes (binary-only learners then need domain binomial-classification);
- metrics are v1's: regression rmse, binomial mcc, multinomial and classification f1,
  clustering silhouette;
- maxTotalInstances (default 4) is how many trials run at once, and for random and Bayesian
  search also how many are drawn (v1's random search drew at most that many points);
- instances, additionalHardware (GPU) and minTotalInstances have no equivalent: they are ignored
  and reported in the translation notes.
Every error names the v1 field. Pure code.
"""
from __future__ import annotations

from typing import Any

from zygarde.domain import algorithms
from zygarde.domain.algorithms import BINARY, CLUSTERING, MULTICLASS, REGRESSION
from zygarde.domain.errors import SpecError
from zygarde.domain.identity import IdentityError, owner_key

FIELDS = ("domain", "dataset", "methods", "parameterSearch", "computationalResources", "emailAddress")
EXTRA_FIELDS = ("job_id",)  # native fields a v1 request may carry through unchanged
_NATIVE_ONLY = ("task", "candidates", "owner")

DOMAINS = {"regression": REGRESSION, "binomial-classification": BINARY,
           "multinomial-classification": MULTICLASS, "classification": MULTICLASS, "clustering": CLUSTERING}
UNSUPPORTED_DOMAINS = ("deep-learning", "misc-functions")
METRICS = {"regression": "rmse", "binomial-classification": "mcc", "multinomial-classification": "f1",
           "classification": "f1", "clustering": "silhouette"}
SEARCHES = {"grid": "grid", "random": "random", "bayesian-optimization": "bayesian"}
FORMATS = ("libsvm", "csv", "parquet", "json")
MAX_INSTANCES, DEFAULT_INSTANCES = 64, 4

# Defaults v1 applied for each of its learners (besides the params its name implies, V1_NAMES).
DEFAULTS: dict[str, dict[str, Any]] = {
    "linear-regression": {"maxIter": 100, "regParam": 0.0, "elasticNetParam": 0.0},
    "generalized-linear-regression": {"maxIter": 25, "family": "gaussian", "link": "identity"},
    "decision-tree-regression": {"maxDepth": 5},
    "random-forest-regression": {"numTrees": 20, "maxDepth": 5},
    "gradient-boosted-tree-regression": {"maxIter": 20, "maxDepth": 5},
    "naive-bayes": {"smoothing": 1.0, "modelType": "multinomial"},
    "k-means": {"k": 2, "maxIter": 20},
    "gaussian-mixture-model": {"k": 2},
}


def is_v1(doc: Any) -> bool:
    """True for a document in the v1 format: it has a v1 field and none of the native-only ones."""
    return (isinstance(doc, dict) and any(k in doc for k in FIELDS if k != "dataset")
            and not any(k in doc for k in _NATIVE_ONLY))


def to_native(doc: dict) -> dict:
    """The native spec dict of a v1 request; raises SpecError naming v1 fields."""
    return to_native_with_notes(doc)[0]


def to_native_with_notes(doc: dict) -> tuple[dict, list[str]]:
    """(native spec dict, notes on what had no native equivalent and was ignored)."""
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    unknown = [k for k in doc if k not in FIELDS + EXTRA_FIELDS]
    problems += [(k, f"not a field of a v1 request (fields: {', '.join(FIELDS)})") for k in unknown]
    owner = _owner(doc, problems)
    task, domain = _task(doc, problems)
    dataset = _dataset(doc, problems)
    candidates = _candidates(doc, task, domain, problems)
    strategy = _strategy(doc, problems)
    instances = _resources(doc, problems, notes)
    if problems:
        raise SpecError(problems)
    native: dict[str, Any] = {"owner": owner, "dataset": dataset, "task": task, "metric": METRICS[domain],
                              "candidates": candidates, "search": {"strategy": strategy},
                              "max_parallel": instances}
    if strategy != "grid":
        native["search"]["max_trials"] = instances
    if "job_id" in doc:
        native = {"job_id": doc["job_id"], **native}
    return native, notes


def in_v1_terms(error: SpecError, doc: dict) -> SpecError:
    """A native validation error of a translated request, its paths named in the v1 request."""
    return SpecError([(v1_path(path, doc), reason) for path, reason in error.problems])


def v1_path(path: str, doc: dict) -> str:
    """The v1 field behind a native field path of the translation of `doc`."""
    head, _, rest = path.partition(".")
    if path.startswith("candidates["):
        index = path[len("candidates["):path.index("]")]
        sub = path[path.index("]") + 1:]
        method = f"methods[{index}]"
        if not sub.startswith(".params."):
            return method + sub.replace(".params", ".hyperparameters")
        key, suffix = _split_key(sub[len(".params."):])
        given = _given_params(doc, int(index))
        if key not in given:
            return f"{method}.algorithm"  # a default the translation applied
        return f"{method}.hyperparameters[{given.index(key)}].values{suffix}"
    if head == "dataset":
        ds = doc.get("dataset") if isinstance(doc.get("dataset"), dict) else {}
        renamed = {"uri": "path", "target": "labelCol" if "labelCol" in ds else "target"}
        return "dataset." + renamed.get(rest, rest) if rest else "dataset"
    if path == "search.max_trials":
        return "computationalResources.maxTotalInstances"
    return {"owner": "emailAddress", "task": "domain", "metric": "domain", "candidates": "methods",
            "search": "parameterSearch", "max_parallel": "computationalResources.maxTotalInstances"}.get(head, path)


# --- the parts ------------------------------------------------------------------------------------

def _owner(doc: dict, problems: list) -> str | None:
    email = doc.get("emailAddress")
    if not isinstance(email, str) or not email.strip():
        problems.append(("emailAddress", "required: the e-mail address of who submits the request"))
        return None
    try:
        return owner_key(email.strip())  # the native spec's owner: the address's owner key
    except IdentityError as exc:
        problems.append(("emailAddress", str(exc)))
        return None


def _task(doc: dict, problems: list) -> tuple[str | None, str | None]:
    domain = doc.get("domain")
    if not isinstance(domain, (str, type(None))):
        problems.append(("domain", f"must be a string, one of {', '.join(DOMAINS)}"))
        return None, None
    if domain in DOMAINS:
        return DOMAINS[domain], domain
    if domain in UNSUPPORTED_DOMAINS:
        problems.append(("domain", f"not supported by Zygarde: {domain} (supported: {', '.join(DOMAINS)})"))
    elif domain is None:
        problems.append(("domain", f"required: one of {', '.join(DOMAINS)}"))
    else:
        problems.append(("domain", f"unknown v1 domain {domain!r} (known: {', '.join(DOMAINS)})"))
    return None, None


def _dataset(doc: dict, problems: list) -> dict | None:
    ds = doc.get("dataset")
    if not isinstance(ds, dict):
        problems.append(("dataset", "required: {\"path\": \"gs://bucket/object\", \"format\": \"libsvm\"}"))
        return None
    problems += [(f"dataset.{k}", "not a field of a v1 dataset (fields: path, format, target, labelCol)")
                 for k in ds if k not in ("path", "format", "target", "labelCol")]
    path, fmt = ds.get("path"), ds.get("format", "libsvm")
    if not isinstance(path, str) or not path.startswith("gs://"):
        problems.append(("dataset.path", f"must be a gs://bucket/object URI (Zygarde reads data from Cloud "
                                         f"Storage), got {path!r}"))
    fmt = fmt.lower() if isinstance(fmt, str) else fmt
    if fmt not in FORMATS:
        problems.append(("dataset.format", f"unsupported format {fmt!r} (supported: {', '.join(FORMATS)})"))
    target = ds.get("target", ds.get("labelCol", "label"))
    if fmt == "libsvm" and target != "label":
        problems.append(("dataset.labelCol" if "labelCol" in ds else "dataset.target",
                         "a libsvm dataset's label column is always 'label'"))
    return {"uri": path, "format": fmt, "target": target}


def _candidates(doc: dict, task: str | None, domain: str | None, problems: list) -> list[dict]:
    methods = doc.get("methods")
    if not isinstance(methods, list) or not methods:
        problems.append(("methods", "required: a non-empty list of {\"algorithm\": NAME, \"hyperparameters\": [...]}"))
        return []
    out = []
    for i, method in enumerate(methods):
        where = f"methods[{i}]"
        if not isinstance(method, dict):
            problems.append((where, "expected {\"algorithm\": NAME, \"hyperparameters\": [...]}"))
            continue
        problems += [(f"{where}.{k}", "not a field of a v1 method (fields: algorithm, hyperparameters)")
                     for k in method if k not in ("algorithm", "hyperparameters")]
        name = method.get("algorithm")
        if not isinstance(name, str) or name not in algorithms.V1_NAMES:
            problems.append((f"{where}.algorithm", f"unknown v1 algorithm {name!r} "
                                                   f"(known: {', '.join(algorithms.V1_NAMES)})"))
            continue
        native, implied = algorithms.V1_NAMES[name]
        if task is not None and (reason := _misfit(name, native, task, domain)):
            problems.append((f"{where}.algorithm", reason))
        given = _hyperparameters(method.get("hyperparameters", []), where, problems)
        defaults = {**DEFAULTS.get(name, {}), **implied}
        if name == "generalized-linear-regression" and ("family" in given or "link" in given):
            defaults.pop("link")
        params = {k: [v] for k, v in defaults.items() if k not in given}
        out.append({"algorithm": native, "params": {**params, **given}})
    return out


def _misfit(name: str, native: str, task: str, domain: str) -> str | None:
    if task not in algorithms.ALGORITHMS[native].tasks:
        fits = [old for old, (new, _) in algorithms.V1_NAMES.items() if task in algorithms.ALGORITHMS[new].tasks]
        hint = ("; two-class data: use domain binomial-classification"
                if domain == "classification" and BINARY in algorithms.ALGORITHMS[native].tasks else "")
        return f"{name} is not a {domain} algorithm (for {domain}: {', '.join(fits)}){hint}"
    if name == "binomial-logistic-regression" and domain == "multinomial-classification":
        return "binomial-logistic-regression needs two classes: use multinomial-logistic-regression"
    return None


def _hyperparameters(items: Any, where: str, problems: list) -> dict[str, list]:
    if not isinstance(items, list):
        problems.append((f"{where}.hyperparameters", "expected a list of {\"param\": NAME, \"values\": [...]}"))
        return {}
    params: dict[str, list] = {}
    for j, item in enumerate(items):
        at = f"{where}.hyperparameters[{j}]"
        if not isinstance(item, dict) or set(item) != {"param", "values"}:
            problems.append((at, "expected {\"param\": NAME, \"values\": [...]}"))
        elif not isinstance(item["param"], str) or not item["param"]:
            problems.append((f"{at}.param", "expected a Spark ML param name"))
        elif item["param"] in params:
            problems.append((f"{at}.param", f"{item['param']} is given twice"))
        elif not isinstance(item["values"], list) or not item["values"]:
            problems.append((f"{at}.values", "expected a non-empty list of values"))
        else:
            params[item["param"]] = list(item["values"])
    return params


def _strategy(doc: dict, problems: list) -> str | None:
    search = doc.get("parameterSearch", "grid")
    if not isinstance(search, str) or search not in SEARCHES:
        problems.append(("parameterSearch", f"unknown v1 search {search!r} (known: {', '.join(SEARCHES)})"))
        return None
    return SEARCHES[search]


def _resources(doc: dict, problems: list, notes: list[str]) -> int | None:
    res = doc.get("computationalResources", {})
    if not isinstance(res, dict):
        problems.append(("computationalResources", "expected an object"))
        return None
    known = ("instances", "minTotalInstances", "maxTotalInstances")
    problems += [(f"computationalResources.{k}", f"not a field of v1 computationalResources "
                                                 f"(fields: {', '.join(known)})") for k in res if k not in known]
    instances = res.get("maxTotalInstances", DEFAULT_INSTANCES)
    if isinstance(instances, bool) or not isinstance(instances, int) or not 1 <= instances <= MAX_INSTANCES:
        problems.append(("computationalResources.maxTotalInstances",
                         f"expected an integer from 1 to {MAX_INSTANCES}, got {instances!r}"))
        instances = None
    groups = res.get("instances") or []
    if not isinstance(groups, list):
        problems.append(("computationalResources.instances", "expected a list"))
        groups = []
    for j, group in enumerate(groups):
        hardware = group.get("additionalHardware") if isinstance(group, dict) else None
        if hardware:
            notes.append(f"computationalResources.instances[{j}].additionalHardware {hardware} ignored: "
                         "trials run on Dataproc Serverless CPUs")
    if res.get("instances"):
        notes.append("computationalResources.instances ignored: Dataproc Serverless sizes each trial batch")
    if "minTotalInstances" in res:
        notes.append("computationalResources.minTotalInstances ignored: trials start as capacity allows")
    return instances


def _given_params(doc: dict, index: int) -> list[str]:
    try:
        items = doc["methods"][index].get("hyperparameters") or []
        return [item.get("param") if isinstance(item, dict) else None for item in items]
    except (KeyError, IndexError, TypeError, AttributeError):
        return []


def _split_key(text: str) -> tuple[str, str]:
    """"regParam[1]" -> ("regParam", "[1]"); "k.low" -> ("k", ".low")."""
    cut = min((i for i in (text.find("["), text.find(".")) if i >= 0), default=len(text))
    return text[:cut], text[cut:]
