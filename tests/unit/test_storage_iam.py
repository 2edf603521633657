"""Every storage call Zygarde makes on Google Cloud, mapped to the terraform IAM binding that allows it.

The web app, the CLI and the Python client (as one of `var.cli_users`), the control-plane functions and
the predict service each run a scenario on the in-memory ports through a BlobStore that records every call and its call
site. A call needs Cloud Storage permissions on an object (get; create, and delete when it may
overwrite) or on a listing (list). Among the `google_storage_bucket_iam_member` bindings of terraform/
(evaluated offline by test_terraform's Module), the test finds one of the caller's identity whose role
grants the permission and whose IAM condition holds for the request, as Cloud Storage evaluates it:
`resource.name` is `projects/_/buckets/B/objects/NAME` for an object and `projects/_/buckets/B` for a
listing, whose prefix is the request attribute `storage.googleapis.com/objectListPrefix`. Every call
of the BlobStore port in zygarde/ must be made by some scenario, so a new storage call comes with the
binding that allows it. The client's reads under models/ are the one exception (BY_HAND)."""
from __future__ import annotations

import ast
import dataclasses
import io
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.test_terraform import ROOT, TF, TFVARS, Module
from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryJobRepository, MemoryPublisher
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.ports import BlobStore

CLI_USER = "ana@example.com"
PRINCIPALS = {"web": "serviceAccount:google_service_account.web.email",
              "functions": "serviceAccount:google_service_account.functions.email",
              "predict": "serviceAccount:google_service_account.predict.email",
              "cli": f"user:{CLI_USER}", "client": f"user:{CLI_USER}"}  # the client runs as its user, as the CLI
GET, LIST, CREATE, DELETE = "storage.objects.get", "storage.objects.list", "storage.objects.create", \
    "storage.objects.delete"
ROLES = {"roles/storage.objectViewer": {GET, LIST}, "roles/storage.objectCreator": {CREATE},
         "roles/storage.objectUser": {GET, LIST, CREATE, DELETE}, "roles/storage.objectAdmin": {GET, LIST, CREATE, DELETE}}
METHODS = ("read_bytes", "read_tail", "write_bytes", "exists", "list", "sizes", "upload_url")
# Reads terraform does not grant, on purpose (docs/deploy.md, "What the client reads"): the client's
# reads of model packages and batch predictions under models/, whose names are not owner-keyed, so no
# prefix condition could keep a user to their own models. Like the CLI's Firestore reads, they are
# given by hand to people who may read every model.
BY_HAND = {"client": ("models/",)}
# Callers of the port that never run on Google Cloud with these identities.
NOT_ON_GCP = ("zygarde/adapters/", "zygarde/local/", "zygarde/spark/")


@dataclasses.dataclass(frozen=True)
class Call:
    op: str
    uri: str
    site: str  # "zygarde/web/routes_data.py:63": the line of Zygarde's code that called the port
    create_only: bool = False  # a write that may not overwrite (if_generation_match=0)


def _site() -> str | None:
    """The caller of the port in Zygarde's code, or None for the test's own harness (a batch writing
    its result, a package laid out in the bucket...)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    path = Path(frame.f_code.co_filename).resolve() if frame else None
    if path is None or not path.is_relative_to(ROOT) or path.is_relative_to(ROOT / "tests"):
        return None
    return f"{path.relative_to(ROOT)}:{frame.f_lineno}"


def _through(package: str) -> bool:
    """Whether a frame of Zygarde's `package` (e.g. "zygarde/client/") is on the stack."""
    frame, root = sys._getframe(1), str(ROOT / package)
    while frame is not None:
        if frame.f_code.co_filename.startswith(root):
            return True
        frame = frame.f_back
    return False


class RecordingBlobStore(BlobStore):
    """A MemoryBlobStore whose calls from Zygarde's code are recorded (with `through`, only those made
    under that package: the client's, not the functions' the test drives beside it); signed URLs are
    made up."""

    def __init__(self, through: str | None = None):
        self.inner, self.calls, self.through = MemoryBlobStore(), [], through

    def _record(self, op: str, uri: str, **extra) -> None:
        site = _site()
        if site is not None and (self.through is None or _through(self.through)):
            self.calls.append(Call(op, uri, site, **extra))

    def read_bytes(self, uri, max_bytes=None):
        self._record("read_bytes", uri)
        return self.inner.read_bytes(uri, max_bytes)

    def read_tail(self, uri, n):
        self._record("read_tail", uri)
        return self.inner.read_tail(uri, n)

    def write_bytes(self, uri, data, content_type="application/octet-stream", if_generation_match=None):
        self._record("write_bytes", uri, create_only=if_generation_match == 0)
        return self.inner.write_bytes(uri, data, content_type, if_generation_match)

    def exists(self, uri):
        self._record("exists", uri)
        return self.inner.exists(uri)

    def list(self, uri_prefix):
        self._record("list", uri_prefix)
        return self.inner.list(uri_prefix)

    def sizes(self, uri_prefix):
        self._record("sizes", uri_prefix)
        return self.inner.sizes(uri_prefix)

    def upload_url(self, uri, content_type, expires_seconds=900):
        self._record("upload_url", uri)
        return f"https://storage.example/{uri[5:]}?X-Goog-Signature=made-up"


# ------------------------------------------------------------------ terraform's bindings and conditions

@dataclasses.dataclass(frozen=True)
class Binding:
    address: str
    member: str
    role: str
    condition: str | None


_CLAUSE = re.compile(r'(resource\.name|api\.getAttribute\("storage\.googleapis\.com/objectListPrefix", ""\))'
                     r'\.startsWith\("([^"\\]*)"\)')


def holds(condition: str | None, resource_name: str, list_prefix: str) -> bool:
    """The IAM condition (clauses joined by ||, each a startsWith on the resource name or on the list
    request's prefix) for one request; an expression of another form fails the test."""
    if condition is None:
        return True
    for clause in condition.split("||"):
        m = _CLAUSE.fullmatch(clause.strip())
        assert m, f"this test cannot evaluate the IAM condition clause {clause.strip()!r}"
        if (resource_name if m[1] == "resource.name" else list_prefix).startswith(m[2]):
            return True
    return False


@pytest.fixture(scope="module")
def tf() -> Module:
    return Module(TF, {**TFVARS, "cli_users": [CLI_USER]})


@pytest.fixture(scope="module")
def bindings(tf) -> list[Binding]:
    bucket = tf.ev(tf.locals["bucket_name"])
    out = []
    for address in sorted(tf.resources):
        if not address.startswith("google_storage_bucket_iam_member."):
            continue
        for key in tf.instances(address):
            assert tf.arg(address, key, "bucket") == bucket, address
            [condition] = tf.arg(address, key, "condition") if "condition" in tf.resources[address] else [None]
            out.append(Binding(address if key is None else f"{address}[{key}]", str(tf.arg(address, key, "member")),
                               tf.arg(address, key, "role"), condition and condition["expression"]))
    return out


def needs(call: Call, bucket: str) -> list[tuple[str, str, str]]:
    """(permission, resource.name, objectListPrefix) of each check Cloud Storage makes for the call."""
    name = call.uri.split("/", 3)[3] if call.uri.count("/") >= 3 else ""
    obj, listing = f"projects/_/buckets/{bucket}/objects/{name}", f"projects/_/buckets/{bucket}"
    if call.op in ("read_bytes", "read_tail", "exists"):
        return [(GET, obj, "")]
    if call.op in ("list", "sizes"):
        return [(LIST, listing, name)]
    # a write (or a browser's PUT to a URL this identity signed) replaces an object of the same name
    return [(CREATE, obj, "")] + ([] if call.create_only else [(DELETE, obj, "")])


def allowing(bindings: list[Binding], member: str, permission: str, resource: str, list_prefix: str) -> str | None:
    return next((b.address for b in bindings if b.member == member and permission in ROLES.get(b.role, ())
                 and holds(b.condition, resource, list_prefix)), None)


# ------------------------------------------------------------------ the scenarios, one per identity

def web_calls() -> tuple[list[Call], str]:
    """The web app's pages that touch the bucket, for a signed-in user with a dataset and a model."""
    from tests.unit.identities import SETTINGS, verifier
    from tests.unit.online_fixtures import register
    from tests.unit.web.conftest import BUCKET, CSV, add_job, csrf_token, delegate_token, sign_in
    from zygarde.web.app import create_app
    from zygarde.web.settings import WebSettings

    blobs = RecordingBlobStore()
    deps = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=blobs, publisher=MemoryPublisher(),
                settings=dataclasses.replace(SETTINGS, bucket=BUCKET), verifier=verifier())
    app = create_app(WebSettings(bucket=BUCKET, dev_login=True, max_upload_bytes=20_000, secret_key="s",
                                 signed_uploads=True), deps, tokens=delegate_token)
    add_job(deps.repo, "ana", "churn")  # registered as model churn v1, its package under models/churn/churn/
    package = f"gs://{BUCKET}/models/churn/churn/"
    blobs.inner.write_bytes(package + "manifest.json", json.dumps({"online": {"inputs": []}}).encode())
    blobs.inner.write_bytes(package + "model/metadata/part-00000", b"{}")
    web = sign_in(app.test_client(), "ana")
    token = csrf_token(web, "/jobs")
    dataset = f"gs://{BUCKET}/datasets/ana/people.csv"
    for _ in range(2):  # an upload, then the same name again: it replaces the first
        resp = web.post("/datasets", data={"file": (io.BytesIO(CSV), "people.csv"), "csrf_token": token},
                        content_type="multipart/form-data")
        assert resp.status_code == 302, resp.get_data(as_text=True)
    parquet = io.BytesIO()
    pd.DataFrame({"age": [31, 45], "city": ["c1", "c2"], "label": [0, 1]}).to_parquet(parquet, index=False)
    resp = web.post("/datasets", data={"file": (io.BytesIO(parquet.getvalue()), "people.parquet"), "csrf_token": token},
                    content_type="multipart/form-data")  # its columns come from the footer (read_tail)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    resp = web.post("/datasets/upload-url", json={"name": "big.csv", "size": 1 << 30}, headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    register(deps.repo, blobs.inner, "scoring", "job-s", bucket=BUCKET, owner="ana")  # serves online
    wide = io.BytesIO()  # put by the browser at a signed URL: a footer longer than the first ranged read
    pd.DataFrame({f"measurement_{i:04d}_of_the_sensor_array": [0.5] for i in range(1500)}).to_parquet(wide, index=False)
    blobs.inner.write_bytes(f"gs://{BUCKET}/datasets/ana/sensors.parquet", wide.getvalue())
    for path in ("/datasets", f"/jobs/new?dataset={dataset}", "/jobs/churn", "/models", "/models/churn",
                 "/models/churn/1/package.zip", "/models/scoring"):
        assert web.get(path).status_code == 200, path
    assert "age, income, city, label" in web.get("/datasets").get_data(as_text=True)
    return blobs.calls, BUCKET


def cli_calls(monkeypatch, tmp_path) -> tuple[list[Call], str]:
    """`zygarde upload` and `zygarde submit` (which checks the dataset first: one object, a folder of
    parts, a glob), as the user."""
    from tests.unit.conftest import CSV, Clock, SETTINGS, spec_dict, verifier
    from tests.unit.test_cli_extras import run

    blobs = RecordingBlobStore()
    deps = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=blobs, publisher=MemoryPublisher(),
                settings=SETTINGS, clock=Clock(), verifier=verifier())
    folder = f"gs://{SETTINGS.bucket}/datasets/{CLI_USER}/parts/"
    for i in range(2):
        blobs.inner.write_bytes(f"{folder}part-{i}.csv", CSV)
    data = tmp_path / "d.csv"
    data.write_bytes(CSV)
    result = run(deps, monkeypatch, "upload", str(data), user=CLI_USER)
    assert result.exit_code == 0, result.output
    for n, uri in enumerate((f"gs://{SETTINGS.bucket}/datasets/{CLI_USER}/d.csv", folder, folder + "*.csv",
                             folder + "part-{0,1}.csv")):
        spec = tmp_path / f"job{n}.json"
        spec.write_text(json.dumps(spec_dict(job_id=f"job-{n}", dataset={"uri": uri, "format": "csv", "target": "y"})))
        result = run(deps, monkeypatch, "submit", str(spec), user=CLI_USER)
        assert result.exit_code == 0, result.output
    return blobs.calls, SETTINGS.bucket


def functions_calls() -> tuple[list[Call], str]:
    """The control plane's flows, each as its unit test drives it through the entry points (edge.py): a job
    to its registered model; a job file; datasets as a folder and a glob; the reconciler failing a dead
    batch and recovering a lost result; a warm batch handed its trials and its finalisation, told to exit;
    a handoff resumed after a crash (written once, read back); an ended job's fits kept in the performance
    history and read by the next job's plan."""
    from tests.unit import test_handlers, test_pack_launching
    from tests.unit.conftest import CSV, DATA_URI, Clock, OWNER, SETTINGS, job_message, spec_dict, verifier
    from zygarde.domain.contracts import PrepareResult
    from zygarde.service_layer import edge

    def fresh() -> Deps:  # the `deps` fixture of tests/unit/conftest.py, over a recording store
        d = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=RecordingBlobStore(),
                 publisher=MemoryPublisher(), clock=Clock(), verifier=verifier(),
                 settings=dataclasses.replace(SETTINGS, handoff_seconds=0))
        d.blobs.inner.write_bytes(DATA_URI, CSV)
        return d

    calls = []
    for flow in (test_handlers.test_results_launch_next_and_finish_with_best,
                 test_handlers.test_job_file_dropped_in_bucket_is_submitted,
                 test_handlers.test_reconciler_fails_dead_batch_then_retry_and_recovers_lost_result,
                 test_pack_launching.test_a_small_job_runs_its_preparation_trials_and_finalisation_in_one_warm_batch,
                 test_pack_launching.test_a_handoff_resumed_after_a_crash_is_written_once_and_launched_once,
                 test_pack_launching.test_a_batch_that_has_exited_is_not_handed_work):
        deps = fresh()
        flow(deps)
        calls += deps.blobs.calls
    deps = fresh()  # the data is rejected while the warm batch that prepared it waits: told to exit
    test_pack_launching.warm(deps)
    edge.submit_job(job_message(test_pack_launching.packed_spec(max_parallel=1)), deps)
    prepare = deps.repo.get_trial("job-1", "prepare")
    test_handlers.deliver(deps, prepare, PrepareResult("job-1", 1, "FAILED", error="the target has one class",
                                                       error_kind="data"), True, end_batch=False)
    assert deps.repo.get_job("job-1").state.value == "FAILED"
    calls += deps.blobs.calls
    from tests.unit import test_job_plans  # an ended job's fits kept; the next job's plan reads them
    for flow in (test_job_plans.test_an_ended_job_leaves_its_fits_to_the_installation_s_history_once,
                 test_job_plans.test_the_installations_history_prices_the_plan_and_the_prior_alone_without_it):
        deps = fresh()
        deps.blobs.inner.write_bytes(test_job_plans.CHURN_URI, test_job_plans.churn_csv())
        flow(deps)
        calls += deps.blobs.calls
    deps = fresh()
    folder = f"gs://{SETTINGS.bucket}/datasets/{OWNER}/parts/"
    deps.blobs.inner.write_bytes(folder + "part-0.csv", CSV)
    for n, uri in enumerate((folder, folder + "*.csv")):
        edge.submit_job(job_message(spec_dict(job_id=f"folder-{n}", dataset={"uri": uri, "format": "csv", "target": "y"}),
                                    message_id=f"f{n}"), deps)
        assert deps.repo.get_job(f"folder-{n}").state.value == "RUNNING"
    return calls + deps.blobs.calls, SETTINGS.bucket


def predict_calls() -> tuple[list[Call], str]:
    """A prediction: the version's manifest and ONNX model, read once; then the explainer of a version
    with explanations (its spec and booster, under the package)."""
    from types import SimpleNamespace

    from tests.unit.online_fixtures import register
    from zygarde.service_layer import online_explain
    from zygarde.service_layer.online import ModelCache
    from zygarde.service_layer.online_edge import handle

    blobs, repo = RecordingBlobStore(), MemoryJobRepository()
    register(repo, blobs, "churn", "job-1", bucket="zb", owner="ana")
    status, body = handle("POST", "/v1/models/churn/versions/1:predict",
                          json.dumps({"instances": [{"age": 40, "color": "red"}]}).encode(), repo,
                          ModelCache(blobs), caller="ana")
    assert status == 200, body
    package = "gs://zb/models/churn/job-2/"
    blobs.inner.write_bytes(package + "explanations.json", b"{}")
    blobs.inner.write_bytes(package + "booster.json", b"{}")
    loaded = SimpleNamespace(model=SimpleNamespace(outputs=["prediction", "features"]), explainer=None,
                             explanations={"status": "available", "uri": package + "explanations.json",
                                           "booster_uri": package + "booster.json"})
    try:
        online_explain.explainer(blobs, loaded, "churn v2")
    except Exception:  # noqa: BLE001 - made-up explanations: only their reads matter here
        pass
    return blobs.calls, "zb"


def client_calls(monkeypatch, tmp_path) -> tuple[list[Call], str]:
    """zygarde.Client as the user: train (a DataFrame uploaded under the user's folder, the dataset
    checked), a batch prediction (its input uploaded, its output and the labels read) and a package
    download."""
    from tests.unit import test_client
    from tests.unit.conftest import CSV, DATA_URI, Clock, SETTINGS, token, verifier
    from zygarde.client import Client

    deps = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=RecordingBlobStore("zygarde/client/"),
                publisher=MemoryPublisher(), clock=Clock(), verifier=verifier(),
                settings=dataclasses.replace(SETTINGS, handoff_seconds=0))
    deps.blobs.inner.write_bytes(DATA_URI, CSV)
    client = Client(deps=deps, tokens=lambda: token(CLI_USER))
    test_client.test_train_uploads_parquet_under_the_owners_folder_and_publishes_a_signed_spec(deps, client)
    test_client.test_predict_in_a_batch_when_the_version_does_not_serve_online(deps, None, tmp_path)
    return deps.blobs.calls, SETTINGS.bucket


@pytest.fixture(scope="module")
def calls(tmp_path_factory) -> dict[str, tuple[list[Call], str]]:
    monkeypatch = pytest.MonkeyPatch()
    try:
        return {"web": web_calls(), "cli": cli_calls(monkeypatch, tmp_path_factory.mktemp("cli")),
                "functions": functions_calls(), "predict": predict_calls(),
                "client": client_calls(monkeypatch, tmp_path_factory.mktemp("client"))}
    finally:
        monkeypatch.undo()


def storage_map(tf, bindings, calls) -> tuple[dict, list]:
    """{(identity, op, permission, object name or list prefix): binding} and the checks no binding allows."""
    bucket = tf.ev(tf.locals["bucket_name"])
    mapped, refused = {}, []
    for who, (made, scenario_bucket) in calls.items():
        for call in made:
            assert call.uri.startswith(f"gs://{scenario_bucket}/"), call  # Zygarde's own bucket only
            for permission, resource, list_prefix in needs(call, bucket):
                key = (who, call.op, permission, list_prefix or resource.split("/objects/", 1)[-1])
                binding = allowing(bindings, PRINCIPALS[who], permission, resource, list_prefix)
                if binding is None and key[3].startswith(BY_HAND.get(who, ())) and permission in (GET, LIST):
                    binding = "by hand"
                elif binding is None:
                    refused.append((*key, call.site))
                mapped[key] = binding
    return mapped, refused


# ------------------------------------------------------------------ the checks

def test_every_storage_call_is_allowed_by_a_binding_of_its_identity(tf, bindings, calls):
    mapped, refused = storage_map(tf, bindings, calls)
    assert not refused, "storage calls no terraform binding allows:\n" + "\n".join(map(str, sorted(set(refused))))
    assert len(mapped) > 20


def test_the_client_reads_only_models_by_hand_and_writes_only_its_users_datasets_folder(tf, bindings, calls):
    mapped, refused = storage_map(tf, bindings, {"client": calls["client"]})
    assert not refused
    by_hand = {(perm, name) for (_, _, perm, name), b in mapped.items() if b == "by hand"}
    assert {p for p, _ in by_hand} == {GET, LIST} and all(n.startswith("models/churn/") for _, n in by_hand)
    writes = {name for (_, _, perm, name), b in mapped.items() if perm == CREATE}
    assert writes and all(n.startswith(f"datasets/{CLI_USER}/") for n in writes)
    assert not any(b.member == PRINCIPALS["cli"] and "models/" in (b.condition or "") for b in bindings)
    assert "What the client reads" in (ROOT / "docs" / "deploy.md").read_text()


def test_the_web_app_may_list_read_and_replace_datasets_and_list_and_read_packages(tf, bindings, calls):
    """Issue 26: the web account had only objectCreator on datasets/: its datasets page could neither
    list nor read there, a second upload of one name could not replace the first, and the package
    download could not list models/ (a listing names the bucket, not an object under models/)."""
    mapped, _ = storage_map(tf, bindings, {"web": calls["web"]})
    by_call = {(op, perm, name.split("/")[0] + "/"): b for (_, op, perm, name), b in mapped.items()}
    datasets = "google_storage_bucket_iam_member.web_datasets"  # was web_upload_datasets: objectCreator
    models = "google_storage_bucket_iam_member.web_reads_models"
    assert by_call[("sizes", LIST, "datasets/")] == datasets
    assert by_call[("read_bytes", GET, "datasets/")] == datasets
    assert by_call[("write_bytes", DELETE, "datasets/")] == datasets
    assert by_call[("upload_url", CREATE, "datasets/")] == datasets
    assert by_call[("list", LIST, "models/")] == by_call[("read_bytes", GET, "models/")] == models
    assert not any(b.member == PRINCIPALS["web"] and b.condition is None for b in bindings)  # never the whole bucket
    signer = tf.arg("google_service_account_iam_member.web_signs_as_itself", None, "role")
    assert signer == "roles/iam.serviceAccountTokenCreator"  # signed upload URLs: signBlob as itself


def test_a_command_line_user_lists_only_their_own_folders(tf, bindings):
    mine, other = f"datasets/{CLI_USER}/parts/", "datasets/bob@example.com/"
    member, bucket = PRINCIPALS["cli"], tf.ev(tf.locals["bucket_name"])
    assert allowing(bindings, member, LIST, f"projects/_/buckets/{bucket}", mine)
    for prefix in (other, "datasets/", "", f"datasets/{CLI_USER}x/"):
        assert allowing(bindings, member, LIST, f"projects/_/buckets/{bucket}", prefix) is None, prefix
    assert allowing(bindings, member, GET, f"projects/_/buckets/{bucket}/objects/{other}d.csv", "") is None


def _port_call_sites() -> set[str]:
    """file:line of every call of a BlobStore method on a `...blobs` value in Zygarde's code that runs on
    Google Cloud (functions/main.py and zygarde/, but for the adapters, the local cloud and Spark)."""
    sites = set()
    for path in [ROOT / "functions" / "main.py", *sorted((ROOT / "zygarde").rglob("*.py"))]:
        rel = str(path.relative_to(ROOT))
        if rel.startswith(NOT_ON_GCP):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in METHODS
                    and ast.unparse(node.func.value).endswith("blobs")):
                sites.add(f"{rel}:{node.lineno}")
    return sites


def test_every_call_of_the_storage_port_is_made_by_a_scenario(calls):
    made = {c.site for recorded, _ in calls.values() for c in recorded}
    sites = _port_call_sites()
    assert len(sites) > 15
    assert not sites - made, f"storage calls no scenario here makes (add one, and its binding): {sorted(sites - made)}"
