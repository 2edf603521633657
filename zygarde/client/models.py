"""`Model`: one registered version of a model the signed-in user may read (model_access: its owner and
the users it is shared with; anyone else is told it does not exist, as everywhere else)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zygarde.client.errors import ExplanationsUnavailable, NotAllowed, PredictionFailed
from zygarde.domain.errors import NotFound, SpecError

if TYPE_CHECKING:
    from zygarde.client.connection import Connection

log = logging.getLogger("zygarde.client")

ONLINE, BATCH = "online", "batch"


def readable_record(conn: "Connection", name: str, version: int | None) -> dict:
    """The version record (the latest for None) of a model the signed-in user may read; NotAllowed naming
    the model otherwise (absent and forbidden look alike)."""
    from zygarde.domain.raw_doc import safe_text
    from zygarde.service_layer import model_access

    me = conn.identity
    if model_access.readable_model(conn.deps.repo, name, me.key) is None:
        raise NotAllowed(f"there is no model {safe_text(str(name), 100)!r} that you ({me.email}) may use")
    records = sorted(conn.deps.repo.model_versions(name), key=lambda r: int(r["version"]))
    if not records:
        raise NotAllowed(f"there is no model {safe_text(name, 100)!r} that you ({me.email}) may use")
    if version is None:
        return records[-1]
    found = [r for r in records if int(r["version"]) == int(version)]
    if not found:
        raise NotFound(f"model {name} has no version {version} (versions: "
                       f"{', '.join(str(r['version']) for r in records)})")
    return found[0]


class Model:
    """A registered model version: its scores and package, and scoring rows with it."""

    def __init__(self, conn: "Connection", name: str, version: int | None = None):
        self._conn = conn
        self.record = readable_record(conn, name, version)
        self.name, self.version = name, int(self.record["version"])
        self.last_route: str | None = None  # "online" or "batch": how the last predict() scored

    def __repr__(self) -> str:
        return f"Model({self.name!r}, version={self.version})"

    @property
    def metric(self) -> str | None:
        tests = self.record.get("test_metrics") or {}
        return self.record.get("metric") or next(iter(tests), None)

    @property
    def test_metrics(self) -> dict[str, float]:
        """Every metric of the task on the held-out test split, scored once."""
        return dict(self.record.get("test_metrics") or {})

    @property
    def validation_metrics(self) -> dict[str, float]:
        return dict(self.record.get("validation_metrics") or {})

    @property
    def job_id(self) -> str:
        return self.record.get("job_id", "")

    @property
    def package_uri(self) -> str | None:
        return self.record.get("package_uri")

    @property
    def online(self) -> bool:
        """Whether the version serves online (it has an ONNX export)."""
        return (self.record.get("online") or {}).get("status") == "available"

    @property
    def importance(self) -> dict | None:
        """Global feature importance, for versions registered with it (None otherwise)."""
        return self.record.get("importance")

    def predict(self, df, timeout: float | None = None):
        """Predictions for the rows of a pandas DataFrame (or a list of {column: value}), on its index:
        `prediction`, and for classifiers `label` and `probability_<class>`. Through the predict service
        when the version serves online and a service is configured, else in a Dataproc batch; the
        frame's attrs["route"] and `last_route` say which ("online" or "batch"), and the log says why."""
        from zygarde.client import predicting

        df = _frame(df)
        me = self._conn.identity
        if self.online and self._conn.serves_online:
            rows, answer = predicting.online(self._conn, self.name, self.version, df)
            frame = predicting.online_frame(rows, answer, df.index)
            route, why = ONLINE, "it serves online"
        else:
            if self.online:
                why = "no predict service is configured"
            else:
                why = "it does not serve online: " + ((self.record.get("online") or {}).get("reason")
                                                      or "it was registered without an ONNX export")
            frame = predicting.batch(self._conn, self.name, self.version, df, me.key, timeout)
            route = BATCH
        log.info("%s v%d scored %d rows %s (%s)", self.name, self.version, len(df),
                 "with the online predict service" if route == ONLINE else "in a Dataproc batch", why)
        frame.attrs["route"] = self.last_route = route
        return frame

    def explain(self, df):
        """Per-row attributions for the rows of `df` (a DataFrame: one column per input column, plus
        `base_value`), from the predict service. ExplanationsUnavailable when the version has none."""
        import pandas as pd

        from zygarde.client import predicting

        df = _frame(df)
        section = self.record.get("explanations") or {}
        if section.get("status") == "unavailable":  # e.g. an ensemble: said before any request is sent
            raise ExplanationsUnavailable(f"{self.name} v{self.version} has no per-row attributions: "
                                          f"{section.get('reason') or 'none were prepared for it'}")
        if not self.online or not self._conn.serves_online:
            raise ExplanationsUnavailable(
                f"{self.name} v{self.version} has no per-row attributions here: they are computed by the predict "
                "service, and " + ("this version does not serve online" if not self.online
                                   else "no predict service is configured"))
        try:
            rows, _ = predicting.online(self._conn, self.name, self.version, df, explain=True)
        except PredictionFailed as exc:
            if "explain" in str(exc):
                raise ExplanationsUnavailable(str(exc)) from None
            raise
        if not rows or any("attributions" not in r for r in rows):
            raise ExplanationsUnavailable(f"{self.name} v{self.version} has no per-row attributions: the predict "
                                          "service answered without them (explanations do not exist for it yet)")
        frame = pd.DataFrame([r["attributions"] for r in rows], index=df.index)
        frame["base_value"] = [r.get("base_value") for r in rows]
        return frame

    def download(self, path: str | Path) -> Path:
        """Copy the version's package (the Spark PipelineModel folder, manifest.json and, when it serves
        online, its ONNX export) into the folder `path`; returns it."""
        from zygarde.domain.errors import NotFound as Missing

        base = (self.package_uri or "").rstrip("/") + "/"
        if base == "/":
            raise NotFound(f"{self.name} v{self.version} has no package")
        target = Path(path)
        blobs = self._conn.deps.blobs
        count = 0
        for uri in blobs.list(base):
            relative = uri[len(base):]
            if not relative or relative.endswith("/") or ".." in relative.split("/"):
                continue
            try:
                data = blobs.read_bytes(uri)
            except Missing:
                continue
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            count += 1
        log.info("%s v%d downloaded to %s (%d files)", self.name, self.version, target, count)
        return target


def _frame(df) -> Any:
    """A pandas DataFrame of the rows to score: a DataFrame as is, a list of {column: value} made one."""
    import pandas as pd

    if isinstance(df, pd.DataFrame):
        if len(df) == 0:
            raise SpecError([("instances", "no rows to score")])
        return df
    if isinstance(df, list) and df and all(isinstance(r, dict) for r in df):
        return pd.DataFrame(df)
    raise SpecError([("instances", f"must be a pandas DataFrame or a non-empty list of {{column: value}}; got "
                                   f"{type(df).__name__}")])
