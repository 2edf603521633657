"""Hostile input files through the real preparation (spark_jobs/prepare_data.py, in-process on local
Spark): each either prepares (BOM, valid gzip, wide) or fails with one readable sentence that says what
is wrong with the file: no raw bytes, codec internals, JVM classes or driver stack traces."""
from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.unit.spark import wide_batch
from tests.unit.spark.wide_batch import WIDE
from zygarde.domain.contracts import PrepareResult
from zygarde.spark.failures import describe_failure
from zygarde.spark.privacy import secret_name
from zygarde.spark.sniffing import text_problem

from .test_prepare import prepare, spark  # noqa: F401 - the preparation helper and its session

_RAW = re.compile(r"[\x00-\x08\x0e-\x1f\ufffd\ufeff]|Driver stacktrace|codec can't|Exception|\bat org\.|\n")


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A small messy survey export: a categorical, numbers with gaps, text with accents, a binary target."""
    rng = np.random.default_rng(5)
    n = 80
    frame = pd.DataFrame({
        "churned": rng.choice(["yes", "no"], n),
        "region": rng.choice(["Île-de-France", "Bretagne", "Occitanie", None], n),
        "tenure_months": rng.integers(1, 120, n),
        "monthly_fee": np.where(rng.random(n) < 0.1, np.nan, rng.normal(30, 8, n).round(2)),
    })
    root = tmp_path_factory.mktemp("hostile")
    return root, frame


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def _failed_with_sentence(code, result) -> str:
    assert code == 1 and result.status == "FAILED", result
    assert result.error and not _RAW.search(result.error), result.error
    return result.error


def _run(prepare, path: Path, **fields):  # noqa: F811
    return prepare(path, target=fields.pop("target", "churned"), **fields)


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf"], ids=["bom", "double-bom"])
def test_a_byte_order_mark_before_the_target_header_is_ignored(prepare, survey, bom):  # noqa: F811
    root, frame = survey
    path = root / f"bom{len(bom)}.csv"
    path.write_bytes(bom + _csv(frame))  # the target is the first column: its name follows the mark
    code, result, _ = _run(prepare, path)
    assert code == 0 and result.status == "SUCCEEDED", result.error
    assert [c["name"] for c in result.report["schema"]][0] == "churned"


def test_empty_and_header_only_files_say_so(prepare, survey):  # noqa: F811
    root, frame = survey
    (root / "empty.csv").write_bytes(b"")
    (root / "header.csv").write_bytes(_csv(frame.head(0)))
    assert "is empty" in _failed_with_sentence(*_run(prepare, root / "empty.csv")[:2])
    reason = _failed_with_sentence(*_run(prepare, root / "header.csv")[:2])
    assert "only 0 rows with a target value" in reason


def test_a_parquet_file_named_csv_is_named_as_parquet(prepare, survey):  # noqa: F811
    root, frame = survey
    frame.to_parquet(root / "export.csv", index=False)
    reason = _failed_with_sentence(*_run(prepare, root / "export.csv")[:2])
    assert reason == "the file export.csv is a Parquet file, not CSV text; set the dataset format to parquet"
    assert _run(prepare, root / "export.csv", dataset_format="parquet")[1].status == "SUCCEEDED"


def test_text_in_other_encodings_is_named_not_decoded(prepare, survey):  # noqa: F811
    root, frame = survey
    (root / "latin1.csv").write_bytes(frame.to_csv(index=False).encode("latin-1"))
    (root / "utf16.csv").write_bytes(frame.to_csv(index=False).encode("utf-16"))
    reason = _failed_with_sentence(*_run(prepare, root / "latin1.csv")[:2])
    assert reason.startswith("the file latin1.csv is not valid UTF-8 text (byte 0x")
    assert _failed_with_sentence(*_run(prepare, root / "utf16.csv")[:2]) == \
        "the file utf16.csv is UTF-16 text; save it as UTF-8"
    code, result, _ = _run(prepare, root / "latin1.csv", dataset_options={"encoding": "ISO-8859-1"})
    assert code == 0, result.error
    assert "Île-de-France" in [v for v, _ in result.report["columns"]["region"]["top"]]


def test_binary_content_is_refused_without_its_bytes(prepare, survey):  # noqa: F811
    root, _ = survey
    rng = np.random.default_rng(9)
    (root / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.bytes(4000))
    reason = _failed_with_sentence(*_run(prepare, root / "image.csv")[:2])
    assert reason == "the file image.csv is binary (it contains NUL bytes), not CSV text"


def test_gzip_valid_corrupt_and_misnamed(prepare, survey):  # noqa: F811
    root, frame = survey
    (root / "ok.csv.gz").write_bytes(gzip.compress(_csv(frame)))
    code, result, _ = _run(prepare, root / "ok.csv.gz")
    assert code == 0 and result.report["row_count"] == len(frame), result.error

    whole = gzip.compress(_csv(pd.concat([frame] * 20)))
    (root / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])  # an interrupted upload
    (root / "plain.csv.gz").write_bytes(_csv(frame))
    (root / "zipped.csv").write_bytes(gzip.compress(_csv(frame)))
    for name in ("cut.csv.gz", "plain.csv.gz"):
        reason = _failed_with_sentence(*_run(prepare, root / name)[:2])
        assert reason.startswith(f"the file {name} cannot be decompressed: it is truncated or corrupt"), reason
        assert _run(prepare, root / name)[1].error_kind == "data"
    assert "gzip-compressed" in _failed_with_sentence(*_run(prepare, root / "zipped.csv")[:2])


def test_a_gzip_bomb_expanding_into_one_endless_line_is_refused_before_spark_reads_it(prepare, survey):  # noqa: F811
    root, _ = survey
    member = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = member.compress(b"0" * (1 << 20)) + member.flush()  # 1 MB of zeros in about 1 kB
    (root / "bomb.csv.gz").write_bytes(block * 200)  # concatenated gzip members: 200 MB, no newline
    reason = _failed_with_sentence(*_run(prepare, root / "bomb.csv.gz")[:2])
    assert reason.startswith("the file bomb.csv.gz has a first line longer than 1 MB"), reason


def test_one_class_and_all_null_targets_fail_with_the_reason(prepare, survey):  # noqa: F811
    root, frame = survey
    frame.assign(churned="no").to_csv(root / "one_class.csv", index=False)
    frame.assign(churned=None).to_csv(root / "no_target.csv", index=False)
    reason = _failed_with_sentence(*_run(prepare, root / "one_class.csv")[:2])
    assert "target 'churned' has 1 distinct value ('no'); classification needs at least 2 classes" in reason
    reason = _failed_with_sentence(*_run(prepare, root / "no_target.csv")[:2])
    assert "only 0 rows with a target value" in reason


def test_a_wide_dataset_prepares_with_a_full_report(prepare, survey):  # noqa: F811
    """500 measurement columns (past the 100 where the report switches to one pass per column): one pass
    over all distinct counts would plan 500 x 500 expressions."""
    root, _ = survey
    rng = np.random.default_rng(3)
    n, k = 30, 500
    wide = pd.DataFrame(rng.normal(size=(n, k)).round(4), columns=[f"probe_{i}" for i in range(k)])
    wide.iloc[::4, 7] = np.nan
    wide.insert(0, "sample_id", [f"S{i:03d}" for i in range(n)])
    wide["batch"] = rng.choice(["b1", "b2"], n)
    wide["count_7"] = rng.integers(0, 3, n)
    wide["churned"] = np.where(np.arange(n) % 2 == 0, "yes", "no")
    wide.to_csv(root / "wide.csv", index=False)
    code, result, _ = _run(prepare, root / "wide.csv", min_rows=10)
    assert code == 0 and result.status == "SUCCEEDED", result.error
    columns = result.report["columns"]
    assert len(columns) == k + 4
    probe = columns["probe_7"]
    assert probe["nulls"] == len(wide.iloc[::4]) and probe["distinct"] == wide["probe_7"].nunique()
    assert probe["min"] == wide["probe_7"].min() and probe["max"] == wide["probe_7"].max()
    assert probe["mean"] == pytest.approx(wide["probe_7"].mean())
    assert columns["count_7"]["min"] == int(wide["count_7"].min()) and isinstance(columns["count_7"]["min"], int)
    assert columns["batch"]["distinct"] == 2 and sum(n for _, n in columns["batch"]["top"]) == n
    assert sum(result.rows.values()) == n


@pytest.fixture(scope="module")
def wide_preparations():
    """Every wide export prepared by one batch process in its own JVM, as a batch starts (a 20,000-column
    plan wants gigabytes of heap: in the tests' shared JVM, after a hundred other tests, it ran out on CI
    and took every later Spark test with it; alone it prepares in 1.5 GB). On a cold JVM the first costs
    a minute or more of CPU, so tests/conftest.py starts it in the background once the tests are
    collected (wide_batch.py). -> (exit code, stderr, {(columns, target): (frame, values, result path)})."""
    return wide_batch.results()


@pytest.mark.parametrize("columns, target", WIDE, ids=["10k-first", "10k-last", "20k-last"])
def test_ten_and_twenty_thousand_columns_prepare(wide_preparations, columns, target):
    """A wide sensor export (the audit's 10,000 columns overflowed Spark's stack, target first or last, and
    were retried for 14 minutes): no expression grows with the columns, so it prepares, and 20,000 (the
    submission's limit) too. Few rows: the columns are what is hard."""
    code, stderr, cases = wide_preparations
    frame, values, result_path = cases[(columns, target)]
    assert result_path.exists(), stderr[-3000:]
    result = PrepareResult.from_json(result_path.read_text())
    assert result.status == "SUCCEEDED", result.error
    report = result.report
    assert [c["name"] for c in report["schema"]] == list(frame.columns)
    assert report["class_balance"] == {"no": 12, "yes": 12} and sum(result.rows.values()) == len(frame)
    probe = report["columns"]["sensor_00005"]
    assert probe["nulls"] == 8 and probe["min"] == pytest.approx(np.nanmin(values[:, 5]))
    assert probe["mean"] == pytest.approx(np.nanmean(values[:, 5]))
    assert len(pq.read_schema(next(Path(result.parts["train"]).glob("*.parquet")))) == columns + 1
    assert code == 0, stderr[-3000:]


def test_a_stack_overflow_from_the_jvm_is_deterministic_never_retried(spark):  # noqa: F811
    """A real java.lang.StackOverflowError thrown through py4j: another attempt would overflow too."""
    jvm = spark.sparkContext._jvm
    try:
        jvm.scala.util.Failure(jvm.java.lang.StackOverflowError()).get()
    except Exception as exc:  # noqa: BLE001 - py4j's error class
        kind, message = describe_failure(exc, "data preparation")
    else:
        raise AssertionError("no error")
    assert kind == "deterministic" and "ran out of stack space" in message and not _RAW.search(message)


def test_secret_looking_columns_report_counts_not_values(prepare, survey):  # noqa: F811
    root, frame = survey
    rng = np.random.default_rng(4)
    n = len(frame)
    users = frame.assign(
        email=[f"user{i}@example.org" for i in range(n)],
        password=rng.choice(["hunter2", "letmein", "Passw0rd!"], n),
        session_ref=[f"{rng.integers(1 << 40):x}" for _ in range(n)],
        ssn=rng.integers(100_000_000, 999_999_999, n),
    )
    users.to_csv(root / "users.csv", index=False)
    code, result, _ = _run(prepare, root / "users.csv")
    assert code == 0, result.error
    columns = result.report["columns"]
    text = str(result.report)
    assert "hunter2" not in text and "user0@example.org" not in text and str(users["ssn"].min()) not in text
    for name in ("email", "password", "session_ref", "ssn"):
        assert columns[name]["top"] == [] and columns[name]["values_withheld"], name
    assert sum(columns["password"]["top_counts"]) == n
    assert columns["ssn"]["min"] is None and columns["ssn"]["mean"] is None
    assert columns["region"]["top"] and "values_withheld" not in columns["region"]  # a plain category


def test_secret_names():
    assert all(map(secret_name, ["password", "userPassword", "api_key", "E-mail", "customer_email", "SSN",
                                 "auth_token", "credit_card_number"]))
    assert not any(map(secret_name, ["passenger_count", "compass_heading", "classname", "region", "mailbox_size"]))


def test_out_of_memory_from_the_jvm_is_a_resource_failure_naming_the_stage(spark):  # noqa: F811
    """A real java.lang.OutOfMemoryError thrown through py4j, as the driver raises it."""
    jvm = spark.sparkContext._jvm
    try:
        jvm.scala.util.Failure(jvm.java.lang.OutOfMemoryError("Java heap space")).get()
    except Exception as exc:  # noqa: BLE001 - py4j's error class
        kind, message = describe_failure(exc, "data preparation")
    else:
        raise AssertionError("no error")
    assert kind == "resource"
    assert message.startswith("the data preparation ran out of memory in the driver (Java heap space); "
                              "give the batch more memory")
    assert "fewer columns" in message and not _RAW.search(message)


def test_executor_out_of_memory_and_gc_overhead_are_resource_failures():
    lost = ("An error occurred while calling o812.collectToPython.\n: org.apache.spark.SparkException: Job aborted "
            "due to stage failure: Task 3 in stage 14.0 failed 4 times, most recent failure: Lost task 3.3 in stage "
            "14.0 (TID 57) (10.0.0.7 executor 2): java.lang.OutOfMemoryError: GC overhead limit exceeded\n"
            "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\nDriver stacktrace:\n\tat org.apache.spark")
    kind, message = describe_failure(RuntimeError(lost), "training")
    assert kind == "resource" and "training ran out of memory in an executor (GC overhead limit exceeded)" in message
    assert describe_failure(MemoryError(), "prediction")[0] == "resource"


def test_text_problem_rules():
    assert text_problem(b"y,x\n1,2\n", "csv") is None
    assert text_problem("région,y\n".encode("latin-1"), "csv").startswith("is not valid UTF-8 text (byte 0xE9")
    assert text_problem("région,y\n".encode("latin-1"), "csv", encoding="latin1") is None
    assert text_problem(b"PK\x03\x04rest", "csv").startswith("is a ZIP archive")
    assert text_problem(b"0" * (1024 * 1024), "json").startswith("has a first line longer than 1 MB")
    assert text_problem(b"[" + b"0," * (1024 * 512), "json", multiline=True) is None
    assert text_problem("y,x\n1,é".encode()[:-1], "csv") is not None  # a short file cut mid-character
