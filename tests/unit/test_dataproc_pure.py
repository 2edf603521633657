"""Pure parts of the local Dataproc endpoint and the Dataproc adapter (no processes, no network)."""
from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from zygarde.adapters.dataproc import DataprocBatchLauncher, _mapped_errors, parse_duration
from zygarde.domain.errors import (BatchAlreadyExists, BatchNotFound, ConfigError, PermanentError,
                                   TransientError)
from zygarde.local.batch_runner import BatchRecord
from zygarde.local.dataproc_server import ApiError, _matches, parse_filter
from zygarde.local.spark_submit import failure_message


def record(**labels) -> BatchRecord:
    return BatchRecord(batch_id="b-1234", project="p", location="l", uuid="u", operation_id="o",
                       create_time="2026-01-02T03:04:05.000000Z", spec={"labels": labels}, state="RUNNING")


def test_filter_parses_and_or_and_quotes():
    groups = parse_filter('state = RUNNING AND labels.zygarde-job = "j 1" or batch_id != x')
    assert groups == [[("state", "=", "RUNNING"), ("labels.zygarde-job", "=", "j 1")], [("batch_id", "!=", "x")]]
    r = record(**{"zygarde-job": "j 1"})
    assert all(_matches(r, *c) for c in groups[0])
    assert _matches(r, "create_time", "<", "2026-02-01T00:00:00Z")
    assert not _matches(r, "labels.other", "=", "x")


@pytest.mark.parametrize("bad", ["colour = blue", "state = RUNNING AND", "state RUNNING"])
def test_bad_filters_are_invalid_argument(bad):
    with pytest.raises(ApiError) as err:
        parse_filter(bad)
    assert err.value.status == "INVALID_ARGUMENT"


def test_failure_message_keeps_the_python_error_and_drops_log4j(tmp_path):
    log = tmp_path / "driver.log"
    log.write_text("26/11/22 15:35:03 INFO SparkContext: Running Spark\nTraceback (most recent call last):\n"
                   '  File "main.py", line 3\nKeyError: \'target\'\n26/11/22 15:35:09 INFO ShutdownHookManager: bye\n')
    msg = failure_message(log, 1)
    assert msg.startswith("Job failed with message [KeyError: 'target'] (exit code 1)")
    assert "ShutdownHookManager" not in msg
    assert "SIGKILL" in failure_message(tmp_path / "missing.log", -9)


def test_durations():
    assert parse_duration("14400s").total_seconds() == 14400
    assert parse_duration("2h").total_seconds() == 7200
    with pytest.raises(ConfigError):
        parse_duration("soon")


@pytest.mark.parametrize("raised, expected", [
    (gexc.Conflict("taken"), BatchAlreadyExists), (gexc.AlreadyExists("taken"), BatchAlreadyExists),
    (gexc.NotFound("gone"), BatchNotFound), (gexc.ServiceUnavailable("busy"), TransientError),
    (gexc.TooManyRequests("quota"), TransientError), (gexc.InternalServerError("oops"), TransientError),
    (gexc.DeadlineExceeded("slow"), TransientError), (gexc.InvalidArgument("bad"), PermanentError),
    (gexc.BadRequest("bad"), PermanentError), (gexc.PermissionDenied("no"), ConfigError),
])
def test_error_mapping(raised, expected):
    with pytest.raises(expected):
        with _mapped_errors("create", "b-1234"):
            raise raised


def test_client_is_built_lazily():
    launcher = DataprocBatchLauncher("p", "europe-west1", endpoint=None, runtime_version="2.3",
                                     service_account="sa@p.iam.gserviceaccount.com", subnet="default", ttl="3600s")
    assert launcher._client is None
    assert launcher.parent == "projects/p/locations/europe-west1"
