"""The warm batch's wait for handed work (zygarde/spark/handoff.py), with the file system faked:
it reports idle before each wait, runs each handoff in order, stops when none comes in time or it is told to
exit, and never waits when not asked to."""
from __future__ import annotations

import time
from dataclasses import dataclass

from zygarde.domain.contracts import EXIT, Handoff, IdleReport, handoff_object, idle_object, parse_idle_object_name
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


@dataclass(frozen=True)
class IdleReq:
    name: str
    handoff_prefix: str | None = None
    handoff_seconds: float = 0.0
    idle_prefix: str | None = None
    job_id: str = "j"

    @classmethod
    def from_json(cls, text):
        import json

        return cls(**json.loads(text))


def test_the_batch_reports_idle_before_each_wait_and_an_exit_ends_it_at_once(monkeypatch):
    prefix, idle = "gs://b/artifacts/j/handoff/zyg-j-prepare-a1/", "gs://b/results/j/zyg-j-prepare-a1/"
    objects = {handoff_object(prefix, 1): Handoff(main="train_pack.py", request={
        "name": "pack1", "handoff_prefix": prefix, "handoff_seconds": 60.0, "idle_prefix": idle}).to_json().encode(),
               handoff_object(prefix, 2): Handoff(main=EXIT).to_json().encode()}
    _fake_fs(monkeypatch, objects)
    written = {}
    monkeypatch.setattr(handoff.hadoop_fs, "write_bytes", lambda spark, uri, data: written.__setitem__(uri, data))
    ran = []
    executors = {"train_pack.py": (IdleReq, lambda spark, r: ran.append(r.name) or Res("SUCCEEDED"))}
    started = time.monotonic()
    statuses = handoff.serve(None, IdleReq("prepare", prefix, 60.0, idle), "job_id=j", executors)
    assert ran == ["pack1"] and statuses == ["SUCCEEDED"] and time.monotonic() - started < 30  # no 60 s wait
    assert {uri: IdleReport.from_json(data) for uri, data in written.items()} == {
        idle_object(idle, 1): IdleReport("j", 1), idle_object(idle, 2): IdleReport("j", 2)}
    assert parse_idle_object_name(idle_object(idle, 2).removeprefix("gs://b/")) == ("j", "zyg-j-prepare-a1", 2)
