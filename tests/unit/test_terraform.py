"""Offline checks of terraform/: `terraform fmt`, and that every name the code uses is defined.

No provider can be downloaded here, so instead of `terraform plan` the test parses the HCL
(python-hcl2) and evaluates the expressions that carry names with a small evaluator of the HCL
expression language: `local.r` is the real zygarde/resources.json, `var.*` take their defaults,
and a reference to another resource evaluates that resource's argument (or stays symbolic, e.g. an
`.id`). A misspelt `local.r.topics.jbos` or a function pointing at a topic that does not exist
fails here, not at `terraform apply`.
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import hcl2
import pytest

from zygarde import config

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
TFVARS = {"project_id": "demo-project"}


# ------------------------------------------------------------------ a small HCL expression evaluator

class Unknown(str):
    """A value known only at apply time (an id, an email...), carrying its reference text."""


_TOKEN = re.compile(r'\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<id>[A-Za-z_][\w-]*)|(?P<str>")|'
                    r'(?P<op>=>|==|!=|<=|>=|&&|\|\||\.\.\.|[-+*/%<>!?:.,=()\[\]{}]))')


def _read_string(text: str, i: int) -> tuple[list, int]:
    """Parts of a quoted template starting after its opening quote: literal strings and exprs."""
    parts, buf = [], ""
    while text[i] != '"':
        if text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                if text[j] == '"':
                    j = _read_string(text, j + 1)[1]
                    continue
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            parts += [buf, _Parser(text[i + 2:j - 1]).parse()]
            buf, i = "", j
        elif text[i] == "\\":
            buf += {"n": "\n", "t": "\t"}.get(text[i + 1], text[i + 1])
            i += 2
        else:
            buf, i = buf + text[i], i + 1
    return parts + [buf], i + 1


class _Parser:
    """Recursive descent over an expression's text; produces a tree of tuples."""

    def __init__(self, text: str):
        self.toks, i = [], 0
        while i < len(text) and text[i:].strip():
            m = _TOKEN.match(text, i)
            assert m, f"cannot tokenize {text[i:]!r}"
            if m.group("str"):
                parts, i = _read_string(text, m.end())
                self.toks.append(("tmpl", parts))
            else:
                kind = m.lastgroup
                self.toks.append((kind, m.group(kind)))
                i = m.end()
        self.pos = 0

    def peek(self, value=None):
        tok = self.toks[self.pos] if self.pos < len(self.toks) else (None, None)
        return tok if value is None or tok[1] == value else None

    def take(self, value=None):
        tok = self.peek()
        assert value is None or tok[1] == value, f"expected {value!r}, got {tok!r}"
        self.pos += 1
        return tok

    def parse(self):
        node = self.cond()
        assert self.pos == len(self.toks), f"trailing tokens {self.toks[self.pos:]}"
        return node

    def cond(self):
        node = self.binary(0)
        if self.peek("?"):
            self.take()
            yes = self.cond()
            self.take(":")
            return ("?", node, yes, self.cond())
        return node

    LEVELS = [("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%")]

    def binary(self, level):
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in self.LEVELS[level]:
            node = ("bin", self.take()[1], node, self.binary(level + 1))
        return node

    def unary(self):
        if self.peek("!") or self.peek("-"):
            return ("un", self.take()[1], self.unary())
        node = self.primary()
        while True:
            if self.peek("."):
                self.take()
                node = ("idx", node, ("lit", self.take()[1]))
            elif self.peek("["):
                self.take()
                node = ("idx", node, self.cond())
                self.take("]")
            else:
                return node

    def primary(self):
        kind, value = self.take()
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "tmpl":
            return ("tmpl", value)
        if kind == "id":
            if value in ("true", "false", "null"):
                return ("lit", {"true": True, "false": False, "null": None}[value])
            if self.peek("("):
                self.take()
                args = []
                while not self.peek(")"):
                    args.append(self.cond())
                    if self.peek(","):
                        self.take()
                self.take(")")
                return ("call", value, args)
            return ("ref", value)
        if value == "(":
            node = self.cond()
            self.take(")")
            return node
        if value in "[{":
            close = "]" if value == "[" else "}"
            if self.peek("for"):
                self.take()
                names = [self.take()[1]]
                if self.peek(","):
                    self.take()
                    names.append(self.take()[1])
                self.take("in")
                coll = self.cond()
                self.take(":")
                key = self.cond()
                val = None
                if close == "}":
                    self.take("=>")
                    val = self.cond()
                cond = None
                if self.peek("if"):
                    self.take()
                    cond = self.cond()
                self.take(close)
                return ("for", close, names, coll, key, val, cond)
            items = []
            while not self.peek(close):
                k = self.cond()
                if close == "}":
                    self.take(self.peek()[1] if self.peek()[1] in ("=", ":") else "=")
                    items.append((k, self.cond()))
                else:
                    items.append(k)
                if self.peek(","):
                    self.take()
            self.take(close)
            return ("obj" if close == "}" else "tuple", items)
        raise AssertionError(f"unexpected token {value!r}")


FUNCS = {
    "jsondecode": json.loads, "jsonencode": lambda v: json.dumps(v, separators=(",", ":")),
    "file": lambda p: Path(p).read_text(), "fileexists": lambda p: Path(p).is_file(),
    "merge": lambda *ds: {k: v for d in ds for k, v in d.items()}, "concat": lambda *ls: sum(ls, []),
    "keys": lambda d: sorted(d), "values": lambda d: [d[k] for k in sorted(d)],
    "toset": lambda xs: sorted(set(xs)), "tostring": str, "lookup": lambda d, k, default=None: d.get(k, default),
    "contains": lambda xs, x: x in xs, "length": len, "replace": lambda s, a, b: s.replace(a, b),
    "lower": str.lower, "trimsuffix": lambda s, x: s.removesuffix(x), "sort": sorted,
    "join": lambda sep, xs: sep.join(xs), "sha256": lambda s: hashlib.sha256(s.encode()).hexdigest(),
    "endswith": str.endswith, "setproduct": lambda *sets: [list(p) for p in itertools.product(*sets)],
    "filesha256": lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest(),
    "fileset": lambda path, pattern: sorted({
        str(f.relative_to(path)) for alt in _braces(pattern) for f in Path(path).glob(alt) if f.is_file()}),
}


def _braces(pattern: str) -> list[str]:
    """Expand {a,b} alternatives as terraform's fileset does."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    return [x for alt in m.group(1).split(",") for x in _braces(pattern[:m.start()] + alt + pattern[m.end():])]


class Module:
    """terraform/*.tf parsed, with `ev` evaluating an expression in the module's context."""

    def __init__(self, tf_dir: Path, tfvars: dict):
        self.dir, self.locals, self.resources, self.vars = tf_dir, {}, {}, {}
        self._locals_seen: dict = {}
        for path in sorted(tf_dir.glob("*.tf")):
            doc = hcl2.loads(path.read_text())
            for block in doc.get("locals", []):
                self.locals.update({k: v for k, v in block.items() if not k.startswith("__")})
            for kind in ("resource", "data"):
                for block in doc.get(kind, []):
                    for rtype, named in block.items():
                        for name, body in named.items():
                            prefix = "data." if kind == "data" else ""
                            self.resources[f"{prefix}{rtype.strip(chr(34))}.{name.strip(chr(34))}"] = body
            for block in doc.get("variable", []):
                for name, body in block.items():
                    self.vars[name.strip('"')] = body
        self.var_values = {n: self.ev(b["default"]) for n, b in self.vars.items() if "default" in b}
        self.var_values.update(tfvars)

    def ev(self, raw, scope=None):
        """Evaluate a value as python-hcl2 returns it (expression strings, dicts, lists)."""
        scope = scope or {}
        if isinstance(raw, dict):
            return {self.ev(k, scope) if k.startswith("${") else k: self.ev(v, scope)
                    for k, v in raw.items() if not k.startswith("__")}
        if isinstance(raw, list):
            return [self.ev(v, scope) for v in raw]
        if not isinstance(raw, str):
            return raw
        if raw.startswith("${") and raw.endswith("}"):
            return self.node(_Parser(raw[2:-1]).parse(), scope)
        return self.node(_Parser(raw).parse(), scope)

    def node(self, n, scope):
        op = n[0]
        if op == "lit":
            return n[1]
        if op == "tmpl":
            parts = [p if isinstance(p, str) else self.node(p, scope) for p in n[1]]
            if len(parts) == 3 and parts[0] == parts[2] == "" and not isinstance(n[1][1], str):
                return parts[1]  # "${x}" keeps x's type
            text = "".join(str(p) for p in parts)
            return Unknown(text) if any(isinstance(p, Unknown) for p in parts) else text
        if op == "ref":
            return self.ref(n[1], scope)
        if op == "idx":
            base, key = self.node(n[1], scope), self.node(n[2], scope)
            if isinstance(base, _Resource):
                return base.attr(key)
            if isinstance(base, Unknown) or isinstance(key, Unknown):
                return Unknown(f"{base}[{key}]")
            return base[key] if isinstance(base, dict) else base[int(key)]
        if op == "call":
            args = [self.node(a, scope) for a in n[2]]
            if n[1] in ("file", "fileexists", "filesha256", "fileset"):
                args[0] = str(args[0])
            fn = FUNCS.get(n[1])
            if fn is None or any(isinstance(a, Unknown) for a in args):
                return Unknown(f"{n[1]}(...)")
            return fn(*args)
        if op == "?":
            test = self.node(n[1], scope)
            if isinstance(test, Unknown):
                return Unknown("(conditional)")
            return self.node(n[2] if test else n[3], scope)
        if op == "un":
            v = self.node(n[2], scope)
            return Unknown("(unary)") if isinstance(v, Unknown) else (not v if n[1] == "!" else -v)
        if op == "bin":
            a, b = self.node(n[2], scope), self.node(n[3], scope)
            if isinstance(a, Unknown) or isinstance(b, Unknown):
                return Unknown("(binary)")
            return {"==": lambda: a == b, "!=": lambda: a != b, "&&": lambda: a and b,
                    "||": lambda: a or b, "<": lambda: a < b, ">": lambda: a > b,
                    "<=": lambda: a <= b, ">=": lambda: a >= b, "+": lambda: a + b,
                    "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b}[n[1]]()
        if op in ("obj", "tuple"):
            if op == "tuple":
                return [self.node(i, scope) for i in n[1]]
            return {self.node(k, scope) if k[0] != "ref" else k[1]: self.node(v, scope) for k, v in n[1]}
        if op == "for":
            _, close, names, coll, key, val, cond = n
            coll = self.node(coll, scope)
            if isinstance(coll, Unknown):
                return Unknown("(for)")
            pairs = coll.items() if isinstance(coll, dict) else enumerate(coll)
            out = {} if close == "}" else []
            for k, v in pairs:
                inner = {**scope, **({names[0]: k, names[1]: v} if len(names) == 2 else {names[0]: v})}
                if cond is not None and not self.node(cond, inner):
                    continue
                if close == "}":
                    out[self.node(key, inner)] = self.node(val, inner)
                else:
                    out.append(self.node(key, inner))
            return out
        raise AssertionError(op)

    def local(self, name: str):
        """A local's value, evaluated once (a local is referenced inside loops: the source archive's
        hash read every file's map once per file, 12 s of this module's 16)."""
        if name not in self._locals_seen:
            self._locals_seen[name] = self.ev(self.locals[name])
        return self._locals_seen[name]

    def ref(self, name, scope):
        if name in scope:
            return scope[name]
        if name == "local":
            return _Namespace(self.local)
        if name == "var":
            return _Namespace(lambda k: self.var_values.get(k, Unknown(f"var.{k}")))
        if name == "path":
            return {"module": str(self.dir)}
        if name == "data":
            return _Namespace(lambda t: _Namespace(lambda n: _Resource(self, f"data.{t}.{n}")))
        return _Namespace(lambda n: _Resource(self, f"{name}.{n}"))

    def instances(self, address: str) -> dict:
        """Instance key -> evaluation scope (a single None key for a resource without for_each)."""
        body = self.resources[address]
        if "for_each" not in body:
            return {None: {}}
        coll = self.ev(body["for_each"])
        assert not isinstance(coll, Unknown), f"{address}: for_each unknown until apply"
        coll = coll if isinstance(coll, dict) else {k: k for k in coll}
        return {k: {"each": {"key": k, "value": v}} for k, v in coll.items()}

    def arg(self, address: str, key, name: str):
        """One evaluated argument (or list of nested blocks) of one instance."""
        return self.ev(self.resources[address][name], self.instances(address)[key])


class _Namespace(dict):
    def __init__(self, get):
        super().__init__()
        self.get_ = get

    def __getitem__(self, key):
        return self.get_(key)


class _Resource:
    """A reference to a resource: indexing picks an instance, an attribute evaluates its argument."""

    def __init__(self, module, address, key=None, indexed=False):
        self.module, self.address, self.key, self.indexed = module, address, key, indexed

    def attr(self, name):
        body = self.module.resources.get(self.address)
        assert body is not None, f"reference to undefined resource {self.address}"
        if "for_each" in body and not self.indexed:
            assert name in self.module.instances(self.address), f"{self.address} has no instance {name!r}"
            return _Resource(self.module, self.address, name, True)
        if name in body and not isinstance(body[name], list):
            return self.module.arg(self.address, self.key, name)
        label = f"{self.address}[{self.key}]" if self.indexed else self.address
        return Unknown(f"{label}.{name}")


# ------------------------------------------------------------------ the checks

@pytest.fixture(scope="module")
def tf() -> Module:
    return Module(TF, TFVARS)


R = config.resources()
_REF = re.compile(r"^(?P<address>[\w.]+)(?:\[(?P<key>[^\]]+)\])?\.(?P<attr>\w+)$")


def target(tf: Module, ref: str, attr: str = "name"):
    """The `attr` argument of the resource instance that a symbolic reference points at."""
    m = _REF.match(ref)
    assert m and isinstance(ref, Unknown), f"not a resource reference: {ref!r}"
    return tf.arg(m["address"], m["key"], attr)


def test_terraform_fmt():
    terraform = os.environ.get("TERRAFORM") or shutil.which("terraform")
    if not terraform:
        pytest.skip("no terraform binary on PATH (set TERRAFORM=...); fmt not checked")
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    run = subprocess.run([terraform, "fmt", "-check", "-diff", "-recursive", str(TF)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, f"terraform fmt would change:\n{run.stdout}{run.stderr}"


def test_providers_are_pinned():
    text = "\n".join(p.read_text() for p in TF.glob("*.tf"))
    for name in ("hashicorp/google", "hashicorp/google-beta"):
        m = re.search(rf'source\s*=\s*"{name}"\s*\n\s*version\s*=\s*"([^"]+)"', text)
        assert m, f"{name} has no version"
        assert re.fullmatch(r"6\.\d+\.\d+", m.group(1)), f"{name} not pinned to one 6.x: {m.group(1)}"


def test_terraform_decodes_the_same_resources_json(tf):
    assert tf.ev(tf.locals["r"]) == R


def test_every_local_r_reference_resolves(tf):
    text = "\n".join(p.read_text() for p in TF.glob("*.tf"))
    refs = set(re.findall(r"local\.r(?:\.\w+)+", text))
    assert refs
    for ref in sorted(refs):
        path = ref.split(".")[2:]
        value = R
        for part in path:
            assert isinstance(value, dict) and part in value, f"{ref}: resources.json has no {part!r}"
            value = value[part]


def test_every_topic_and_its_dead_letter_topic(tf):
    names = {k: tf.arg("google_pubsub_topic.topic", k, "name") for k in tf.instances("google_pubsub_topic.topic")}
    assert names == R["topics"]
    dead = {k: tf.arg("google_pubsub_topic.dead_letter", k, "name")
            for k in tf.instances("google_pubsub_topic.dead_letter")}
    assert dead == {k: v + R["dead_letter_suffix"] for k, v in R["topics"].items()}
    for k in R["topics"]:  # dead letters are kept, not dropped
        hold = tf.arg("google_pubsub_subscription.dead_letter", k, "topic")
        assert target(tf, hold) == dead[k]


def test_every_function_has_its_subscription_with_retry_and_dead_letter(tf):
    addr = "google_pubsub_subscription.function"
    assert set(tf.instances(addr)) == set(R["functions"])
    subscriptions = set()
    for key, fn in R["functions"].items():
        name = tf.arg(addr, key, "name")
        assert name == R["subscriptions"][fn["subscription"]]
        subscriptions.add(name)
        assert target(tf, tf.arg(addr, key, "topic")) == R["topics"][fn["topic"]]
        [dlp] = tf.arg(addr, key, "dead_letter_policy")
        assert target(tf, dlp["dead_letter_topic"]) == R["topics"][fn["topic"]] + R["dead_letter_suffix"]
        assert 5 <= dlp["max_delivery_attempts"] <= 100
        [retry] = tf.arg(addr, key, "retry_policy")
        assert retry["minimum_backoff"] and retry["maximum_backoff"]
        [push] = tf.arg(addr, key, "push_config")
        assert push["push_endpoint"].startswith(f"google_cloudfunctions2_function.fn[{key}].")
        assert push["push_endpoint"].endswith(f"/topics/{R['topics'][fn['topic']]}")
        assert push["oidc_token"][0]["service_account_email"]
    assert subscriptions == {R["subscriptions"][fn["subscription"]] for fn in R["functions"].values()}
    assert set(R["subscriptions"].values()) == subscriptions | {R["subscriptions"][r["subscription"]]
                                                                for r in R["bucket_routes"].values()}


def test_pubsub_agent_can_dead_letter(tf):
    assert set(tf.instances("google_pubsub_topic_iam_member.pubsub_agent_dead_letters")) == set(R["topics"])
    assert set(tf.instances("google_pubsub_subscription_iam_member.pubsub_agent_forwards")) == set(R["functions"])


def test_every_function_deployed_with_its_entry_point(tf):
    addr = "google_cloudfunctions2_function.fn"
    assert set(tf.instances(addr)) == set(R["functions"])
    for key, fn in R["functions"].items():
        [build] = tf.arg(addr, key, "build_config")
        assert build["entry_point"] == fn["entry_point"]
        assert build["runtime"] == "python311"
        [source] = build["source"]
        assert source["storage_source"][0]["object"] == tf.ev(tf.locals["function_source_object"])


def test_functions_get_every_env_var_that_applies(tf):
    local_only = set(tf.ev(tf.locals["local_only_env"]))
    assert local_only <= set(R["env"]), "local_only_env names keys that resources.json lacks"
    predict_only = set(tf.ev(tf.locals["predict_only_env"]))
    assert predict_only <= set(R["env"]) and not predict_only & local_only
    wanted = {name for key, name in R["env"].items() if key not in local_only | predict_only}
    [predict] = tf.arg("google_cloudfunctions2_function.predict", "predict", "service_config")
    assert {R["env"][k] for k in predict_only} <= set(predict["environment_variables"])
    for key in R["functions"]:
        [service] = tf.arg("google_cloudfunctions2_function.fn", key, "service_config")
        assert set(service["environment_variables"]) == wanted
        assert service["environment_variables"][config.env_name("max_concurrent_batches")] == "4"
    assert set(tf.ev(tf.locals["web_env"])) <= set(R["env"].values()) | set(R["web_env"].values())


def test_source_archive_holds_functions_zygarde_and_requirements(tf):
    files = tf.ev(tf.locals["function_source"])
    assert "zygarde/resources.json" in files and "zygarde/config.py" in files
    assert "requirements.txt" in files
    if (ROOT / "functions" / "main.py").exists():
        assert "main.py" in files
    name = tf.ev(tf.locals["function_source_object"])
    assert re.fullmatch(re.escape(R["bucket_prefixes"]["code"]) + r"functions/[0-9a-f]{64}\.zip", name)


def test_entry_points_exist_in_functions_main():
    main = ROOT / "functions" / "main.py"
    if not main.exists():
        pytest.skip("functions/main.py does not exist yet")
    defs = {n.name for n in ast.parse(main.read_text()).body if isinstance(n, ast.FunctionDef)}
    missing = {fn["entry_point"] for fn in R["functions"].values()} - defs
    assert not missing, f"functions/main.py lacks top-level def(s): {sorted(missing)}"


def test_function_requirements_match_the_lock():
    lock = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().split()
                if "==" in line)
    lock = {k.lower(): v for k, v in lock.items()}
    pins = [ln.split("#")[0].strip() for ln in (TF / "functions-requirements.txt").read_text().splitlines()]
    pins = [p for p in pins if p]
    assert any(p.startswith("functions-framework==") for p in pins)
    for pin in pins:
        name, version = pin.split("==")
        assert lock.get(name.lower()) == version, f"{pin} differs from requirements.lock"


def test_one_bucket_notification_routed_by_filtered_subscriptions(tf):
    """As on the local cloud (fake-gcs-server publishes one notification): the whole bucket on one
    topic; results/ reaches on_trial_result and job files under jobs/ reach submit_job."""
    addr = "google_storage_notification.bucket"
    [note] = R["bucket_notifications"]
    [key] = tf.instances(addr)
    assert target(tf, tf.arg(addr, key, "topic")) == R["topics"][note["topic"]]
    assert tf.arg(addr, key, "event_types") == [note["event"]] and tf.arg(addr, key, "payload_format") == "JSON_API_V1"
    assert "object_name_prefix" not in tf.resources[addr]  # the whole bucket
    found = {}
    for name in ("function", "bucket_route"):
        sub = f"google_pubsub_subscription.{name}"
        for k in tf.instances(sub):
            found[tf.arg(sub, k, "name")] = (target(tf, tf.arg(sub, k, "topic")), tf.arg(sub, k, "filter"),
                                             tf.arg(sub, k, "push_config")[0]["push_endpoint"])
    for route in config.subscription_routes():
        topic_name, filter_, endpoint = found[route["name"]]
        assert (topic_name, filter_) == (R["topics"][route["topic"]], route["filter"])
        assert endpoint.startswith(f"google_cloudfunctions2_function.fn[{route['function']}].")
    routed = {(r["function"], r["filter"]) for r in config.subscription_routes() if r["filter"]}
    assert routed == {("on_trial_result", config.object_filter("results")),
                      ("submit_job", config.object_filter("job_files"))}
    assert set(tf.instances("google_pubsub_subscription_iam_member.pubsub_agent_forwards_routes")) == \
        set(R["bucket_routes"])


def test_bucket_is_uniform_and_expires_scratch(tf):
    addr = "google_storage_bucket.main"
    assert tf.arg(addr, None, "uniform_bucket_level_access") is True
    rules = tf.arg(addr, None, "lifecycle_rule")
    prefixes = [p for r in rules for c in r["condition"] for p in c.get("matches_prefix", [])]
    assert set(prefixes) >= {R["bucket_prefixes"]["results"], R["bucket_prefixes"]["job_files"]}


def test_firestore_indexes_match_the_queries(tf):
    [db] = [tf.arg("google_firestore_database.main", None, a) for a in ("type",)]
    assert db == "FIRESTORE_NATIVE"
    field = "google_firestore_field.trials_state"
    assert tf.arg(field, None, "collection") == config.collection("trials")
    scopes = {i["query_scope"] for i in tf.arg(field, None, "index_config")[0]["indexes"]}
    assert "COLLECTION_GROUP" in scopes
    composites = set()
    for addr in (a for a in tf.resources if a.startswith("google_firestore_index.")):
        assert tf.arg(addr, None, "collection") in {config.collection(k) for k in R["collections"]}
        fields = tuple((f["field_path"], f["order"]) for f in tf.arg(addr, None, "fields"))
        composites.add((tf.arg(addr, None, "collection"), fields))
    jobs = config.collection("jobs")
    assert (jobs, (("owner", "ASCENDING"), ("created_at", "DESCENDING"))) in composites
    assert (jobs, (("state", "ASCENDING"), ("created_at", "ASCENDING"))) in composites
    trials = config.collection("trials")
    assert (trials, (("batch_id", "ASCENDING"), ("state", "ASCENDING"))) in composites  # batch_trials with states


def test_scheduler_ticks_the_reconcile_topic(tf):
    addr = "google_cloud_scheduler_job.reconcile_tick"
    assert tf.arg(addr, None, "schedule") == "*/2 * * * *"
    [target_block] = tf.arg(addr, None, "pubsub_target")
    assert target(tf, target_block["topic_name"]) == config.topic("reconcile")


def test_web_app_behind_iap(tf):
    addr = "google_cloud_run_v2_service.web"
    assert tf.resources[addr]["provider"].strip("${}") == "google-beta"
    assert tf.arg(addr, None, "iap_enabled") is True
    assert tf.arg(addr, None, "deletion_protection") is False



def test_web_app_verifies_iap_and_never_offers_the_development_sign_in(tf):
    env = tf.ev(tf.locals["web_env"])
    web = R["web_env"]
    assert web["dev_login"] not in env  # the development sign-in is for the local cloud only
    assert re.fullmatch(r"/projects/.+/locations/us-central1/services/zygarde-web", env[web["iap_audience"]])
    assert {config.env_name("bucket"), config.env_name("project"), web["admins"], web["price_per_dcu_hour"]} <= set(env)
    [container] = tf.arg("google_cloud_run_v2_service.web", None, "template")[0]["containers"]
    [secret_env] = container["env"]
    assert secret_env["name"] == web["secret_key"]  # one session key for every instance, from Secret Manager
    ref = secret_env["value_source"][0]["secret_key_ref"][0]["secret"]
    assert "google_secret_manager_secret.web_session_key" in ref
    assert tf.arg("google_secret_manager_secret_iam_member.web_reads_session_key", None, "role") == \
        "roles/secretmanager.secretAccessor"
    roles = {tf.arg(a, None, "role") for a in ("google_pubsub_topic_iam_member.web_publish_jobs",
                                               "google_project_iam_member.web_firestore",
                                               "google_storage_bucket_iam_member.web_datasets")}
    assert roles == {"roles/pubsub.publisher", "roles/datastore.viewer", "roles/storage.objectUser"}
    condition = tf.arg("google_storage_bucket_iam_member.web_datasets", None, "condition")[0]["expression"]
    assert f"/objects/{R['bucket_prefixes']['datasets']}" in condition


def test_least_privilege_no_basic_roles(tf):
    roles = {}
    for addr, body in tf.resources.items():
        if addr.split(".")[0].endswith(("_iam_member", "_iam_binding")):
            for key in tf.instances(addr):
                roles[(addr, key)] = tf.arg(addr, key, "role")
    assert roles
    basic = {k: r for k, r in roles.items() if r in ("roles/owner", "roles/editor", "roles/viewer")}
    assert not basic, f"basic roles granted: {basic}"
    accounts = {tf.arg(a, None, "account_id") for a in tf.resources if a.startswith("google_service_account.")}
    assert {"zygarde-functions", "zygarde-spark", "zygarde-web"} <= accounts
    assert all(len(a) <= 30 for a in accounts)


def _expressions(value):
    if isinstance(value, dict):
        return [e for k, v in value.items() if k != "__comments__" for e in _expressions(k) + _expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in _expressions(v)]
    return [value] if isinstance(value, str) else []


def test_every_reference_is_declared(tf):
    """What `terraform validate` would check first: each var, local and resource referred to exists."""
    docs = [hcl2.loads(p.read_text()) for p in sorted(TF.glob("*.tf"))]
    text = "\n".join(e for d in docs for e in _expressions({k: v for k, v in d.items() if k != "variable"}))
    undeclared = {f"var.{v}" for v in re.findall(r"\bvar\.(\w+)", text)} - {f"var.{v}" for v in tf.vars}
    undeclared |= {f"local.{v}" for v in re.findall(r"\blocal\.(\w+)", text)} - {f"local.{v}" for v in tf.locals}
    refs = set(re.findall(r"(?<![\w.])((?:data\.)?(?:google|archive)_\w+\.\w+)", text))
    undeclared |= refs - set(tf.resources)
    assert not undeclared, f"undeclared: {sorted(undeclared)}"


def test_packaged_functions_load_from_the_archive_alone(tf, tmp_path):
    """Unpack the archive as terraform builds it and load each entry point from it, as the runtime does."""
    if not (ROOT / "functions" / "main.py").exists():
        pytest.skip("functions/main.py does not exist yet")
    for name, src in tf.ev(tf.locals["function_source"]).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, tmp_path / name)
    probe = (
        "import sys, functions_framework, zygarde\n"
        "assert zygarde.__file__.startswith(sys.argv[1]), zygarde.__file__\n"
        "from functions_framework import _function_registry as reg\n"
        "for target in sys.argv[2:]:\n"
        "    functions_framework.create_app(target, 'main.py')\n"
        "    assert reg.get_func_signature_type(target, None) == 'cloudevent', target\n"
        "print('ok')\n")
    entry_points = [fn["entry_point"] for fn in R["functions"].values()]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", probe, str(tmp_path), *entry_points], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]


def test_each_command_line_user_writes_only_under_their_own_owner_key():
    """Issue 22: a job file's owner is its folder jobs/{owner}/, so bucket IAM must let each user write
    only there (and under datasets/{owner}/), the folder named by their e-mail's owner key."""
    from zygarde.domain.identity import owner_key

    users = ["Ana.Lopez@Example.com", "owner+a@zygarde.dev", "owner-a@zygarde.dev", "o'brien@example.com",
             "ci-bot@demo-project.iam.gserviceaccount.com"]
    tf = Module(TF, {**TFVARS, "cli_users": users})
    addr = "google_storage_bucket_iam_member.cli_users_own_folders"
    bucket = tf.ev(tf.locals["bucket_name"])
    grants = {}
    for key in tf.instances(addr):
        [cond] = tf.arg(addr, key, "condition")
        match = re.fullmatch(rf'resource\.name\.startsWith\("projects/_/buckets/{bucket}/objects/(.+)"\) \|\| '
                             r'api\.getAttribute\("storage\.googleapis\.com/objectListPrefix", ""\)\.startsWith\("(.+)"\)',
                             cond["expression"])
        prefix = match.group(1)
        assert match.group(2) == prefix  # a listing only of the same folder
        grants.setdefault(tf.arg(addr, key, "member"), set()).add(prefix)
        assert tf.arg(addr, key, "role") == "roles/storage.objectUser"
    expected = {}
    for user in users:
        kind = "serviceAccount" if user.endswith(".gserviceaccount.com") else "user"
        expected[f"{kind}:{user}"] = {f"{R['bucket_prefixes'][p]}{owner_key(user)}/" for p in ("job_files", "datasets")}
    assert grants == expected  # the same keys the functions derive, never the root of jobs/ or datasets/
    publishers = {tf.arg("google_pubsub_topic_iam_member.cli_users_publish_jobs", k, "member")
                  for k in tf.instances("google_pubsub_topic_iam_member.cli_users_publish_jobs")}
    assert publishers == set(expected)


def test_the_functions_and_the_predict_service_verify_identity_tokens(tf):
    for addr, key in [("google_cloudfunctions2_function.fn", "submit_job"),
                      ("google_cloudfunctions2_function.predict", "predict")]:
        [service] = tf.arg(addr, key, "service_config")
        env = service["environment_variables"]
        assert env[config.env_name("token_certs_url")] == config.GOOGLE_CERTS_URL
        assert env[config.env_name("token_issuers")].split(",") == list(config.GOOGLE_ISSUERS)
        assert env[config.env_name("token_audiences")] == ""  # Settings.audiences: the defaults
        assert env[config.env_name("trusted_delegates")] == "google_service_account.web.email"  # the web app
