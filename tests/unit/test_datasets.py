"""The submission-time dataset check: objects, folders of part files, globs; CSV, JSON lines,
Parquet (from its footer), LIBSVM; a clear reason for each way it can be wrong."""
from __future__ import annotations

import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.unit.conftest import spec_dict
from zygarde.adapters.memory import MemoryBlobStore
from zygarde.domain.errors import AccessDenied, DatasetError, NotFound
from zygarde.domain.spec import parse_job_spec
from zygarde.service_layer import datasets


class CountingBlobStore(MemoryBlobStore):
    def __init__(self) -> None:
        super().__init__()
        self.bytes_read = 0

    def read_bytes(self, uri, max_bytes=None):
        data = super().read_bytes(uri, max_bytes)
        self.bytes_read += len(data)
        return data

    def read_tail(self, uri, n):
        data = super().read_tail(uri, n)
        self.bytes_read += len(data)
        return data


def spec(uri: str, fmt: str = "csv", target: str = "y", **options):
    return parse_job_spec(spec_dict(dataset={"uri": uri, "format": fmt, "target": target, "options": options}))


def parquet_bytes(**columns) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


@pytest.fixture
def blobs():
    return CountingBlobStore()


def test_csv_object_with_and_without_the_target(blobs):
    blobs.write_bytes("gs://bkt/d.csv", b"a,y\n1,0\n")
    datasets.check(spec("gs://bkt/d.csv"), blobs)
    with pytest.raises(DatasetError, match=r"target column 'label' is not in gs://bkt/d.csv \(columns: a, y\)"):
        datasets.check(spec("gs://bkt/d.csv", target="label"), blobs)


def test_missing_and_empty_datasets(blobs):
    with pytest.raises(DatasetError, match="dataset gs://bkt/none.csv does not exist"):
        datasets.check(spec("gs://bkt/none.csv"), blobs)
    blobs.write_bytes("gs://bkt/empty.csv", b"  \n")
    with pytest.raises(DatasetError, match="is empty"):
        datasets.check(spec("gs://bkt/empty.csv"), blobs)


def test_parquet_columns_come_from_the_footer_without_reading_the_data(blobs):
    data = parquet_bytes(a=list(range(200_000)), y=[0, 1] * 100_000)
    blobs.write_bytes("gs://bkt/d.parquet", data)
    datasets.check(spec("gs://bkt/d.parquet", "parquet"), blobs)
    assert blobs.bytes_read <= datasets.HEAD_BYTES < len(data)
    with pytest.raises(DatasetError, match=r"target column 'label' is not in .* \(columns: a, y\)"):
        datasets.check(spec("gs://bkt/d.parquet", "parquet", target="label"), blobs)


def test_a_parquet_footer_larger_than_the_first_read_is_read_whole(blobs):
    wide = {f"feature_with_a_long_name_{i:04d}": [1.0] for i in range(1500)}
    data = parquet_bytes(**wide, y=[1])
    blobs.write_bytes("gs://bkt/wide.parquet", data)
    datasets.check(spec("gs://bkt/wide.parquet", "parquet"), blobs)
    with pytest.raises(DatasetError, match=r"columns: feature_with_a_long_name_0000, .* \.\.\."):
        datasets.check(spec("gs://bkt/wide.parquet", "parquet", target="nope"), blobs)


def test_a_csv_said_to_be_parquet_is_refused_with_the_reason(blobs):
    blobs.write_bytes("gs://bkt/d.parquet", b"a,y\n1,0\n2,1\n3,0\n")
    with pytest.raises(DatasetError, match="is not a Parquet file"):
        datasets.check(spec("gs://bkt/d.parquet", "parquet"), blobs)


def test_a_folder_of_spark_part_files_is_sampled_past_side_files_and_empty_parts(blobs):
    blobs.write_bytes("gs://bkt/out/_SUCCESS", b"")
    blobs.write_bytes("gs://bkt/out/.part-00000.crc", b"xx")
    blobs.write_bytes("gs://bkt/out/_temporary/0/part-9", b"junk")
    blobs.write_bytes("gs://bkt/out/part-00000.csv", b"")
    blobs.write_bytes("gs://bkt/out/part-00001.csv", b"a,y\n1,0\n")
    for uri in ("gs://bkt/out", "gs://bkt/out/"):
        datasets.check(spec(uri), blobs)
    with pytest.raises(DatasetError, match=r"\(columns: a, y\)"):
        datasets.check(spec("gs://bkt/out", target="z"), blobs)
    blobs.write_bytes("gs://bkt/only-side/_SUCCESS", b"")
    with pytest.raises(DatasetError, match="does not exist"):
        datasets.check(spec("gs://bkt/only-side"), blobs)


def test_hive_partition_folders_provide_columns(blobs):
    blobs.write_bytes("gs://bkt/p/y=1/part-0.parquet", parquet_bytes(a=[1.0]))
    datasets.check(spec("gs://bkt/p", "parquet"), blobs)
    with pytest.raises(DatasetError, match=r"columns: a, y\)"):
        datasets.check(spec("gs://bkt/p", "parquet", target="q"), blobs)


def test_globs_match_objects(blobs):
    blobs.write_bytes("gs://bkt/d/2026-01.json", b'{"a": 1, "y": 0}\n')
    blobs.write_bytes("gs://bkt/d/2026-02.json", b'{"a": 2, "y": 1}\n')
    datasets.check(spec("gs://bkt/d/2026-*.json", "json"), blobs)
    with pytest.raises(DatasetError, match=r"dataset gs://bkt/d/2025-\*.json matches no objects"):
        datasets.check(spec("gs://bkt/d/2025-*.json", "json"), blobs)


def test_gzipped_csv_is_read_through(blobs):
    blobs.write_bytes("gs://bkt/d.csv.gz", gzip.compress(b"a;y\n1;0\n" * 1000))
    datasets.check(spec("gs://bkt/d.csv.gz", sep=";"), blobs)
    with pytest.raises(DatasetError, match=r"\(columns: a, y\)"):
        datasets.check(spec("gs://bkt/d.csv.gz", target="z", sep=";"), blobs)
    blobs.write_bytes("gs://bkt/bad.csv.gz", b"a,y\n")
    with pytest.raises(DatasetError, match="not gzip data"):
        datasets.check(spec("gs://bkt/bad.csv.gz"), blobs)


def test_json_and_libsvm_first_lines_are_checked(blobs):
    blobs.write_bytes("gs://bkt/d.json", b"a,y\n")
    with pytest.raises(DatasetError, match="not a JSON object"):
        datasets.check(spec("gs://bkt/d.json", "json"), blobs)
    blobs.write_bytes("gs://bkt/ok.svm", b"\n1 1:0.5 3:2\n0 2:1\n")
    datasets.check(spec("gs://bkt/ok.svm", "libsvm", target="label"), blobs)
    blobs.write_bytes("gs://bkt/d.svm", b"a,y\n1,0\n")
    with pytest.raises(DatasetError, match="not LIBSVM"):
        datasets.check(spec("gs://bkt/d.svm", "libsvm", target="label"), blobs)


class DeniedBlobStore(MemoryBlobStore):
    """What GcsBlobStore raises for a bucket Zygarde's service account may not read."""

    def exists(self, uri):
        raise AccessDenied(f"access to {uri} is denied (exists): 403 Forbidden")


def test_a_dataset_zygarde_may_not_read_is_a_dataset_error_that_says_so():
    with pytest.raises(DatasetError, match=r"may not read dataset gs://other/d.csv: .*403 .*grant"):
        datasets.check(spec("gs://other/d.csv"), DeniedBlobStore())


def test_a_missing_bucket_is_a_dataset_error(blobs):
    class NoBucket(MemoryBlobStore):
        def list(self, uri_prefix):
            raise NotFound("gs://nobucket/ does not exist")

    with pytest.raises(DatasetError, match="dataset gs://nobucket/d does not exist"):
        datasets.check(spec("gs://nobucket/d"), NoBucket())


def test_in_zygarde_s_bucket_only_the_owner_s_datasets_folder_holds_datasets(blobs):
    blobs.write_bytes("gs://bkt/artifacts/someone-else/data/train/part-0.csv", b"a,y\n1,0\n")
    blobs.write_bytes("gs://bkt/datasets/ana@example.com/mine.csv", b"a,y\n1,0\n")
    blobs.write_bytes("gs://bkt/datasets/bob/his.csv", b"a,y\n1,0\n")
    with pytest.raises(DatasetError, match=r"datasets in Zygarde's bucket live under gs://bkt/datasets/ana@example.com/"):
        datasets.check(spec("gs://bkt/artifacts/someone-else/data/train"), blobs, "bkt")
    with pytest.raises(DatasetError, match=r"live under gs://bkt/datasets/ana@example.com/ \(the owner's folder\)"):
        datasets.check(spec("gs://bkt/datasets/bob/his.csv"), blobs, "bkt")
    datasets.check(spec("gs://bkt/datasets/ana@example.com/mine.csv"), blobs, "bkt")
    datasets.check(spec("gs://bkt/artifacts/someone-else/data/train"), blobs, "other-bucket")
