"""on_trial_result trusts only well-formed notifications of its own bucket, and a result only when it
is the running attempt's own: its ids and every location it names are the ones the control plane
derived (a forged result never becomes the winner)."""
from __future__ import annotations

import logging

import pytest

from tests.unit.conftest import job_message, spec_dict
from tests.unit.test_handlers import deliver, finish_stage, model_of, submit
from zygarde.domain.contracts import FinalizeResult, PrepareResult, TrialResult, parse_result_object_name
from zygarde.domain.errors import MessageError
from zygarde.domain.model import FINALIZE, PREPARE, JobState, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.edge import acknowledge_permanent_errors, decode_pubsub
from zygarde.service_layer.edge import PubSubMessage
from zygarde.service_layer.locations import trial_uris

ONE = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1]}}]


def running_job(deps):
    submit(job_message(spec_dict(candidates=ONE)), deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    assert trial.state is TrialState.RUNNING
    return trial


def snapshot(deps):
    return {t.trial_id: t for t in deps.repo.list_trials("job-1")}, deps.repo.get_job("job-1"), deps.repo.writes


def notification(uri: str, bucket: str = "bkt", **attrs) -> PubSubMessage:
    name = uri.split("/", 3)[3]
    return PubSubMessage(b"{}", {"bucketId": bucket, "objectId": name, "eventType": "OBJECT_FINALIZE", **attrs}, "msg-7")


@pytest.mark.parametrize("missing", ["bucketId", "objectId"])
def test_a_notification_without_bucket_or_object_is_acknowledged_once_with_its_ids(deps, caplog, missing):
    trial = running_job(deps)
    _, uri = trial_uris(deps.settings, trial.job_id, trial.trial_id, trial.attempt)
    msg = notification(uri)
    del msg.attributes[missing]
    before = snapshot(deps)
    with pytest.raises(MessageError, match="msg-7"):
        edge.on_trial_result(msg, deps)
    handler = acknowledge_permanent_errors(edge.on_trial_result)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zygarde"):
        assert handler(msg, deps) is None and handler(msg, deps) is None  # acknowledged, twice: no retry storm
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]  # one line per delivery
    assert "msg-7" in caplog.records[0].getMessage() and missing in caplog.records[0].getMessage()
    assert snapshot(deps) == before


def test_a_notification_from_another_bucket_is_ignored_and_logged(deps, caplog):
    trial = running_job(deps)
    _, uri = trial_uris(deps.settings, trial.job_id, trial.trial_id, trial.attempt)
    forged = uri.replace("gs://bkt/", "gs://evil/")
    deps.blobs.write_bytes(forged, TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 1.0}).to_json().encode())
    before = snapshot(deps)
    with caplog.at_level(logging.WARNING, logger="zygarde"):
        for _ in range(2):
            edge.on_trial_result(notification(forged, bucket="evil"), deps)
    assert snapshot(deps) == before
    assert sum("another bucket" in r.getMessage() and "evil" in r.getMessage() for r in caplog.records) == 2


def test_a_forged_result_for_a_running_attempt_is_ignored_and_the_real_one_counts(deps):
    trial = running_job(deps)
    _, uri = trial_uris(deps.settings, trial.job_id, trial.trial_id, trial.attempt)
    forged = TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 1.0}, model_uri="gs://evil/model")
    before = snapshot(deps)
    deliver(deps, trial, forged, True, times=2, end_batch=False)  # its batch still runs
    assert snapshot(deps) == before
    deliver(deps, trial, TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 0.7},
                                     model_uri=model_of(deps, trial)), True)
    done = deps.repo.get_trial("job-1", "t0000")
    assert done.state is TrialState.SUCCEEDED and done.objective == 0.7 and done.model_uri == model_of(deps, trial)
    assert deps.blobs.exists(uri)


@pytest.mark.parametrize("forged", [
    TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 1.0}, model_uri="gs://evil/model"),
    TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 1.0},
                model_uri="gs://bkt/artifacts/job-1/t0001/attempt-1/model"),  # another trial's model
    TrialResult("job-1", "t0001", 1, "SUCCEEDED", {"areaUnderROC": 1.0}),  # another trial's result
    TrialResult("job-9", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 1.0}),  # another job's
    TrialResult("job-1", "t0000", 2, "SUCCEEDED", {"areaUnderROC": 1.0}),  # another attempt's
], ids=["other-bucket", "other-trial-model", "other-trial", "other-job", "other-attempt"])
def test_a_result_that_is_not_this_attempts_never_counts(deps, forged):
    trial = running_job(deps)
    deliver(deps, trial, forged, True, times=2)  # the batch has ended: its result is this
    retried = deps.repo.get_trial("job-1", "t0000")
    assert retried.objective is None and retried.attempt == 2 and retried.state is TrialState.RUNNING
    assert retried.conditions[-3].reason == "Retrying" and "not this attempt's" in retried.conditions[-3].message
    deliver(deps, retried, TrialResult("job-1", "t0000", 2, "SUCCEEDED", {"areaUnderROC": 0.6},
                                       model_uri=model_of(deps, retried)), True)
    assert deps.repo.get_trial("job-1", "t0000").objective == 0.6


def test_a_forged_winner_never_wins_nor_gets_packaged(deps):
    trial = running_job(deps)
    other = deps.repo.get_trial("job-1", "t0001")
    deliver(deps, trial, TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 1.0},
                                     model_uri="gs://evil/model"), True, end_batch=False)
    deliver(deps, other, TrialResult("job-1", "t0001", 1, "SUCCEEDED", {"areaUnderROC": 0.8},
                                     model_uri=model_of(deps, other)), True)
    deliver(deps, trial, TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 0.7},
                                     model_uri=model_of(deps, trial)), True)
    fin = deps.repo.get_trial("job-1", FINALIZE)
    assert fin.params["model_uri"] == model_of(deps, other)
    finish_stage(deps, "job-1", FINALIZE)
    job = deps.repo.get_job("job-1")
    assert job.state is JobState.SUCCEEDED and job.best_trial_id == "t0001" and job.best_objective == 0.8


def test_stage_results_naming_other_locations_are_refused(deps):
    edge.submit_job(job_message(spec_dict(candidates=ONE)), deps)
    prep = deps.repo.get_trial("job-1", PREPARE)
    deliver(deps, prep, PrepareResult("job-1", 1, "SUCCEEDED", parts={"train": "gs://evil/train"}), True)
    prep = deps.repo.get_trial("job-1", PREPARE)
    assert prep.state is TrialState.RUNNING and prep.attempt == 2 and "parts.train" in prep.conditions[-3].message
    finish_stage(deps, "job-1", PREPARE)
    assert deps.repo.get_trial("job-1", PREPARE).outputs["parts"] == {
        p: f"gs://bkt/artifacts/job-1/data/{p}" for p in ("train", "validation", "test")}
    for trial_id in ("t0000", "t0001"):
        t = deps.repo.get_trial("job-1", trial_id)
        deliver(deps, t, TrialResult("job-1", trial_id, 1, "SUCCEEDED", {"areaUnderROC": 0.5},
                                     model_uri=model_of(deps, t)), True)
    fin = deps.repo.get_trial("job-1", FINALIZE)
    deliver(deps, fin, FinalizeResult("job-1", 1, "SUCCEEDED", {"areaUnderROC": 1.0}, package_uri="gs://evil/pkg/",
                                      manifest_uri="gs://evil/pkg/manifest.json"), True)
    fin = deps.repo.get_trial("job-1", FINALIZE)
    assert fin.state is TrialState.RUNNING and fin.attempt == 2 and deps.repo.get_job("job-1").model_version is None


def test_result_object_names_must_be_exact():
    assert parse_result_object_name("results/job-1/t0000/attempt-3.json") == ("job-1", "t0000", 3)
    for name in ("results///attempt-1.json", "results/job-1/t0000/attempt-01.json",
                 "results/job-1/t0000/attempt-+1.json", "results/job-1/t0000/attempt-0.json",
                 "results/job-1//attempt-1.json", "results/job-1/t0000/attempt-1.json.tmp",
                 "results/../t0000/attempt-1.json", "results/__x__/t0000/attempt-1.json",
                 "results/job 1/t0000/attempt-1.json"):
        assert parse_result_object_name(name) is None, name


def test_idle_report_names_are_as_exact_and_only_they_are_idle_reports(deps):
    from zygarde.domain.contracts import parse_idle_object_name
    from zygarde.domain.messages import BatchIdle, ResultWritten

    assert parse_idle_object_name("results/job-1/zyg-job-1-prepare-a1/idle-2.json") == ("job-1", "zyg-job-1-prepare-a1", 2)
    for name in ("results/job-1/zyg-b/idle-0.json", "results/job-1/zyg-b/idle-02.json", "results/job-1/zyg-b/idle-+1.json",
                 "results/job-1/zyg-b/idle-1.json.tmp", "results/job-1//idle-1.json", "results/../zyg-b/idle-1.json",
                 "results/job-1/zyg-b/idle-١.json", "results/job-1/zyg-b/attempt-1.json/idle-1.json",
                 "results/job-1/zyg-b/idle-1.json/x"):
        assert parse_idle_object_name(name) is None, name
    assert parse_result_object_name("results/job-1/zyg-b/idle-1.json") is None

    def decoded(name, bucket="bkt"):
        return edge.results_message(PubSubMessage(b"{}", {"bucketId": bucket, "objectId": name}), deps.settings)

    assert decoded("results/job-1/zyg-b/idle-1.json") == BatchIdle("job-1", "zyg-b", 1)
    assert isinstance(decoded("results/job-1/t0000/attempt-1.json"), ResultWritten)
    assert decoded("results/job-1/zyg-b/idle-01.json") is None and decoded("results/job-1/zyg-b/idle-1.json", "evil") is None


def test_a_tick_message_with_any_data_reconciles(deps):
    running_job(deps)
    tick = acknowledge_permanent_errors(edge.on_reconcile_tick)
    for data in (None, {}, {"message": {"data": "!!not base64!!", "attributes": {"x": "y"}}}):
        assert tick(decode_pubsub(data), deps)["launched"] == 0


def test_the_derived_manifest_location_is_where_the_finalize_batch_writes_it():
    from zygarde.domain.contracts import MANIFEST_NAME
    from zygarde.spark.predict import MANIFEST

    assert MANIFEST == MANIFEST_NAME
