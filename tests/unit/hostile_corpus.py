"""A corpus of hostile submissions, generated from tables: (case id, job bytes, objects to upload
first, words the rejection reason must contain). Used by the handler-level test and, a sample of
each kind, by the local cloud test."""
from __future__ import annotations

import copy
import gzip
import io
import json
import dataclasses
from dataclasses import dataclass

from tests.unit.conftest import OWNER, spec_dict

BUCKET = "bkt"
HOME = f"gs://{BUCKET}/datasets/{OWNER}"  # the owner's dataset folder


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    raw: bytes
    expect: tuple[str, ...]  # each must appear in the reason
    objects: dict[str, bytes] = dataclasses.field(default_factory=dict)  # uploaded before submitting
    field: str | None = None  # the field the reason starts with ("name: ..."); None: about the whole document
    models: dict[str, str] = dataclasses.field(default_factory=dict)  # model -> its owner, registered first

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.name}"


def base_spec() -> dict:
    spec = spec_dict()
    del spec["job_id"]  # ids come from the message, so cases never collide
    return spec


def base_v1() -> dict:
    return {"domain": "binomial-classification",
            "dataset": {"path": f"{HOME}/d.svm", "format": "libsvm"},
            "methods": [{"algorithm": "binomial-logistic-regression",
                         "hyperparameters": [{"param": "regParam", "values": [0.0, 0.1]}]}],
            "parameterSearch": "grid", "emailAddress": OWNER}


def with_value(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[path[-1]] = value
    return doc


def dumps(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=True).encode()


def dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


# --- malformed JSON -------------------------------------------------------------------------------
MALFORMED = [
    ("empty", b"", "not valid JSON"), ("brace", b"{", "not valid JSON"), ("oops", b"{oops", "not valid JSON"),
    ("missing-value", b'{"owner":}', "not valid JSON"), ("trailing", b'{"owner": "a"} x', "not valid JSON"),
    ("array", b"[]", "must be a JSON object"), ("null", b"null", "must be a JSON object"),
    ("number", b"42", "must be a JSON object"), ("string", b'"job"', "must be a JSON object"),
    ("nan", b'{"owner": NaN}', "NaN is not a JSON number"), ("infinity", b'{"seed": Infinity}', "not a JSON number"),
    ("open-braces", b"{" * 10_000, "nests"), ("open-brackets", b"[" * 100_000, "nests"),
    ("deep-valid", (b'{"a":' * 40) + b"1" + b"}" * 40, "nests"),
    ("deep-list-field", dumps(with_value(base_spec(), ("data", "exclude_columns"), json.loads("[" * 40 + "]" * 40))),
     "nests"),
    ("latin1", '{"owner": "José"}'.encode("latin-1"), "not UTF-8 text"),
    ("utf16", json.dumps(base_spec()).encode("utf-16"), "not UTF-8 text"),
    ("binary", bytes(range(256)), "not UTF-8 text"),
    ("nul", b"\x00" * 64, "not valid JSON"),
    ("huge", b'{"owner": "' + b"a" * 300_000 + b'"}', "KiB limit"),
    ("huge-digits", b'{"seed": ' + b"9" * 5000 + b"}", "64 bits"),
    ("lone-surrogate", b'{"owner": "\\ud800"}', "owner"),
]

# --- wrong types for every field ------------------------------------------------------------------
STRING_FIELDS = [("job_id",), ("owner",), ("name",), ("dataset", "uri"), ("dataset", "format"), ("dataset", "target"),
                 ("task",), ("metric",), ("candidates", 0, "algorithm"), ("search", "strategy")]
NUMBER_FIELDS = [("search", "max_trials"), ("search", "n_startup_trials"), ("budget", "deadline_minutes"),
                 ("budget", "max_core_hours"), ("budget", "cores_per_trial"), ("data", "test_fraction"),
                 ("data", "min_rows"), ("data", "k_folds"), ("max_parallel",), ("max_attempts",), ("seed",),
                 ("validation_fraction",)]
OBJECT_FIELDS = [("dataset",), ("dataset", "options"), ("candidates", 0), ("candidates", 0, "params"), ("search",),
                 ("budget",), ("data",), ("data", "expectations")]
LIST_FIELDS = [("candidates",), ("data", "include_columns"), ("data", "exclude_columns"),
               ("candidates", 0, "params", "regParam")]
WRONG = {"list": ["a"], "object": {"a": 1}, "number": 5, "bool": True, "string": "5", "float-string": "0.2"}


def wrong_type_cases() -> list[tuple[str, bytes, str]]:
    out = []
    for path in STRING_FIELDS:
        for label in ("list", "object", "number", "bool"):
            out.append((f"{dotted(path)}-{label}", dumps(with_value(base_spec(), path, WRONG[label])), dotted(path)))
    for path in NUMBER_FIELDS:
        for label in ("string", "float-string", "bool", "list"):
            out.append((f"{dotted(path)}-{label}", dumps(with_value(base_spec(), path, WRONG[label])), dotted(path)))
    for path in OBJECT_FIELDS:
        for label in ("list", "string", "number"):
            out.append((f"{dotted(path)}-{label}", dumps(with_value(base_spec(), path, WRONG[label])), dotted(path)))
    for path in LIST_FIELDS:
        for label in ("string", "number"):
            out.append((f"{dotted(path)}-{label}", dumps(with_value(base_spec(), path, WRONG[label])), dotted(path)))
    for key in ("sep", "delimiter", "quote", "escape"):
        for label, value in (("list", [","]), ("long", ";;"), ("empty", ""), ("number", 1)):
            doc = with_value(base_spec(), ("dataset", "options", key), value)
            out.append((f"options.{key}-{label}", dumps(doc), f"dataset.options.{key}"))
    v1_fields = [("domain",), ("dataset",), ("dataset", "path"), ("dataset", "format"), ("methods",),
                 ("methods", 0), ("methods", 0, "algorithm"), ("methods", 0, "hyperparameters"),
                 ("parameterSearch",), ("computationalResources",), ("computationalResources", "maxTotalInstances"),
                 ("computationalResources", "instances"), ("emailAddress",)]
    for path in v1_fields:
        for label, value in (("list", ["x"]), ("object", {"x": 1}), ("number", 7)):
            if path == ("computationalResources", "instances") and label == "list":
                continue  # a list is its type
            if path == ("methods",) and label == "list":
                value = [["x"]]
            if path == ("computationalResources", "maxTotalInstances") and label == "number":
                value = "7"
            out.append((f"v1.{dotted(path)}-{label}", dumps(with_value(base_v1(), path, value)), dotted(path)))
    return out


# --- huge and unicode strings ---------------------------------------------------------------------
LONG = "x" * 10_000
STRINGS = [
    ("owner-10k", ("owner",), LONG, "owner"), ("target-10k", ("dataset", "target"), LONG, "dataset.target"),
    ("algorithm-10k", ("candidates", 0, "algorithm"), LONG, "candidates[0].algorithm"),
    ("metric-10k", ("metric",), LONG, "metric"), ("uri-10k", ("dataset", "uri"), f"{HOME}/{LONG}", "dataset.uri"),
    ("owner-slash", ("owner",), "ana/../bob", "owner"), ("owner-dotdot", ("owner",), "..", "owner"),
    ("owner-space", ("owner",), " ana", "owner"), ("owner-newline", ("owner",), "ana\n", "owner"),
    ("owner-rtl", ("owner",), "ana\u202egpj", "owner"), ("owner-emoji", ("owner",), "ana🙂", "owner"),
    ("owner-empty", ("owner",), "", "owner"), ("job-id-unicode", ("job_id",), "jöb-1", "job_id"),
    ("name-unicode", ("name",), "modèle", "name"), ("target-surrogate", ("dataset", "target"), "\udcff", "dataset.target"),
    ("format-unicode", ("dataset", "format"), "сsv", "dataset.format"),
    ("task-zero-width", ("task",), "regression\u200b", "task"),
]

# --- out-of-range and non-finite numbers ----------------------------------------------------------
NUMBERS = [
    ("seed-negative", ("seed",), -1, "seed"), ("seed-2^31", ("seed",), 2 ** 31, "seed"),
    ("seed-2^64", ("seed",), 2 ** 64, "seed"), ("seed-2^100", ("seed",), 2 ** 100, "seed"),
    ("max-parallel-0", ("max_parallel",), 0, "max_parallel"), ("max-parallel-65", ("max_parallel",), 65, "max_parallel"),
    ("max-attempts-0", ("max_attempts",), 0, "max_attempts"),
    ("test-fraction-1e400", ("data", "test_fraction"), "1e400", "data.test_fraction"),
    ("validation-fraction-tiny", ("validation_fraction",), "1e-400", "validation_fraction"),
    ("min-rows-huge", ("data", "min_rows"), 2 ** 70, "data.min_rows"),
    ("k-folds-11", ("data", "k_folds"), 11, "data.k_folds"),
    ("cores-huge", ("budget", "cores_per_trial"), 10 ** 20, "budget.cores_per_trial"),
    ("deadline-zero", ("budget", "deadline_minutes"), 0, "budget.deadline_minutes"),
    ("deadline-inf", ("budget", "deadline_minutes"), "1e999", "budget.deadline_minutes"),
    ("max-trials-huge", ("search", "max_trials"), 10 ** 6, "search.max_trials"),
    ("reg-param-inf", ("candidates", 0, "params", "regParam"), ["1e400"], "candidates[0].params.regParam"),
    ("reg-param-neg-inf", ("candidates", 0, "params", "regParam"), ["-1e400"], "candidates[0].params.regParam"),
    ("reg-param-2^70", ("candidates", 0, "params", "regParam"), [2 ** 70], "candidates[0].params.regParam"),
    ("option-2^70", ("dataset", "options", "samplingRatio"), 2 ** 70, "dataset.options.samplingRatio"),
    ("expectation-2^70", ("data", "expectations"), {"f1": {"max": 2 ** 70}}, "data.expectations.f1.max"),
]


def number_doc(path: tuple, value) -> bytes:
    """A spec with `value` at `path`; a string value is written into the JSON as a raw number."""
    if isinstance(value, list) and value and isinstance(value[0], str):
        return dumps(with_value(base_spec(), path, ["@N@"])).replace(b'"@N@"', value[0].encode())
    if isinstance(value, str):
        return dumps(with_value(base_spec(), path, "@N@")).replace(b'"@N@"', value.encode())
    return dumps(with_value(base_spec(), path, value))


RANGE_CASES = [
    ("range-low-neg-inf", {"type": "float", "low": "-1e400", "high": 1}),
    ("range-high-inf", {"type": "float", "low": 0, "high": "1e400"}),
    ("range-overflowing-width", {"type": "float", "low": -1.7e308, "high": 1.7e308}),
]


def range_doc(dist: dict) -> bytes:
    spec = base_spec()
    spec["search"] = {"strategy": "random", "max_trials": 3}
    spec["candidates"] = [{"algorithm": "logistic_regression", "params": {"threshold": {**dist}}}]
    text = json.dumps(spec)
    for key in ("low", "high"):
        if isinstance(dist[key], str):
            text = text.replace(f'"{key}": "{dist[key]}"', f'"{key}": {dist[key]}')
    return text.encode()


# --- unknown algorithms and params ----------------------------------------------------------------
ALGORITHMS = [
    ("algo-unknown", [{"algorithm": "deep_magic"}], "unknown algorithm"),
    ("algo-empty", [{"algorithm": ""}], "unknown algorithm"),
    ("algo-case", [{"algorithm": "LOGISTIC_REGRESSION"}], "unknown algorithm"),
    ("algo-path", [{"algorithm": "../logistic_regression"}], "unknown algorithm"),
    ("algo-wrong-task", [{"algorithm": "linear_regression"}], "cannot do binary_classification"),
    ("param-other-learner", [{"algorithm": "logistic_regression", "params": {"numTrees": [3]}}], "numTrees"),
    ("param-dunder", [{"algorithm": "logistic_regression", "params": {"__class__": [1]}}], "__class__"),
    ("param-space", [{"algorithm": "logistic_regression", "params": {"regParam ": [0.1]}}], "regParam "),
    ("param-string-value", [{"algorithm": "logistic_regression", "params": {"regParam": ["a"]}}], "regParam"),
    ("param-fraction-int", [{"algorithm": "random_forest_classifier", "params": {"numTrees": [1.5]}}], "numTrees"),
    ("param-out-of-range", [{"algorithm": "logistic_regression", "params": {"elasticNetParam": [2]}}],
     "elasticNetParam"),
    ("param-empty-list", [{"algorithm": "logistic_regression", "params": {"regParam": []}}], "regParam"),
    ("param-distribution-on-grid", [{"algorithm": "logistic_regression",
                                     "params": {"regParam": {"type": "float", "low": 0, "high": 1}}}], "grid search"),
    ("candidates-empty", [], "candidates"),
    ("candidate-extra-field", [{"algorithm": "logistic_regression", "code": "import os"}], "candidates[0].code"),
]

# --- path tricks in dataset URIs ------------------------------------------------------------------
DECOY = b"f1,y\n1,0\n2,1\n"
PATHS = [
    ("dotdot", f"{HOME}/../bob/d.csv", "'..' segment"),
    ("dotdot-artifacts", f"gs://{BUCKET}/datasets/../artifacts/job-1/data/train", "'..' segment"),
    ("dot", f"{HOME}/./d.csv", "'.' or '..' segment"),
    ("pct-lower", f"{HOME}/%2e%2e/bob/d.csv", "percent-encoded"),
    ("pct-upper", f"{HOME}/%2E%2E/bob/d.csv", "percent-encoded"),
    ("pct-mixed", f"{HOME}/.%2e/bob/d.csv", "percent-encoded"),
    ("pct-double", f"{HOME}/%252e%252e/bob/d.csv", "percent-encoded"),
    ("empty-segment", f"{HOME}//d.csv", "empty segment"),
    ("backslash", f"{HOME}/..\\bob\\d.csv", "backslash"),
    ("pct-backslash", f"{HOME}/%5c..%5cd.csv", "backslash"),
    ("other-owner", f"gs://{BUCKET}/datasets/bob/d.csv", "owner's folder"),
    ("datasets-root", f"gs://{BUCKET}/datasets/d.csv", "owner's folder"),
    ("artifacts", f"gs://{BUCKET}/artifacts/job-1/data/train", "owner's folder"),
    ("results", f"gs://{BUCKET}/results/job-1/t0000/attempt-1.json", "owner's folder"),
    ("owner-prefix-trick", f"gs://{BUCKET}/datasets/{OWNER}x/d.csv", "owner's folder"),
    ("s3", "s3://bkt/d.csv", "dataset.uri"), ("file", "file:///etc/passwd", "dataset.uri"),
    ("bucket-only", f"gs://{BUCKET}", "dataset.uri"), ("absolute", "/etc/passwd", "dataset.uri"),
    ("upper-bucket", "gs://BKT/d.csv", "dataset.uri"),
    ("brace-dotdot", f"{HOME}/{{..,x}}/d.csv", "'..' segment"),
    ("brace-unbalanced", f"{HOME}/{{a,b.csv", "without its '}'"),
]
DECOY_GLOBS = [  # a folder or glob that takes in an object whose name has a dot segment
    ("glob-decoy", f"{HOME}/*", f"datasets/{OWNER}/../../artifacts/job-1/data/train/part-0.csv", "'..' segment"),
    ("folder-decoy", f"{HOME}/folder", f"datasets/{OWNER}/folder/%2e%2e/x.csv", "percent-encoded"),
    ("brace-decoy", f"{HOME}/{{d,e}}/*", f"datasets/{OWNER}/e/./x.csv", "'.' or '..' segment"),
]

# --- hostile row filters (text form): the reason names data.row_filter ----------------------------
ROW_FILTERS = [
    ("select", "f1 IN (SELECT f1 FROM parquet.`gs://bkt/artifacts/job-1/data/train`)"),
    ("table", "f1 IN (TABLE parquet.`gs://bkt/artifacts`)"),
    ("reflect", "reflect('java.lang.Runtime', 'getRuntime') IS NOT NULL"),
    ("java-method", "java_method('java.lang.System', 'getenv', 'HOME') = ''"),
    ("env", "f1 = ${env:HOME}"), ("system", "${system:user.name} = 'root'"),
    ("two-statements", "f1 > 0; DROP TABLE x"), ("too-long", "f1 > 0 AND " * 300 + "f1 > 0"),
    ("wrong-type", ["f1 > 0"]),
    ("digits", f"f1 > {'9' * 300}"), ("digits-in-function", f"round(f1, {'9' * 300}) > 1"),
]


# --- files (those detectable at submission) -------------------------------------------------------
def parquet_bytes() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"f1": [1.0], "y": [0]}), buf)
    return buf.getvalue()


FILES = [  # (name, object name under HOME, bytes, format, reason)
    ("empty", "e.csv", b"", "csv", "is empty"),
    ("blank", "e.csv", b"\n \n\t\n", "csv", "is empty"),
    ("binary", "b.csv", b"\x00\x01\x02\x03" * 100, "csv", "binary data"),
    ("parquet-as-csv", "p.csv", None, "csv", "is a Parquet file"),
    ("parquet-as-json", "p.json", None, "json", "is a Parquet file"),
    ("gzip-unnamed", "g.csv", gzip.compress(b"f1,y\n1,0\n"), "csv", "does not end in .gz"),
    ("not-gzip", "n.csv.gz", b"f1,y\n1,0\n", "csv", "not gzip data"),
    ("zip", "z.csv", b"PK\x03\x04" + b"x" * 100, "csv", "compressed archive"),
    ("latin1-header", "l.csv", "año,y\n1,0\n".encode("latin-1"), "csv", "not UTF-8 text"),
    ("utf16", "u.csv", "f1,y\n1,0\n".encode("utf-16"), "csv", "binary data"),
    ("wide", "w.csv", (",".join(f"c{i}" for i in range(20_001)) + ",y\n").encode(), "csv", "20,000"),
    ("no-target", "t.csv", b"f1,f2\n1,2\n", "csv", "target column 'y'"),
    ("bom-no-target", "t.csv", b"\xef\xbb\xbff1,f2\n1,2\n", "csv", "columns: f1, f2"),
    ("cr-in-header", "c.csv", b'f1,"y\rz\n1,0\n', "csv", "target column 'y'"),
    ("csv-as-json", "j.json", b"f1,y\n1,0\n", "json", "not a JSON object"),
    ("csv-as-libsvm", "s.svm", b"f1,y\n1,0\n", "libsvm", "not LIBSVM"),
    ("csv-as-parquet", "q.parquet", b"f1,y\n1,0\n", "parquet", "not a Parquet file"),
    ("parquet-huge-footer", "h.parquet", b"PAR1" + b"\xff\xff\xff\x7f" + b"PAR1", "parquet", "looks corrupt"),
    ("parquet-bad-footer", "f.parquet", b"PAR1" + b"garbage!" + b"\x08\x00\x00\x00PAR1", "parquet",
     "footer cannot be read"),
    ("missing", "none.csv", None, "csv", "does not exist"),
]


def file_cases() -> list[Case]:
    out = []
    for name, obj, data, fmt, reason in FILES:
        if data is None and name.startswith("parquet"):
            data = parquet_bytes()
        spec = base_spec()
        spec["dataset"] = {"uri": f"{HOME}/{obj}", "format": fmt, "target": "label" if fmt == "libsvm" else "y"}
        if fmt == "libsvm":
            spec["candidates"] = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0]}}]
        objects = {} if data is None else {f"{HOME}/{obj}": data}
        out.append(Case("file", name, dumps(spec), (reason,), objects, field=FILE_FIELDS.get(name, "dataset.uri")))
    return out


# --- 300-digit numbers: the reason names the field that holds one ----------------------------------
DIGITS = "9" * 300
LONG_NUMBERS = [  # (name, path, the number as written in the JSON, the field named)
    ("seed", ("seed",), DIGITS, "seed"), ("seed-negative", ("seed",), "-" + DIGITS, "seed"),
    ("seed-fraction", ("seed",), DIGITS + ".5", "seed"), ("max-parallel", ("max_parallel",), DIGITS, "max_parallel"),
    ("min-rows", ("data", "min_rows"), DIGITS, "data.min_rows"),
    ("test-fraction", ("data", "test_fraction"), DIGITS, "data.test_fraction"),
    ("deadline", ("budget", "deadline_minutes"), DIGITS + "e5", "budget.deadline_minutes"),
    ("option", ("dataset", "options", "samplingRatio"), DIGITS, "dataset.options.samplingRatio"),
    ("param", ("candidates", 0, "params", "regParam"), [DIGITS], "candidates[0].params.regParam"),
    ("expectation", ("data", "expectations"), None, "data.expectations.f1.max"),
    ("thousands", ("search", "max_trials"), "9" * 5000, "search.max_trials"),  # beyond what Python parses
]


def long_number_doc(path: tuple, value) -> bytes:
    if value is None:  # nested in an object
        return dumps(with_value(base_spec(), path, {"f1": {"max": "@N@"}})).replace(b'"@N@"', DIGITS.encode())
    return number_doc(path, value)


# --- field names Firestore cannot store (empty, longer than 1,500 bytes) ----------------------------
KEYS = [  # (name, path of the object, its value, the field named)
    ("option-empty", ("dataset", "options"), {"": "x"}, "dataset.options"),
    ("param-empty", ("candidates", 0, "params"), {"": [1]}, "candidates[0].params"),
    ("expectation-empty", ("data", "expectations"), {"": {"min": 1}}, "data.expectations"),
    ("option-long", ("dataset", "options"), {"k" * 2000: "x"}, "dataset.options"),
    ("document-empty", None, 1, "(document)"),
]


def key_doc(path: tuple | None, value) -> bytes:
    return dumps({**base_spec(), "": value} if path is None else with_value(base_spec(), path, value))


# --- bucket names Cloud Storage refuses (its client raises ValueError for some) ---------------------
BUCKETS = [("bucket-trailing-dot", "bkt."), ("bucket-leading-dot", ".bkt"), ("bucket-dot-dot", "b..kt"),
           ("bucket-trailing-dash", "bkt-"), ("bucket-trailing-underscore", "bkt_"), ("bucket-ip", "10.0.0.1"),
           ("bucket-goog", "goog-data"), ("bucket-google", "my-google-data"), ("bucket-64", "b" * 64),
           ("bucket-long-part", "a." + "b" * 64)]

# --- model names: another user's model, names that cannot be model names -----------------------------
OTHER = "bob@example.com"
MODEL_NAMES = [  # (name, spec changes, models registered first, words, field)
    ("taken-name", {"name": "churn"}, {"churn": OTHER}, "the model 'churn' belongs to another user", "name"),
    ("taken-job-id", {"job_id": "churn"}, {"churn": OTHER}, "model is named after its job id", "job_id"),
    ("name-dunder", {"name": "__x__"}, {}, "a model name is 1 to 63", "name"),
    ("name-dotdot", {"name": ".."}, {}, "a model name is 1 to 63", "name"),
    ("name-slash", {"name": "a/b"}, {}, "a model name is 1 to 63", "name"),
    ("name-pct-slash", {"name": "a%2Fb"}, {}, "a model name is 1 to 63", "name"),
    ("name-upper", {"name": "Churn"}, {}, "a model name is 1 to 63", "name"),
    ("name-newline", {"name": "churn\n"}, {}, "a model name is 1 to 63", "name"),
    ("name-long", {"name": "m" * 64}, {}, "a model name is 1 to 63", "name"),
    ("name-empty", {"name": ""}, {}, "a model name is 1 to 63", "name"),
]
MALFORMED_FIELDS = {"huge-digits": "seed", "lone-surrogate": "owner"}
ALGORITHM_FIELDS = {"candidates-empty": "candidates", "candidate-extra-field": "candidates[0].code"}
FILE_FIELDS = {"no-target": "dataset.target", "bom-no-target": "dataset.target", "cr-in-header": "dataset.target"}


def cases() -> list[Case]:
    out = [Case("malformed", n, raw, (reason,), field=MALFORMED_FIELDS.get(n)) for n, raw, reason in MALFORMED]
    out += [Case("type", n, raw, (where,), field=where) for n, raw, where in wrong_type_cases()]
    out += [Case("string", n, dumps(with_value(base_spec(), p, v)), (where,), field=where)
            for n, p, v, where in STRINGS]
    out += [Case("number", n, number_doc(p, v), (where,), field=where) for n, p, v, where in NUMBERS]
    out += [Case("number", n, range_doc(d), ("candidates[0].params.threshold",),
                 field="candidates[0].params.threshold") for n, d in RANGE_CASES]
    out += [Case("number", f"digits-{n}", long_number_doc(p, v), (where,), field=where)
            for n, p, v, where in LONG_NUMBERS]
    out += [Case("algorithm", n, dumps(with_value(base_spec(), ("candidates",), c)), (r,),
                 field=ALGORITHM_FIELDS.get(n, "candidates[0]")) for n, c, r in ALGORITHMS]
    out += [Case("path", n, dumps(with_value(base_spec(), ("dataset", "uri"), uri)), (r,), field="dataset.uri")
            for n, uri, r in PATHS]
    out += [Case("path", n, dumps(with_value(base_spec(), ("dataset", "uri"), uri)), (r,),
                 {f"gs://{BUCKET}/{obj}": DECOY}, field="dataset.uri") for n, uri, obj, r in DECOY_GLOBS]
    out += [Case("path", n, dumps(with_value(base_spec(), ("dataset", "uri"), f"gs://{b}/datasets/{OWNER}/d.csv")),
                 (f"the bucket name {b!r}",), field="dataset.uri") for n, b in BUCKETS]
    out += [Case("key", n, key_doc(p, v), ("field",), field=where) for n, p, v, where in KEYS]
    out += [Case("row-filter", n, dumps(with_value(base_spec(), ("data", "row_filter"), f)), ("data.row_filter",),
                 field="data.row_filter") for n, f in ROW_FILTERS]
    out += [Case("model", n, dumps({**base_spec(), **change}), (words,), models=models, field=where)
            for n, change, models, words, where in MODEL_NAMES]
    out += file_cases()
    return out
