"""Scoring a dataset with a registered model version: one Dataproc batch running
spark_jobs/predict.py, created through the launcher port, locally as on Google Cloud."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from zygarde.config import Settings, prefix
from zygarde.domain.errors import DatasetError, NotFound
from zygarde.domain.raw_doc import safe_text
from zygarde.service_layer import model_access
from zygarde.service_layer.dataset_paths import uri_problem
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.ports import BatchRequest

FORMATS = ("csv", "parquet", "json", "libsvm")


@dataclass(frozen=True)
class PredictionBatch:
    """A submitted scoring batch: where its predictions go and which model version scores."""

    batch_id: str
    model: str
    version: int
    model_uri: str
    output_uri: str


def _version(deps: Deps, name: str, version: int | None, caller: str) -> dict:
    """The version record to score with, when `caller` may read the model (else as if it did not exist)."""
    if model_access.readable_model(deps.repo, name, caller) is None:
        raise NotFound(f"there is no model {safe_text(name, 100)!r} that {caller} may use")
    records = sorted(deps.repo.model_versions(name), key=lambda r: int(r["version"]))
    if not records:
        raise NotFound(f"there is no model {name!r} that {caller} may use")
    if version is None:
        return records[-1]
    found = [r for r in records if int(r["version"]) == version]
    if not found:
        raise NotFound(f"model {name} has no version {version} (versions: "
                       f"{', '.join(str(r['version']) for r in records)})")
    return found[0]


def prediction_batch(settings: Settings, record: dict, name: str, input_uri: str, fmt: str, options: dict,
                     owner: str, output_uri: str | None = None) -> tuple[BatchRequest, PredictionBatch]:
    """The batch that scores `input_uri` with one registered version. Its id is derived from the
    model version, input and output, so submitting the same scoring twice creates one batch."""
    if fmt not in FORMATS:
        raise DatasetError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if (problem := uri_problem(input_uri, owner, settings.bucket)) is not None:
        raise DatasetError(problem)
    version = int(record["version"])
    model_uri = record["package_uri"].rstrip("/") + "/model"
    key = json.dumps([name, version, input_uri, fmt, options, output_uri], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    output = output_uri or f"gs://{settings.bucket}/{prefix('models')}{name}/predictions/v{version}-{digest}/"
    batch = PredictionBatch(f"zyg-predict-{digest}", name, version, model_uri, output)
    request = BatchRequest(
        batch_id=batch.batch_id, main_python_file_uri=settings.code_uri("predict.py"),
        args=("--model-uri", model_uri, "--input", input_uri, "--format", fmt, "--options", json.dumps(options),
              "--output", output),
        python_file_uris=(settings.code_uri("zygarde.zip"),),
        labels={"zygarde": "predict", "zygarde-model": name[:63], "zygarde-kind": "predict"})
    return request, batch


def submit(deps: Deps, name: str, version: int | None, input_uri: str, fmt: str, owner: str,
           options: dict | None = None, output_uri: str | None = None) -> PredictionBatch:
    """Create the scoring batch (an existing one with the same id counts as created). `owner`, who asks,
    must be allowed to read the model (model_access), and the input must be one of their datasets."""
    from zygarde.domain.errors import BatchAlreadyExists

    request, batch = prediction_batch(deps.settings, _version(deps, name, version, owner), name, input_uri, fmt,
                                      options or {}, owner, output_uri)
    try:
        deps.launcher.create(request)
    except BatchAlreadyExists:
        pass
    log.info("prediction batch submitted batch_id=%s model=%s version=%d", batch.batch_id, name, batch.version)
    return batch
