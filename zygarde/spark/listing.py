"""The one listing of a dataset in a batch: every object a glob or a folder listing returns passes
the submission's path rules again (zygarde.domain.dataset_paths), the listing is bounded in objects,
listings and depth, and Spark is then given the checked files by name, so it lists nothing itself.

An object written after the job was accepted, such as `datasets/B/racedir/../../A/secret.csv`, lists
as a folder outside the one listed (Hadoop's Path resolves the `..`): Spark's own recursive listing
walked back up into it for ever. Here it fails the stage with one sentence naming the object.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, DataFrameReader, SparkSession

from zygarde.domain.dataset_paths import dataset_object_problem, listed_object_problem, object_name
from zygarde.domain.errors import DatasetError
from zygarde.spark.hadoop_fs import qualify
from zygarde.spark.wide import jvm_seq

log = logging.getLogger(__name__)

MAX_OBJECTS = 100_000  # files and folders a dataset may take in
MAX_LISTINGS = 10_000  # folder listings while looking for them
MAX_DEPTH = 32  # folder levels below the dataset's URI (or a glob's match)
GLOB_CHARS = "*?[{"
_HADOOP_GLOB = "{}[]*?\\"  # what Spark treats as a glob in a path it is given


@dataclass(frozen=True)
class Listing:
    """A dataset's data files, checked: the file system, their FileStatus sorted by path, and the
    folder Spark should infer partition columns from (the URI, when it names a folder)."""

    uri: str
    fs: Any
    files: tuple[Any, ...]
    base_path: str | None = None


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


class _Walk:
    def __init__(self, uri: str, home: str | None) -> None:
        self.uri, self.home = uri, home
        self.objects = self.listings = 0

    def refuse(self, found: str, reason: str) -> DatasetError:
        log.warning("dataset object refused uri=%s object=%s reason=%s", self.uri, found, reason)
        return DatasetError(f"the dataset {self.uri} takes in the object {found}, which {reason}")

    def count(self, n: int = 1) -> None:
        self.objects += n
        if self.objects > MAX_OBJECTS:
            raise DatasetError(f"the dataset {self.uri} takes in more than {MAX_OBJECTS:,} objects; "
                               "combine its files or name fewer of them")

    def check(self, listed: str, found: str) -> None:
        """`found` came from listing (or globbing under) the folder `listed`."""
        reason = listed_object_problem(listed, found, self.home)
        if reason is not None:
            raise self.refuse(found, reason)

    def check_named(self, found: str) -> None:
        """`found` is the dataset's URI itself, as the file system spells it."""
        reason = dataset_object_problem(object_name(found))
        if reason is None and self.home is not None and not found.startswith(self.home.rstrip("/") + "/"):
            reason = f"is outside the owner's folder {self.home}"
        if reason is not None:
            raise self.refuse(found, reason)

    def folder(self, fs, root) -> list:
        """The data files under folder `root`, level by level (never a recursive listing)."""
        files, todo = [], [(root, 0)]
        while todo:
            folder, depth = todo.pop()
            self.listings += 1
            if self.listings > MAX_LISTINGS:
                raise DatasetError(f"the dataset {self.uri} needs more than {MAX_LISTINGS:,} folder listings; "
                                   "combine its files or name fewer of them")
            listed = str(folder)
            children = list(fs.listStatus(folder) or [])
            self.count(len(children))
            for status in children:
                path = status.getPath()
                self.check(listed, str(path))
                if _hidden(str(path.getName())):
                    continue  # _SUCCESS, _temporary/, .crc files: not data, as Spark says
                if status.isDirectory():
                    if depth + 1 > MAX_DEPTH:
                        raise DatasetError(f"the dataset {self.uri} has folders nested more than {MAX_DEPTH} "
                                           "levels deep")
                    todo.append((path, depth + 1))
                else:
                    files.append(status)
        return files


def _glob_base(qualified: str) -> str:
    """The folder a glob's matches must lie in: up to the last '/' before its first glob character."""
    first = min(qualified.index(c) for c in GLOB_CHARS if c in qualified)
    return qualified[:qualified.rindex("/", 0, first) + 1]


def list_dataset(spark: SparkSession, uri: str, home: str | None = None) -> Listing:
    """The checked data files of `uri` (one file, a folder, or a glob). `home`: the owner's folder,
    which every object must lie under. Raises DatasetError naming the first object that breaks a
    rule, or when there is no data."""
    jvm = spark.sparkContext._jvm
    qualified = qualify(uri)
    path = jvm.org.apache.hadoop.fs.Path(qualified)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    spelled = (lambda u: str(jvm.org.apache.hadoop.fs.Path(qualify(u))))  # as the file system writes paths
    walk = _Walk(uri, spelled(home) if home else None)
    glob = any(c in qualified for c in GLOB_CHARS)
    matches = list(fs.globStatus(path) or []) if glob else ([fs.getFileStatus(path)] if fs.exists(path) else [])
    if not matches:
        raise DatasetError(f"no dataset at {uri}")
    walk.count(len(matches))
    files, base_path = [], None
    for status in matches:
        found = str(status.getPath())
        if glob:
            walk.check(spelled(_glob_base(qualified)), found)
        else:
            walk.check_named(found)
        if not status.isDirectory():
            files.append(status)  # named (or matched) explicitly: data even if hidden-looking
            continue
        files += walk.folder(fs, status.getPath())
        base_path = None if glob else found
    if not files:
        raise DatasetError(f"no data files at {uri}")
    log.info("dataset listed uri=%s files=%d listings=%d", uri, len(files), walk.listings)
    return Listing(uri=uri, fs=fs, files=tuple(sorted(files, key=lambda f: str(f.getPath()))), base_path=base_path)


def _literal(path: str) -> str:
    """A file path Spark reads as itself, not as a glob."""
    return "".join("\\" + c if c in _HADOOP_GLOB else c for c in path)


def load(spark: SparkSession, reader: DataFrameReader, listing: Listing) -> DataFrame:
    """The listed files read by `reader` (format and options set), partition columns inferred from
    the listed folder: Spark gets the file names and lists nothing itself."""
    if listing.base_path is not None:
        reader = reader.option("basePath", listing.base_path)
    paths = jvm_seq(spark, [_literal(str(f.getPath())) for f in listing.files])
    return DataFrame(reader._jreader.load(paths), spark)
