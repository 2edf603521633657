"""The warm batch's wait for handed work (zygarde/spark/handoff.py), with the file system faked:
it runs each handoff in order, stops when none comes in time, and never waits when not asked to."""
from __future__ import annotations

from dataclasses import dataclass

from zygarde.domain.contracts import Handoff, handoff_object
from zygarde.spark import handoff


@dataclass(frozen=True)
class Req:
    name: str
    handoff_prefix: str | None = None
    handoff_seconds: float = 0.0
    result_uri: str = ""

    @classmethod
    def from_json(cls, text):
        import json

        return cls(**json.loads(text))


@dataclass
class Res:
    status: str


def _fake_fs(monkeypatch, objects: dict[str, bytes]) -> None:
    monkeypatch.setattr(handoff.hadoop_fs, "exists", lambda spark, uri: uri in objects)
    monkeypatch.setattr(handoff.hadoop_fs, "read_bytes", lambda spark, uri: objects[uri])
    monkeypatch.setattr(handoff, "POLL_SECONDS", 0.0)


def test_handed_work_runs_in_order_until_none_comes(monkeypatch):
    prefix = "gs://b/artifacts/j/handoff/zyg-j-prepare-a1/"
    objects = {handoff_object(prefix, n): Handoff(main="train_pack.py", request={
        "name": f"pack{n}", "handoff_prefix": prefix, "handoff_seconds": 0.05}).to_json().encode() for n in (1, 2)}
    _fake_fs(monkeypatch, objects)
    ran = []
    executors = {"train_pack.py": (Req, lambda spark, r: ran.append(r.name) or Res("SUCCEEDED"))}
    statuses = handoff.serve(None, Req("prepare", prefix, 0.05), "job_id=j", executors)
    assert ran == ["pack1", "pack2"] and statuses == ["SUCCEEDED", "SUCCEEDED"]


def test_no_wait_without_a_prefix_or_seconds_and_unknown_work_stops_the_wait(monkeypatch):
    prefix = "gs://b/artifacts/j/handoff/zyg-j-p1-a1/"
    _fake_fs(monkeypatch, {handoff_object(prefix, 1): Handoff(main="rm_rf.py", request={}).to_json().encode()})
    executors = {"train_pack.py": (Req, lambda spark, r: Res("SUCCEEDED"))}
    assert handoff.serve(None, Req("prepare"), "job_id=j", executors) == []
    assert handoff.serve(None, Req("prepare", prefix, 0.0), "job_id=j", executors) == []
    assert handoff.serve(None, Req("prepare", prefix, 5.0), "job_id=j", executors) == []  # unknown main: stop
