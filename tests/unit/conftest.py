"""Unit fixtures: every port faked in memory, a controllable clock, and identity tokens from a key made
here, checked by the real verifier (zygarde.adapters.auth), as the functions check them."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.unit.identities import (DELEGATE, ISSUER, PUBLISHED, SETTINGS, T0, issuer, sender_of, signed,  # noqa: F401
                                   token, verifier)
from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryJobRepository, MemoryPublisher
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.edge import PubSubMessage

CSV = b"f1,f2,color,y\n1,2,red,0\n3,4,blue,1\n"
OWNER = "ana@example.com"
DATA_URI = f"gs://bkt/datasets/{OWNER}/d.csv"  # datasets live in their owner's folder
@pytest.fixture(autouse=True)
def no_google_tokens(monkeypatch):
    """Unit tests never ask Google (the metadata server, gcloud) for a token: a CLI without
    $ZYGARDE_IDENTITY_TOKEN has none."""
    from zygarde.adapters import auth

    def unavailable(audience):
        raise auth.TokenUnavailable("no identity token in unit tests")

    monkeypatch.setattr(auth, "_google_token", unavailable)
    for name in ("ZYGARDE_IDENTITY_TOKEN", "ZYGARDE_LOCAL_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)


class Clock:
    def __init__(self):
        self.t = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self):
        self.t += timedelta(seconds=1)
        return self.t


@pytest.fixture
def deps() -> Deps:
    d = Deps(repo=MemoryJobRepository(), launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(),
             publisher=MemoryPublisher(), clock=Clock(), verifier=verifier(),
             # warm handoffs off: a batch exits when its work is done (warm batches are tested on their own)
             settings=dataclasses.replace(SETTINGS, handoff_seconds=0))
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


def spec_problems(raw) -> dict[str, str]:
    """The field -> message pairs parse_job_spec refuses `raw` with (it must refuse it)."""
    from zygarde.domain.errors import SpecError
    from zygarde.domain.spec import parse_job_spec

    with pytest.raises(SpecError) as info:
        parse_job_spec(raw)
    return dict(info.value.problems)


def job_message(spec: dict | None = None, message_id: str = "m1", sender: str | None = None) -> PubSubMessage:
    """A job as published: signed by `sender` (default: its owner), with a publish time."""
    spec = spec if spec is not None else spec_dict()
    return PubSubMessage(json.dumps(spec).encode(), signed(sender or sender_of(spec)), message_id, PUBLISHED)


def raw_message(raw: bytes, message_id: str = "m1", sender: str = OWNER, **attributes: str) -> PubSubMessage:
    """Any bytes, published (signed) by `sender`."""
    return PubSubMessage(raw, signed(sender, **attributes), message_id, PUBLISHED)


def cancel_message(job_id: str = "job-1", sender: str = OWNER, message_id: str = "c1", **attributes: str) -> PubSubMessage:
    """A cancel of `job_id` signed by `sender`."""
    return PubSubMessage(json.dumps({"job_id": job_id}).encode(), signed(sender, action="cancel", **attributes), message_id,
                   PUBLISHED)


def grant_message(model: str, grantee: str, role: str | None, sender: str = OWNER, message_id: str = "g1",
                  **attributes: str) -> PubSubMessage:
    """A grant (role None: a revocation) of `grantee` (an owner key) on `model`, signed by `sender`."""
    from zygarde.service_layer.grants import grant_request

    data, base = grant_request(model, grantee, role)
    return PubSubMessage(data, signed(sender, **base, **attributes), message_id, PUBLISHED)
