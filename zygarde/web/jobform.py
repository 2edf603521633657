"""The job form: form fields -> a job spec document, validated by the same parse_job_spec as every
other way in, and the spec's problems put back next to the form fields they concern."""
from __future__ import annotations

import json
import re
import secrets
import shlex

from zygarde.config import topic
from zygarde.domain import algorithms, default_space
from zygarde.domain.errors import SpecError
from zygarde.domain.spec import JobSpec, parse_job_spec
from zygarde.service_layer.catalog import format_of

FORM_ERROR = "_form"
AUTO = "auto"  # the strategy choice that leaves learners and search to the platform's default
_SIMPLE = {"dataset.uri": "dataset", "dataset.format": "dataset", "dataset.target": "target", "task": "task",
           "metric": "metric", "name": "name", "owner": FORM_ERROR, "candidates": "algorithms",
           "search.strategy": "strategy", "search.max_trials": "max_trials", "search.pruning": "pruning",
           "budget.deadline_minutes": "deadline_minutes", "budget.max_core_hours": "max_core_hours",
           "budget.max_cost_usd": "max_cost_usd",
           "max_parallel": "max_parallel", "seed": "seed", "data.test_fraction": "test_fraction",
           "data.exclude_columns": "exclude_columns", "data.row_filter": "row_filter"}


def algorithm_catalog() -> list[dict]:
    """Each learner with its tasks, its hyperparameters' ranges and its default search space."""
    defaults: dict[str, dict] = {}
    for task in default_space.TASKS:
        for cand in default_space.default_candidates(task):
            defaults.setdefault(cand["algorithm"], cand["params"])
    out = []
    for name, algo in sorted(algorithms.ALGORITHMS.items()):
        params = []
        for p in algo.params.values():
            if p.choices:
                allowed = " | ".join(map(str, p.choices))
            elif p.type == "bool":
                allowed = "true | false"
            else:
                low = "" if p.low is None else f"{p.low:g}"
                high = "" if p.high is None else f"{p.high:g}"
                allowed = f"{low}..{high}" if (low or high) else "any"
            params.append({"name": p.name, "type": p.type, "allowed": allowed})
        out.append({"name": name, "summary": algo.summary, "tasks": sorted(algo.tasks), "params": params,
                    "default": json.dumps(defaults.get(name, {}))})
    return out


def new_job_id(name_hint: str = "") -> str:
    slug = re.sub(r"[^a-z0-9-]", "-", name_hint.lower()).strip("-")[:24] or "job"
    if not slug[0].isalpha():
        slug = "j" + slug
    return f"{slug}-{secrets.token_hex(4)}"[:40]


def _number(form, field: str, kind, problems: dict, low=None) -> int | float | None:
    raw = (form.get(field) or "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        problems[field] = "enter a whole number" if kind is int else "enter a number"
        return None
    return value


def build_spec(form, owner: str, job_id: str) -> tuple[dict, dict[str, str]]:
    """The spec document the form describes, and the problems found reading the form itself."""
    problems: dict[str, str] = {}
    uri = (form.get("dataset") or "").strip()
    if not uri:
        problems["dataset"] = "pick a dataset"
    doc: dict = {"job_id": job_id, "owner": owner, "task": form.get("task") or None,
                 "dataset": {"uri": uri, "format": format_of(uri) or "csv", "target": (form.get("target") or "").strip()}}
    if not doc["dataset"]["target"]:
        problems["target"] = "pick the target column"
    if form.get("metric"):
        doc["metric"] = form["metric"]
    if (form.get("name") or "").strip():
        doc["name"] = form["name"].strip()
    auto = form.get("strategy") == AUTO
    candidates = []
    for algo in ([] if auto else form.getlist("algorithms")):
        raw = (form.get(f"params_{algo}") or "").strip() or "{}"
        try:
            params = json.loads(raw)
            if not isinstance(params, dict):
                raise ValueError
        except ValueError:
            problems[f"params_{algo}"] = 'write the values to try as a JSON object, e.g. {"maxDepth": [3, 5]}'
            continue
        candidates.append({"algorithm": algo, "params": params})
    if not auto and not form.getlist("algorithms"):
        problems["algorithms"] = "pick at least one algorithm, or the auto search"
    doc["candidates"] = candidates or None
    if not auto:  # auto: no candidates and no search, so the platform fills in its default (default_space)
        search: dict = {"strategy": form.get("strategy") or "grid"}
        if (max_trials := _number(form, "max_trials", int, problems)) is not None:
            search["max_trials"] = max_trials
        if form.get("pruning"):  # successive halving with its defaults (1/9 of the rows first, a third go on)
            search["pruning"] = {"strategy": "successive_halving"}
        doc["search"] = search
    budget = {k: v for k in ("deadline_minutes", "max_core_hours", "max_cost_usd")
              if (v := _number(form, k, float, problems)) is not None}
    if budget:
        doc["budget"] = budget
    for key in ("max_parallel", "seed"):
        if (value := _number(form, key, int, problems)) is not None:
            doc[key] = value
    data: dict = {}
    if (fraction := _number(form, "test_fraction", float, problems)) is not None:
        data["test_fraction"] = fraction
    excluded = [c for c in form.getlist("exclude_columns") if c]
    if excluded:
        data["exclude_columns"] = excluded
    if (row_filter := (form.get("row_filter") or "").strip()):
        data["row_filter"] = row_filter
    if data:
        doc["data"] = data
    if doc["candidates"] is None:
        doc.pop("candidates")
    return doc, problems


def field_of(path: str, doc: dict) -> str:
    """The form field a spec problem's path concerns."""
    if path in _SIMPLE:
        return _SIMPLE[path]
    m = re.match(r"^candidates\[(\d+)\](\.params.*)?", path)
    if m:
        cands = doc.get("candidates") or []
        i = int(m.group(1))
        if m.group(2) and i < len(cands):
            return f"params_{cands[i]['algorithm']}"
        return "algorithms"
    head = path.split(".")[0].split("[")[0]
    return _SIMPLE.get(path.rsplit(".", 1)[0], head if head in _SIMPLE.values() else FORM_ERROR)


def validate(doc: dict, problems: dict[str, str]) -> tuple[JobSpec | None, dict[str, str]]:
    """Validated by parse_job_spec; problems keyed by form field (several joined)."""
    if problems:
        return None, problems
    try:
        return parse_job_spec(doc), {}
    except SpecError as exc:
        out: dict[str, str] = {}
        for path, reason in exc.problems:
            field = field_of(path, doc)
            text = reason if field != FORM_ERROR or not path else f"{path}: {reason}"
            out[field] = f"{out[field]}; {text}" if field in out else text
        return None, out


def publish_command(spec_json: str) -> str:
    """The equivalent gcloud command, signed with the user's identity token (locally, after
    `eval "$(zygarde local env --user ...)"`, the token is $ZYGARDE_IDENTITY_TOKEN)."""
    return (f"gcloud pubsub topics publish {topic('jobs')} --message={shlex.quote(spec_json)} "
            "--attribute=token=$(gcloud auth print-identity-token)")
