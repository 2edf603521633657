"""One test per submission defect of issues 13, 14 and 15 (the hostile corpus covers the rest)."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import random

import pytest
from click.testing import CliRunner

from tests.unit.conftest import DATA_URI, OWNER, job_message, raw_message, spec_dict, token
from zygarde import cli, cli_common
from zygarde.adapters.memory import MemoryJobRepository
from zygarde.domain import raw_doc
from zygarde.domain.algorithms import get as get_algorithm
from zygarde.domain.errors import NotFound, SpecError, TransientError, Unstorable
from zygarde.domain.model import JobState
from zygarde.domain.search_space import draw
from zygarde.domain.spec import parse_job_spec
from zygarde.service_layer import datasets, edge, submission
from zygarde.service_layer.dataset_paths import expand_braces
from zygarde.service_layer.edge import acknowledge_permanent_errors
from zygarde.service_layer.edge import PubSubMessage

HOME = f"gs://bkt/datasets/{OWNER}"


def submit(deps, spec: dict | bytes, message_id: str = "m") -> str:
    raw = spec if isinstance(spec, bytes) else json.dumps(spec).encode()
    return edge.submit_job(raw_message(raw, message_id), deps)  # published by OWNER


# --- 13.1: whatever arrives is recorded, only transient errors raise -------------------------------
class RefusingRepository(MemoryJobRepository):
    """Refuses documents as Firestore does (the adapter raises Unstorable) when `refuse` says so."""

    def __init__(self, refuse):
        super().__init__()
        self.refuse = refuse

    def add_job(self, job, trials):
        if self.refuse(job):
            raise Unstorable("Firestore refuses the job document (InvalidArgument)")
        return super().add_job(job, trials)


def test_a_rejection_the_store_refuses_is_recorded_without_its_raw_text(deps):
    deps.repo = RefusingRepository(lambda job: job.spec.get("raw", "").startswith("{"))
    job_id = submit(deps, b'{"owner": 5}')
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.REJECTED and "owner" in job.error and job.owner == OWNER  # who sent it
    assert job.spec == {"raw": "(not stored: the store refused it)"}


def test_an_accepted_job_the_store_refuses_is_recorded_rejected_with_the_reason(deps):
    deps.repo = RefusingRepository(lambda job: job.state is JobState.RUNNING)
    job_id = submit(deps, spec_dict())
    job = deps.repo.get_job(job_id)
    assert job.state is JobState.REJECTED and "cannot be stored as written" in job.error
    assert deps.launcher.create_calls == 0


def test_a_defect_in_the_checks_is_recorded_as_a_rejection_not_a_crash(deps, monkeypatch, caplog):
    def broken(raw):
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setattr(submission, "parse_job_spec", broken)
    with caplog.at_level(logging.ERROR, logger="zygarde"):
        job_id = submit(deps, spec_dict(job_id="job-x"))
    job = deps.repo.get_job(job_id)
    assert job_id == "job-x" and job.state is JobState.REJECTED
    assert "could not be checked (TypeError in Zygarde's spec checks)" in job.error
    assert "spec check failed unexpectedly" in caplog.text


def test_a_transient_error_while_checking_the_dataset_is_raised_and_nothing_is_stored(deps, monkeypatch):
    def unreachable(uri):
        raise TransientError("gcs exists: 503 Service Unavailable")

    monkeypatch.setattr(deps.blobs, "exists", unreachable)
    with pytest.raises(TransientError):
        submit(deps, spec_dict())
    assert deps.repo.jobs == {}


def test_an_owner_that_is_not_a_string_is_recorded_under_its_verified_sender(deps):
    job = deps.repo.get_job(submit(deps, spec_dict(owner={"name": "ana"})))
    assert job.state is JobState.REJECTED and job.owner == OWNER and job.error.startswith("owner:")


def test_a_10000_character_target_is_rejected_with_a_short_reason(deps):
    ds = {"uri": DATA_URI, "format": "csv", "target": "t" * 10_000}
    job = deps.repo.get_job(submit(deps, spec_dict(job_id=None, dataset=ds)))
    assert job.state is JobState.REJECTED and "dataset.target" in job.error and len(job.error) < 300


def test_storable_turns_what_firestore_cannot_hold_into_text():
    doc = {"big": 2 ** 70, "inf": math.inf, "s": "a\udc80b", "ok": [1, 2.5, True, None], "\ud800": 1}
    out = raw_doc.storable(doc)
    assert out["big"] == str(2 ** 70) and out["inf"] == "inf" and out["ok"] == [1, 2.5, True, None]
    json.dumps(out, ensure_ascii=False).encode("utf-8")  # no lone surrogate left
    assert raw_doc.safe_text("x" * 50_000, 100).endswith("(50,000 characters)")


def test_the_v1_domain_and_search_of_the_wrong_type_are_spec_errors():
    v1 = {"domain": ["regression"], "dataset": {"path": "gs://b/d", "format": "libsvm"},
          "methods": [{"algorithm": ["x"]}], "parameterSearch": {"a": 1}, "emailAddress": OWNER}
    with pytest.raises(SpecError) as err:
        parse_job_spec(v1)
    assert {"domain", "methods[0].algorithm", "parameterSearch"} <= {p for p, _ in err.value.problems}


# --- 13.4: a CSV saved with a UTF-8 byte-order mark ------------------------------------------------
def test_a_csv_with_a_utf8_bom_is_accepted(deps):
    deps.blobs.write_bytes(f"{HOME}/bom.csv", b"\xef\xbb\xbfy,f1\n0,1\n1,2\n")
    ds = {"uri": f"{HOME}/bom.csv", "format": "csv", "target": "y"}
    assert deps.repo.get_job(submit(deps, spec_dict(dataset=ds))).state is JobState.RUNNING


# --- 15.3: no NaN reaches a model -----------------------------------------------------------------
def test_non_finite_bounds_and_values_are_refused_and_finite_draws_stay_finite():
    threshold = get_algorithm("logistic_regression").params["threshold"]
    assert threshold.problem(math.nan) is not None and threshold.problem(math.inf) is not None
    raw = (b'{"owner": "ana", "dataset": {"uri": "gs://bkt/d", "format": "csv", "target": "y"}, '
           b'"task": "binary_classification", "search": {"strategy": "random", "max_trials": 3}, '
           b'"candidates": [{"algorithm": "logistic_regression", "params": '
           b'{"threshold": {"type": "float", "low": -1e400, "high": 1}}}]}')
    with pytest.raises(SpecError, match=r"candidates\[0\]\.params\.threshold"):
        parse_job_spec(raw)
    spec = parse_job_spec(raw.replace(b"-1e400", b"0"))
    hp = spec.candidates[0].params["threshold"]
    assert all(math.isfinite(draw(hp, threshold, random.Random(i))) for i in range(100))


# --- 15.4: valid datasets that were refused --------------------------------------------------------
def test_a_header_longer_than_the_first_read_is_read_to_its_end(deps):
    header = ",".join(f"feature_{i:05d}" for i in range(10_000)) + ",y\n"
    assert len(header) > datasets.HEAD_BYTES
    deps.blobs.write_bytes(f"{HOME}/wide.csv", header.encode() + b"0," * 10_000 + b"1\n")
    ds = {"uri": f"{HOME}/wide.csv", "format": "csv", "target": "y"}
    assert deps.repo.get_job(submit(deps, spec_dict(dataset=ds))).state is JobState.RUNNING


def test_a_header_beyond_the_bound_is_refused_with_the_bound_stated(deps, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_HEADER_BYTES", 256 * 1024)
    deps.blobs.write_bytes(f"{HOME}/endless.csv", b"a," * 200_000 + b"y\n")
    ds = {"uri": f"{HOME}/endless.csv", "format": "csv", "target": "y"}
    job = deps.repo.get_job(submit(deps, spec_dict(dataset=ds)))
    assert job.state is JobState.REJECTED
    assert "its first line is longer than 0.25 MiB, the most Zygarde reads of a header at submission" in job.error


def test_brace_globs_are_expanded_as_spark_reads_them(deps):
    deps.blobs.write_bytes(f"{HOME}/a.csv", b"f1,y\n1,0\n")
    deps.blobs.write_bytes(f"{HOME}/b.csv", b"f1,y\n2,1\n")
    assert expand_braces("d/{a,b{1,2}}.csv") == ["d/a.csv", "d/b1.csv", "d/b2.csv"]
    ds = {"uri": f"{HOME}/{{a,b}}.csv", "format": "csv", "target": "y"}
    assert deps.repo.get_job(submit(deps, spec_dict(dataset=ds))).state is JobState.RUNNING
    ds = {"uri": f"{HOME}/{{a,b}}.csv", "format": "csv", "target": "z"}
    job = deps.repo.get_job(submit(deps, spec_dict(job_id="job-2", dataset=ds)))
    assert job.state is JobState.REJECTED and "target column 'z'" in job.error
    ds = {"uri": f"{HOME}/{{c,e}}.csv", "format": "csv", "target": "y"}
    job = deps.repo.get_job(submit(deps, spec_dict(job_id="job-3", dataset=ds)))
    assert job.state is JobState.REJECTED and "matches no objects" in job.error


# --- 15.5: job files from another bucket ----------------------------------------------------------
def test_a_job_file_notification_from_another_bucket_is_ignored_and_logged(deps, caplog):
    deps.blobs.write_bytes("gs://evil/jobs/x.json", json.dumps(spec_dict()).encode())
    msg = PubSubMessage(b"{}", {"bucketId": "evil", "objectId": "jobs/x.json", "eventType": "OBJECT_FINALIZE"}, "n1")
    with caplog.at_level(logging.WARNING, logger="zygarde"):
        assert edge.submit_job(msg, deps) is None
    assert deps.repo.jobs == {} and deps.launcher.create_calls == 0
    assert "job file notification from another bucket ignored bucket=evil" in caplog.text


# --- 15.8: zygarde submit validates as the function does -------------------------------------------
def run_cli_submit(deps, monkeypatch, tmp_path, raw: bytes):
    monkeypatch.setattr(cli_common, "local_deps", lambda: deps)
    path = tmp_path / "job.json"
    path.write_bytes(raw)
    return CliRunner().invoke(cli.main, ["submit", str(path)], env={"ZYGARDE_IDENTITY_TOKEN": token(OWNER)})


@pytest.mark.parametrize("raw, words", [
    (b"[" * 5000, "nests"),
    (b'{"owner": "\\ud800"}', "not valid Unicode"),
    (json.dumps(spec_dict(task=["regression"])).encode(), "task"),
    (json.dumps(spec_dict(dataset={"uri": f"{HOME}/none.csv", "format": "csv", "target": "y"})).encode(),
     "does not exist"),
    (json.dumps(spec_dict(dataset={"uri": "gs://bkt/datasets/bob/d.csv", "format": "csv", "target": "y"})).encode(),
     "owner's folder"),
])
def test_zygarde_submit_prints_the_reason_exits_non_zero_and_publishes_nothing(deps, monkeypatch, tmp_path, raw,
                                                                              words):
    result = run_cli_submit(deps, monkeypatch, tmp_path, raw)
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split()) and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert deps.publisher.messages == []


def test_zygarde_submit_and_the_function_give_the_same_reason(deps, monkeypatch, tmp_path):
    raw = json.dumps(spec_dict(dataset={"uri": DATA_URI, "format": "csv", "target": "price"})).encode()
    result = run_cli_submit(deps, monkeypatch, tmp_path, raw)
    reason = deps.repo.get_job(submit(deps, raw)).error
    assert result.exit_code == 2 and reason in " ".join(result.output.split())


# --- 15.9: log lines name the handler --------------------------------------------------------------
def test_permanent_error_log_lines_name_the_function_s_handler(deps, monkeypatch, caplog):
    logger = logging.getLogger("zygarde")
    before = logger.propagate, list(logger.handlers), logger.level
    try:
        main = pytest.importorskip("functions.main")  # configures JSON logging, not propagated
        logger.propagate = True
        monkeypatch.setattr(main.bootstrap, "deps", lambda: deps)

        def missing(msg, settings):
            raise NotFound("trial job-9/t0000 not found")

        monkeypatch.setattr(edge, "results_message", missing)
        with caplog.at_level(logging.ERROR, logger="zygarde"):
            acknowledge_permanent_errors(edge.on_trial_result)(PubSubMessage(b"", {}, "m7"), deps)
    finally:
        logger.propagate, logger.handlers[:], _ = before
        logger.setLevel(before[2])
    assert "handler=on_trial_result message_id=m7" in caplog.text and "<lambda>" not in caplog.text


# --- 14.2: dataset paths ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, bad", [
    ("datasets/ana/d.csv", False), ("datasets/ana/part-0.csv", False), ("datasets/ana/a..b.csv", False),
    ("datasets/ana/folder/", False), ("datasets/../artifacts/j/data/train", True), ("datasets/ana/./d.csv", True),
    ("datasets/ana/%2e%2e/x", True), ("datasets/ana/%2E./x", True), ("datasets/ana/%252e%252e/x", True),
    ("datasets/ana//x", True), ("datasets\\ana\\x", True), ("datasets/ana/%5cx", True), ("..", True),
])
def test_dataset_object_problem_refuses_names_spark_would_resolve_elsewhere(name, bad):
    assert (datasets.dataset_object_problem(name) is not None) is bad


def test_a_decoy_object_named_with_dot_segments_is_not_read(deps):
    deps.blobs.write_bytes("gs://bkt/artifacts/job-1/data/train/part-0.csv", b"secret,y\n1,0\n")
    deps.blobs.write_bytes("gs://bkt/datasets/../artifacts/job-1/data/train", b"f1,y\n1,0\n")
    ds = {"uri": "gs://bkt/datasets/../artifacts/job-1/data/train", "format": "csv", "target": "y"}
    job = deps.repo.get_job(submit(deps, spec_dict(dataset=ds)))
    assert job.state is JobState.REJECTED and "'..' segment" in job.error and deps.launcher.create_calls == 0


def test_the_accepted_job_is_the_same_through_a_redelivery(deps):
    first = submit(deps, spec_dict(job_id=None), "same")
    writes = deps.repo.writes
    assert submit(deps, spec_dict(job_id=None), "same") == first and deps.repo.writes == writes
    assert dataclasses.asdict(deps.repo.get_job(first))["state"] is JobState.RUNNING
    assert edge.submit_job(job_message(), deps) == "job-1"
