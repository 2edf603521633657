"""Scoring rows with a registered version, the two ways the CLI does: the predict service over HTTP
(`zygarde predict`: POST /v1/models/NAME/versions/V:predict, the user's identity token as the bearer)
for a version that serves online, and a Dataproc batch (`zygarde predict-batch`:
service_layer.batch_prediction) over the rows uploaded as Parquet under datasets/{owner}/ otherwise."""
from __future__ import annotations

import json
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from zygarde.client.errors import PredictionFailed, WaitTimeout

if TYPE_CHECKING:
    from zygarde.client.connection import Connection

log = logging.getLogger("zygarde.client")

ROWS_PER_REQUEST = 500  # under the service's 1,000 rows and 4 MiB a request
ROW_ID = "zygarde_row_id"  # added to a batch's input, to give its predictions back in the input's order


def _json_value(value: Any) -> Any:
    """A cell as JSON: NaN and missing values are null, numpy scalars plain numbers, timestamps text."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency of the client
        pass
    return str(value)


def instances(df) -> list[dict[str, Any]]:
    """The frame's rows as the service's instances: [{column: value}]."""
    names = [str(c) for c in df.columns]
    return [{n: _json_value(v) for n, v in zip(names, row)} for row in df.itertuples(index=False, name=None)]


def online(conn: "Connection", name: str, version: int, df, explain: bool = False) -> tuple[list[dict], dict]:
    """(one answer row per input row, the last answer) from the predict service, ROWS_PER_REQUEST a request.
    PredictionFailed with the service's own reason (it names the field) when it refuses."""
    rows = instances(df)
    out: list[dict] = []
    answer: dict = {}
    for start in range(0, max(len(rows), 1), ROWS_PER_REQUEST):
        body: dict[str, Any] = {"instances": rows[start:start + ROWS_PER_REQUEST]}
        if explain:
            body["explain"] = True
        status, answer = conn.predict_http(name, str(version), json.dumps(body).encode())
        if status != 200:
            error = answer.get("error") or {}
            message = error.get("message") or answer
            field = f"{error['field']}: " if error.get("field") else ""
            raise PredictionFailed(f"the predict service refused ({status}): {field}{message}")
        out.extend(answer.get("predictions") or [])
    return out, answer


def online_frame(rows: list[dict], answer: dict, index):
    """prediction, label (classes) and one probability column per class, on the input's index."""
    import pandas as pd

    frame = pd.DataFrame({"prediction": [r.get("prediction") for r in rows]}, index=index)
    if any("label" in r for r in rows):
        frame["label"] = [r.get("label") for r in rows]
    if any("probabilities" in r for r in rows):
        width = max(len(r.get("probabilities") or []) for r in rows)
        classes = list(answer.get("classes") or [])
        names = classes if len(classes) == width else [str(i) for i in range(width)]
        for i, cls in enumerate(names):
            frame[f"probability_{cls}"] = [(r.get("probabilities") or [None] * width)[i] for r in rows]
    return frame


def batch(conn: "Connection", name: str, version: int, df, owner: str, timeout: float | None = None,
          poll: float = 2.0):
    """Score `df` in a Dataproc batch (as `zygarde predict-batch` does): the rows go up as Parquet under
    datasets/{owner}/ (with a row id), the batch writes Parquet, read back in the input's order."""
    import pandas as pd

    from zygarde.client.data import read_parquet_objects, stage
    from zygarde.domain.errors import DatasetError
    from zygarde.service_layer import batch_prediction

    if ROW_ID in df.columns:
        raise DatasetError(f"data: the column {ROW_ID!r} is Zygarde's own in a batch prediction; rename it")
    deps = conn.deps
    staged = stage(df.reset_index(drop=True).assign(**{ROW_ID: range(len(df))}), None, owner,
                   deps.settings.bucket, stem=f"predict-{name}")
    staged.write(deps.blobs)
    job = batch_prediction.submit(deps, name, version, staged.uri, "parquet", owner)
    log.info("batch prediction submitted model=%s version=%d batch_id=%s", name, version, job.batch_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    info = deps.launcher.get(job.batch_id)
    while not info.is_terminal:
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(f"prediction batch {job.batch_id} has not ended after {timeout:g} s")
        time.sleep(poll)
        info = deps.launcher.get(job.batch_id)
    if info.state != "SUCCEEDED":
        raise PredictionFailed(f"prediction batch {job.batch_id} ended {info.state}: "
                               f"{info.state_message or 'see its log'}")
    scored = read_parquet_objects(deps.blobs, job.output_uri).sort_values(ROW_ID)
    frame = pd.DataFrame({"prediction": scored["prediction"].to_numpy()}, index=df.index)
    if "predicted_label" in scored:
        frame["label"] = scored["predicted_label"].to_numpy()
    if "probability" in scored:
        probabilities = [list(p) if p is not None else [] for p in scored["probability"]]
        labels = _labels(deps, name, version)
        width = max((len(p) for p in probabilities), default=0)
        names = labels if labels and len(labels) == width else [str(i) for i in range(width)]
        for i, cls in enumerate(names):
            frame[f"probability_{cls}"] = [p[i] if i < len(p) else None for p in probabilities]
    frame.attrs["output_uri"] = job.output_uri
    return frame


def _labels(deps, name: str, version: int) -> list[str] | None:
    record = deps.repo.model_version(name, version) or {}
    try:
        return json.loads(deps.blobs.read_bytes(record["manifest_uri"])).get("labels")
    except Exception:  # noqa: BLE001 - no manifest: probability columns by index
        return None
