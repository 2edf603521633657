"""The job spec: what a user submits. Validated with pydantic; every error names its field."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from zygarde.domain import algorithms, default_space, raw_doc, row_filter_text, search_space, v1_request
from zygarde.domain.identity import MAX_OWNER_KEY_LENGTH, OWNER_KEY_PATTERN, key_problem
from zygarde.domain.search_space import Choices, Hyperparameter, Range
from zygarde.domain.errors import SpecError
from zygarde.domain.registry import MODEL_NAME_PATTERN  # every job id is a model name too
from zygarde.domain.row_filter import RowFilterError, check as check_row_filter

JOB_ID_PATTERN = r"^[a-z][a-z0-9-]{2,39}$"
# The owner is an owner key (domain/identity.py): the verified e-mail, injectively encoded as one safe
# path segment; it names the dataset folder gs://BUCKET/datasets/{owner}/.
OWNER_PATTERN = OWNER_KEY_PATTERN
# A bucket name starts and ends with a letter or digit and never holds two dots in a row (Cloud Storage's
# naming rules, checked in full by bucket_problem); the JSON Schema carries this much of them, not the
# length rules, IP addresses or "google".
GS_URI_PATTERN = r"^gs://[a-z0-9](?:\.?[a-z0-9_-]){0,220}\.?[a-z0-9]/.+"
CSV_CHAR_OPTIONS = ("sep", "delimiter", "quote", "escape", "comment")
ParamValue = bool | int | float | str


def bucket_problem(name: str) -> str | None:
    """Why `name` cannot be a Cloud Storage bucket name (as its naming rules say), or None."""
    if not re.fullmatch(r"[a-z0-9._-]+", name):
        return "may hold only lower-case letters, digits, '-', '_' and '.'"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must start and end with a letter or digit"
    if len(name) > (222 if "." in name else 63) or any(len(part) > 63 for part in name.split(".")):
        return "may have at most 63 characters (222 with dots, at most 63 between two dots)"
    if ".." in name:
        return "cannot hold two dots in a row"
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", name):
        return "cannot be an IP address"
    if name.startswith("goog") or "google" in name:
        return "cannot start with 'goog' or hold 'google'"
    return None


def _integral(v: Any) -> Any:
    """3.0 is the integer 3 (as JSON Schema's "integer" says); "3", true and 3.5 are not."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


Integer = Annotated[int, BeforeValidator(_integral)]


class _Strict(BaseModel):
    # strict: "5", "0.2" and true are not numbers, as in the published JSON Schema
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DatasetSpec(_Strict):
    """Where the data is and how to read it."""

    uri: str = Field(description="gs://bucket/path of the dataset: one object, a folder of part files (as Spark "
                               "writes them, hive partitions included) or a glob such as gs://b/d/*.csv; "
                               "in Zygarde's bucket, under datasets/{owner}/",
                     json_schema_extra={"pattern": GS_URI_PATTERN})
    format: Literal["csv", "parquet", "json", "libsvm"] = Field(description="json means JSON lines")
    target: str = Field("label", min_length=1, max_length=1024, description="the label column (libsvm: always 'label')")
    options: dict[str, ParamValue] = Field(default_factory=dict,
                                           description="Spark reader options, e.g. {\"sep\": \";\"} for CSV")

    @field_validator("uri")
    @classmethod
    def _gs_uri(cls, v: str) -> str:
        bucket = v.removeprefix("gs://").partition("/")[0] if v.startswith("gs://") else ""
        if bucket and "/" in v[5:] and (problem := bucket_problem(bucket)) is not None:
            raise ValueError(f"must be a gs://bucket/object URI, and the bucket name {raw_doc.shorten(bucket, 80)!r} "
                             f"{problem}")
        if not re.match(GS_URI_PATTERN, v):
            raise ValueError("must be a gs://bucket/object URI")
        return v

    @model_validator(mode="after")
    def _libsvm_label(self) -> "DatasetSpec":
        if self.format == "libsvm" and self.target != "label":
            raise ValueError("a libsvm dataset's target is always 'label'")
        if self.format == "csv":
            bad = [k for k in CSV_CHAR_OPTIONS if k in self.options
                   and not (isinstance(self.options[k], str) and len(self.options[k]) == 1)]
            if bad:
                raise SpecError([(f"dataset.options.{k}", f"must be a 1-character string, got "
                                  f"{raw_doc.shorten(repr(self.options[k]), 40)}") for k in bad])
        return self


class CandidateSpec(_Strict):
    """One algorithm and the values (or distributions) to try for each of its hyperparameters."""

    algorithm: str = Field(description="a learner name, e.g. logistic_regression")
    params: dict[str, Hyperparameter] = Field(
        default_factory=dict,
        description="Spark ML param name -> a list of values to try, or (random and bayesian search) a "
                    "distribution {\"type\": \"int\"|\"float\", \"low\", \"high\", \"log\"} or "
                    "{\"type\": \"categorical\", \"choices\": [...]}")

    @field_validator("params")
    @classmethod
    def _non_empty(cls, v: dict[str, Any]) -> dict[str, Any]:
        empty = [k for k, values in v.items() if isinstance(values, list) and not values]
        if empty:
            raise ValueError(f"no values to try for {', '.join(empty)}")
        return v


class PruningSpec(_Strict):
    """Successive halving over the fraction of the train part a trial fits on (ASHA style): every trial
    starts on min_fraction of the rows; the top 1/reduction_factor of the trials scored at a fraction
    go on at reduction_factor times the rows, up to the whole part; the others end PRUNED."""

    strategy: Literal["successive_halving"] = "successive_halving"
    min_fraction: float = Field(1 / 9, gt=0, lt=1, description="the fraction of the train rows of the first rung")
    reduction_factor: Integer = Field(3, ge=2, le=10, description="1 in this many trials is promoted at each rung, "
                                                                  "on this many times the rows")
    bracket_trials: Integer | None = Field(
        None, ge=2, le=search_space.MAX_FINITE_POINTS,
        description="trials per halving bracket: trials are pruned against the others of their bracket (trial "
                    "index // bracket_trials), so a long search runs bracket after bracket; default: one bracket "
                    "of all the trials")

    @model_validator(mode="after")
    def _rungs(self) -> "PruningSpec":
        rungs = len(search_space.rung_fractions(self.min_fraction, self.reduction_factor))
        if rungs > MAX_RUNGS:
            raise ValueError(f"min_fraction {self.min_fraction:g} with reduction_factor {self.reduction_factor} "
                             f"makes {rungs} rungs, more than {MAX_RUNGS}: raise min_fraction")
        return self


MAX_RUNGS = 8


class SearchSpec(_Strict):
    """How candidates become trials: every combination (grid), seeded random draws, or Bayesian
    optimisation (Optuna's TPE, a new trial asked whenever a slot frees)."""

    strategy: Literal["grid", "random", "bayesian"] = "grid"
    max_trials: Annotated[int, Field(ge=1, le=search_space.MAX_FINITE_POINTS), BeforeValidator(_integral)] | None = Field(
        None, description="trials to run (required for random and bayesian; "
                                               "for grid, a cap on the combinations run in order)")
    n_startup_trials: Integer = Field(10, ge=0, le=search_space.MAX_FINITE_POINTS,
                                  description="bayesian: starting trials before TPE takes over (the starting "
                                      "portfolio's points in the space, then seeded random ones)")
    pruning: PruningSpec | None = Field(
        None, description="stop poor trials early: successive halving over the fraction of the train rows "
                          "(default for a job naming only dataset, target and task)")

    @model_validator(mode="after")
    def _budget(self) -> "SearchSpec":
        if self.strategy != "grid" and self.max_trials is None:
            raise ValueError(f"{self.strategy} search needs max_trials (1 to {search_space.MAX_FINITE_POINTS})")
        return self


class DataSpec(_Strict):
    """How the job's data is prepared once, before any trial."""

    test_fraction: float = Field(0.15, ge=0.05, le=0.4, description="held out, scored once on the winner")
    include_columns: list[str] | None = Field(None, description="keep only these columns (and the target)")
    exclude_columns: list[str] = Field(default_factory=list, description="drop these columns")
    row_filter: str | dict[str, Any] | None = Field(
        None, description="the condition rows must meet, on the dataset's own columns: text such as "
                          "\"age >= 18 and country in ('FR', 'DE')\" or its tree {\"op\": \">=\", \"args\": "
                          "[{\"col\": \"age\"}, {\"lit\": 18}]} (see docs/row_filters.md); stored as the tree")
    expectations: dict[str, dict[str, ParamValue | list[ParamValue]]] = Field(
        default_factory=dict, description="column -> {type, min, max, allowed}: checked by the preparation")
    min_rows: Integer = Field(20, ge=2, le=10**12, description="fewer rows than this fail the job")
    k_folds: Integer = Field(0, description="k-fold cross-validation on the train part (0: off; 2-10)")
    group_by: list[str] = Field(default_factory=list, max_length=10, description="columns whose rows form a "
                                "group: every group stays in one part and one k-fold fold (default: rows are "
                                "split one by one)")
    ordinal_columns: list[str] = Field(
        default_factory=list, max_length=200,
        description="string columns whose values are ordered and sort in that order (grades A-F, \"1-low\" .. "
                    "\"3-high\"): XGBoost splits them as numbers, by their values' lexical order; its other "
                    "string columns are native categoricals, split by set membership (default: none)")

    @field_validator("row_filter", mode="before")
    @classmethod
    def _row_filter_tree(cls, v: Any) -> dict | None:
        if v is None:
            return None
        if not isinstance(v, (str, dict)):
            raise ValueError("must be a condition as text or as a filter tree (an object)")
        try:
            return row_filter_text.parse(v) if isinstance(v, str) else check_row_filter(v)
        except RowFilterError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("group_by", "ordinal_columns")
    @classmethod
    def _group_columns(cls, v: list[str]) -> list[str]:
        return check_group_by(v)

    @field_validator("k_folds")
    @classmethod
    def _k_folds(cls, v: int) -> int:
        if v != 0 and not 2 <= v <= 10:
            raise ValueError("must be 0 (off) or between 2 and 10")
        return v


def check_group_by(names: list[str]) -> list[str]:
    """Column names (data.group_by, data.ordinal_columns): non-empty, each named once."""
    if any(not n for n in names):
        raise ValueError("column names cannot be empty")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"names {', '.join(repeated)} more than once")
    return names


class BudgetSpec(_Strict):
    """Limits after which a job stops searching and ends BUDGET_EXHAUSTED; its best trial so far is still
    finalised and registered. The search stops a reserve before the deadline (search_seconds) so that
    the model is registered by then."""

    deadline_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60, description="wall-clock limit from submission")
    max_core_hours: float | None = Field(None, gt=0, description="cost limit: trial batch hours x cores_per_trial")
    cores_per_trial: Integer = Field(12, ge=1, le=2000, description="cores a trial batch uses (Dataproc default: 12)")
    max_cost_usd: float | None = Field(
        None, gt=0, le=1_000_000, allow_inf_nan=False,
        description="dollar limit: the plan's predicted bill stays within it, and the job launches no more "
                    "trials once its batches have cost this much")

    def search_seconds(self, finalize_seconds: float) -> float | None:
        """Seconds from submission after which the search stops: the deadline less the time kept to
        finalise and register the model (finalize_seconds, or FINALIZE_RESERVE of the deadline when
        that is more; at most half the deadline); None without a deadline."""
        if self.deadline_minutes is None:
            return None
        deadline = self.deadline_minutes * 60
        return deadline - min(max(FINALIZE_RESERVE * deadline, finalize_seconds), deadline / 2)


FINALIZE_RESERVE = 0.05  # of the deadline, kept after the search to finalise and register the best model


class JobSpec(_Strict):
    """A training job: data, task, candidates, search and limits."""

    job_id: str | None = Field(None, pattern=JOB_ID_PATTERN,
                               description="optional id; lowercase letters, digits and '-', 3-40 chars")
    owner: str = Field(min_length=1, max_length=MAX_OWNER_KEY_LENGTH, json_schema_extra={"pattern": OWNER_PATTERN},
                       description="who submits: the owner key of their e-mail (lowercased; a character outside "
                                   "a-z 0-9 . _ @ + -, and a first one that is not a letter or digit, written ~HH "
                                   "per UTF-8 byte), as their identity token names them; datasets live under "
                                   "datasets/{owner}/")
    name: str | None = Field(None, pattern=MODEL_NAME_PATTERN,
                             description="model name for the registry (default: the job id)")
    dataset: DatasetSpec
    task: Literal["binary_classification", "multiclass_classification", "regression", "clustering"] = Field(
        description="clustering needs no target")
    metric: str | None = Field(None, description="metric to optimise (default per task)")
    candidates: list[CandidateSpec] = Field(
        default_factory=list, min_length=1,
        description="learners to try; when left out, the task's default space (and, with no search, "
                    f"random search of {default_space.DEFAULT_MAX_TRIALS} trials with successive halving) is filled in")
    search: SearchSpec = Field(default_factory=SearchSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    max_parallel: Integer = Field(2, ge=1, le=64, description="batches of this job running at once (each trains one trial, "
                                                                         "or a pack of them)")
    max_attempts: Integer = Field(2, ge=1, le=5, description="launches per trial when a batch dies")
    seed: Integer = Field(42, ge=0, le=2**31 - 1)
    validation_fraction: float = Field(0.2, ge=0.05, le=0.5)
    packing: Literal["auto", "off"] = Field(
        "auto", description="auto: several trials share one batch (one Spark session, data read once); "
                            "off: one batch per trial")
    keep_trial_models: bool = Field(
        False, description="save every trial's fitted model (packed trials keep none by default: the "
                            "winner is fitted again at finalisation)")
    final_fit: Literal["train", "train_and_validation"] = Field(
        "train", description="what the winner is fitted on before it is scored once on test")
    ensemble: bool = Field(
        True, description="at finalisation, register the greedy weighted ensemble of the best trials (up to 20) "
                          "instead of the single winner when it scores better on validation")

    @field_validator("name", mode="before")
    @classmethod
    def _model_name(cls, v: Any) -> Any:
        if isinstance(v, str) and not re.fullmatch(MODEL_NAME_PATTERN.strip("^$"), v):
            raise ValueError("a model name is 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter")
        return v

    @field_validator("job_id", mode="before")
    @classmethod
    def _job_id(cls, v: Any) -> Any:
        if isinstance(v, str) and not re.fullmatch(JOB_ID_PATTERN.strip("^$"), v):
            raise ValueError("a job id is 3 to 40 lower-case letters, digits or '-', starting with a letter")
        return v

    @field_validator("owner")
    @classmethod
    def _owner_segment(cls, v: str) -> str:
        if (problem := key_problem(v)) is not None:
            raise ValueError(problem)
        return v

    @model_validator(mode="before")
    @classmethod
    def _default_space(cls, data: Any) -> Any:
        return default_space.fill_defaults(data)

    @model_validator(mode="after")
    def _check_against_catalog(self) -> "JobSpec":
        problems: list[tuple[str, str]] = []
        if self.metric is not None and self.metric not in algorithms.METRICS[self.task]:
            problems.append(("metric", f"{self.metric!r} is not a {self.task} metric "
                                       f"(one of: {', '.join(algorithms.METRICS[self.task])})"))
        for i, cand in enumerate(self.candidates):
            algo = algorithms.get(cand.algorithm)
            if algo is None:
                problems.append((f"candidates[{i}].algorithm", f"unknown algorithm {cand.algorithm!r} "
                                 f"(for {self.task}: {', '.join(algorithms.for_task(self.task))})"))
                continue
            if self.task not in algo.tasks:
                problems.append((f"candidates[{i}].algorithm", f"{cand.algorithm} cannot do {self.task} "
                                 f"(for {self.task}: {', '.join(algorithms.for_task(self.task))})"))
            for key, hp in cand.params.items():
                where = f"candidates[{i}].params.{key}"
                if self.search.strategy == "grid" and isinstance(hp, (Range, Choices)):
                    problems.append((where, "grid search needs a list of values; distributions are for "
                                            "search.strategy random or bayesian"))
                    continue
                problems.extend((where + suffix, reason) for suffix, reason in search_space.problems(algo, key, hp))
        if not problems and self.search.strategy == "grid" and self.search.max_trials is None:
            count = search_space.space_size(self.candidates)
            if count > search_space.MAX_FINITE_POINTS:
                problems.append(("search.max_trials", f"the grid has {count:.0f} combinations, more than "
                                 f"{search_space.MAX_FINITE_POINTS}: set max_trials or use random search"))
        if problems:
            raise SpecError(problems)
        return self

    @model_validator(mode="after")
    def _group_by_is_not_the_target(self) -> "JobSpec":
        if self.task != "clustering" and self.dataset.target in self.data.group_by:
            raise SpecError([("data.group_by", f"cannot include the target column {self.dataset.target!r}")])
        if self.task != "clustering" and self.dataset.target in self.data.ordinal_columns:
            raise SpecError([("data.ordinal_columns",
                              f"cannot include the target column {self.dataset.target!r}")])
        return self

    @property
    def objective(self) -> str:
        return self.metric or algorithms.DEFAULT_METRIC[self.task]

    @property
    def direction(self) -> str:
        return algorithms.METRICS[self.task][self.objective]


def parse_job_spec(raw: bytes | str | dict) -> JobSpec:
    """A JobSpec from JSON text or a dict, native or in the v1 request format (translated first);
    raises SpecError naming each bad field (of the v1 request, for a v1 one)."""
    if isinstance(raw, (bytes, str)):
        try:
            raw = raw_doc.load(raw)
        except raw_doc.RawDocError as exc:
            raise SpecError([(exc.path, exc.reason)]) from None
    if not isinstance(raw, dict):
        raise SpecError([("", "the job must be a JSON object")])
    if problems := raw_doc.problems(raw):
        raise SpecError(problems)
    if v1_request.is_v1(raw):
        native = v1_request.to_native(raw)
        try:
            return _validate(native)
        except SpecError as exc:
            raise v1_request.in_v1_terms(exc, raw) from None
    return _validate(raw)


def _validate(raw: dict) -> JobSpec:
    try:
        return JobSpec.model_validate(raw)
    except SpecError:
        raise
    except ValidationError as exc:
        problems: list[tuple[str, str]] = []
        unions: dict[str, list[tuple]] = {}  # a value that fits no member of a union: one problem, not one per member
        for err in exc.errors():
            ctx_error = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_error, SpecError):
                problems.extend(ctx_error.problems)
                continue
            loc = list(err["loc"])
            tag = next((i for i, p in enumerate(loc) if isinstance(p, str) and _UNION_TAG.match(p)), None)
            path = _path(loc if tag is None else loc[:tag])
            if tag is not None and err["type"] in _TYPE_WORDS:
                if path not in unions:
                    unions[path] = []
                    problems.append((path, ""))  # filled in below, in the order found
                listed = any(str(p).startswith("list[") for p in loc[tag:])
                unions[path].append((_TYPE_WORDS[err["type"]], listed))
                continue
            problems.append((path, err["msg"].removeprefix("Value error, ")))
        for i, (path, reason) in enumerate(problems):
            if path in unions and not reason:
                problems[i] = (path, "must be " + _union_kinds(unions[path]))
        raise SpecError(problems) from None


def _union_kinds(errs: list[tuple[tuple[str, str] | None, bool]]) -> str:
    """What a value that fits no member of a union may be: "a boolean, a number or a string, or a list of them"."""
    plain = list(dict.fromkeys(k for k, listed in errs if k and not listed))
    inner = list(dict.fromkeys(k for k, listed in errs if k and listed))
    words = [one for one, _ in plain]
    if any(listed for _, listed in errs) and (not inner or inner == plain):
        return _or(words) + ", or a list of them"
    if inner:
        words.append("a list of " + _or([many for _, many in inner]))
    return _or(words)


def _or(words: list[str]) -> str:
    if not words:
        return "a value of another type"
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


# pydantic's names of union members in an error's location (the spec's unions: scalars, lists of them, distributions)
_UNION_TAG = re.compile(r"^(bool|int|float|str|Range|Choices|(list|dict|union|function-[a-z]+)\[.*\])$")
_TYPE_WORDS = {"bool_type": ("a boolean", "booleans"), "int_type": ("an integer", "integers"),
               "float_type": ("a number", "numbers"), "string_type": ("a string", "strings"),
               "dict_type": ("an object", "objects"), "model_type": ("a distribution object", "distribution objects"),
               "list_type": None}  # a list member's "not a list": said by "or a list of them"


def _path(loc: list) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")


def json_schema() -> dict:
    """The published JSON Schema of the job spec (schemas/job_spec.schema.json)."""
    schema = JobSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Zygarde job spec"
    return schema
