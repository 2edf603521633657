"""Which input column each entry of a Zygarde model's feature vector comes from.

The first stage copies the user's columns into internal names (features.py: numeric `zy__n{i}`,
categorical `zy__s{j}`, vectors `zy__v{k}`); later stages keep the kind and number (imputed `zy__i`,
clipped `zy__c`, indexed `zy__x`, one-hot `zy__o`). The assembled vector's ML attributes name each
entry after the stage column it came from (`zy__o2_large`, `zy__i0`), so every entry maps back to one
input column: a one-hot block aggregates to its categorical column.
"""
from __future__ import annotations

import re

from pyspark.ml import PipelineModel
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import DataFrame


_COPY = re.compile(r"(?:CAST\()?(`(?:[^`]|``)*`)(?: AS (?:DOUBLE|STRING)\))? AS (zy__[nsv]\d+)")
_INTERNAL = re.compile(r"^zy__([a-z])(\d+)")
_KIND = {"n": "n", "i": "n", "c": "n", "s": "s", "x": "s", "o": "s", "v": "v"}


def source_columns(model: PipelineModel) -> dict[str, str]:
    """Internal copy name (zy__n0, zy__s1, zy__v0) -> the user's column, from the first (copy) stage."""
    statement = model.stages[0].getStatement()
    return {internal: quoted[1:-1].replace("``", "`") for quoted, internal in _COPY.findall(statement)}


def _source(internal_name: str, sources: dict[str, str]) -> str | None:
    match = _INTERNAL.match(internal_name)
    if match is None or match[1] not in _KIND:
        return None
    return sources.get(f"zy__{_KIND[match[1]]}{match[2]}")


def feature_columns(model: PipelineModel, sample: DataFrame) -> list[str] | None:
    """The input column behind each entry of the learner's feature vector, in order; None when the
    pipeline is not Zygarde's or the vector's layout cannot be read."""
    assembler = next((s for s in model.stages if isinstance(s, VectorAssembler)), None)
    sources = source_columns(model)
    if assembler is None or not sources:
        return None
    stages = model.stages[:model.stages.index(assembler) + 1]
    assembled = PipelineModel(stages).transform(sample.limit(1)).schema[assembler.getOutputCol()]
    attrs = (assembled.metadata.get("ml_attr") or {})
    size = int(attrs.get("num_attrs") or 0)
    out: list[str | None] = [None] * size
    for group in (attrs.get("attrs") or {}).values():
        for attr in group:
            if 0 <= attr.get("idx", -1) < size:
                out[attr["idx"]] = _source(str(attr.get("name", "")), sources)
    vectors = [name for internal, name in sources.items() if internal.startswith("zy__v")]
    if None in out and len(vectors) == 1:  # a vector column's entries carry no names of their own
        out = [vectors[0] if c is None else c for c in out]
    if not out or None in out:
        return None
    return out  # type: ignore[return-value]

