"""Scoring with an ensemble package: each member's PipelineModel applied in turn to the same rows (their
own preprocessing included), then the weighted average of their class probabilities (or values).

The members are chained, not joined: each transforms the frame the previous one left (the input
columns and the members' outputs so far, zy__m0, zy__m1, ...), so the rows never need an id. The
result has what a single model's transform gives the rest of Zygarde: `prediction` (the class index
of the highest averaged probability, the first of equals, or the averaged value), `probability` (a
vector) and `predicted_label` (the class name) for classification.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.ml import PipelineModel
from pyspark.ml.feature import IndexToString
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from zygarde.domain.errors import DatasetError
from zygarde.spark import hadoop_fs
from zygarde.spark.fitting import PREDICTED_LABEL

MEMBERS_DIR = "members"  # {package_uri}members/{i}: the members' PipelineModels, in the manifest's order
_AVERAGE = "zy__ensemble"


@dataclass(frozen=True)
class Member:
    model: PipelineModel
    weight: float


def member_uri(package_uri: str, index: int) -> str:
    return f"{package_uri.rstrip('/')}/{MEMBERS_DIR}/{index}"


def load(manifest: dict, package_root: str | None = None) -> tuple[list[Member], list[str] | None]:
    """The members of an ensemble package's manifest (its `ensemble` section), and the class names; read
    under `package_root` (members/{i}: a copy of the package, e.g. downloaded) when given, else where the
    manifest says they were written."""
    members = []
    for i, entry in enumerate(manifest["ensemble"]["members"]):
        uri = member_uri(package_root, i) if package_root is not None else entry["model_uri"]
        members.append(Member(PipelineModel.load(hadoop_fs.qualify(uri)), float(entry["weight"])))
    if not members:
        raise DatasetError("the ensemble package lists no members")
    return members, manifest.get("labels")


def _quoted(name: str) -> Column:
    return F.col("`" + name.replace("`", "``") + "`")


def transform(members: list[Member], df: DataFrame, labels: list[str] | None) -> DataFrame:
    """`df` with the ensemble's prediction (and probability, predicted_label for classification)."""
    base, outputs = list(df.columns), []
    out = df
    for i, member in enumerate(members):
        scored = member.model.transform(out)
        value = vector_to_array(F.col("probability")) if labels else F.col("prediction").cast("double")
        name = f"zy__m{i}"
        out = scored.select(*map(_quoted, base), *map(F.col, outputs), value.alias(name))
        outputs.append(name)
    weights = [m.weight for m in members]
    if not labels:
        total = sum((F.lit(w) * F.col(c) for w, c in zip(weights, outputs)), F.lit(0.0))
        return out.withColumn("prediction", total).drop(*outputs)
    average = F.array(*[sum((F.lit(w) * F.col(c)[k] for w, c in zip(weights, outputs)), F.lit(0.0))
                        for k in range(len(labels))])
    out = out.withColumn(_AVERAGE, average)
    out = (out.withColumn("probability", array_to_vector(F.col(_AVERAGE)))
              .withColumn("prediction", (F.array_position(F.col(_AVERAGE), F.array_max(F.col(_AVERAGE))) - 1)
                          .cast("double"))
              .drop(_AVERAGE, *outputs))
    return IndexToString(inputCol="prediction", outputCol=PREDICTED_LABEL, labels=labels).transform(out)


def save(spark: SparkSession, members: list[Member], package_uri: str) -> list[str]:
    """Writes each member's PipelineModel under {package_uri}members/{i}; their URIs."""
    uris = []
    for i, member in enumerate(members):
        uri = member_uri(package_uri, i)
        member.model.write().overwrite().save(hadoop_fs.qualify(uri))
        uris.append(uri)
    return uris
