"""Unit fixtures: every port faked in memory, a controllable clock."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryJobRepository, MemoryPublisher
from zygarde.config import Settings
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.edge import PubSubMessage

CSV = b"f1,f2,color,y\n1,2,red,0\n3,4,blue,1\n"
OWNER = "ana@example.com"
DATA_URI = f"gs://bkt/datasets/{OWNER}/d.csv"  # datasets live in their owner's folder


class Clock:
    def __init__(self):
        self.t = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self):
        self.t += timedelta(seconds=1)
        return self.t


@pytest.fixture
def deps() -> Deps:
    d = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(),
             publisher=MemoryPublisher(), clock=Clock(),
             # warm handoffs off: a batch exits when its work is done (warm batches are tested on their own)
             settings=Settings(project="p", region="r", bucket="bkt", handoff_seconds=0))
    d.blobs.write_bytes(DATA_URI, CSV)
    return d


def spec_dict(**over) -> dict:
    spec = {"job_id": "job-1", "owner": "ana@example.com",
            "dataset": {"uri": DATA_URI, "format": "csv", "target": "y"},
            "task": "binary_classification",
            "candidates": [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1]}},
                           {"algorithm": "random_forest_classifier", "params": {"numTrees": [5, 10]}}],
            "max_parallel": 2, "packing": "off"}  # one batch per trial; packing is tested on its own
    spec.update(over)
    return spec


def job_message(spec: dict | None = None, message_id: str = "m1") -> PubSubMessage:
    return PubSubMessage(json.dumps(spec if spec is not None else spec_dict()).encode(), {}, message_id)
