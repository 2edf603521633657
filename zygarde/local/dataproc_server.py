"""A local Dataproc Batches v1 REST endpoint that runs each batch with spark-submit.

The real google-cloud-dataproc client talks to it with transport="rest",
client_options={"api_endpoint": "http://127.0.0.1:PORT"} and AnonymousCredentials.

    python -m zygarde.local.dataproc_server --host 127.0.0.1 --port 18100 --state-dir DIR --max-concurrent 2

Set STORAGE_EMULATOR_HOST to make both staging (gs:// main/py files) and Spark's gs:// I/O use fake-gcs-server.
Each batch runs on local[N] with the cores its properties ask for (zygarde.local.batch_cores), at most
--max-cores-per-batch (default $ZYGARDE_LOCAL_MAX_CORES_PER_BATCH, else the machine's CPUs); --master
sets one master for every batch instead.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import threading
import uuid
from datetime import datetime

from flask import Flask, jsonify, request

from zygarde.local.batch_runner import BatchExists, BatchRecord, LocalBatchRunner, now_rfc3339

log = logging.getLogger("zygarde.local.dataproc_server")

_BATCH_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,61}[a-z0-9]$")
_HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404,
                "ALREADY_EXISTS": 409, "UNIMPLEMENTED": 501}
_CLAUSE = re.compile(r'\s*([A-Za-z_][\w.\-]*)\s*(!=|<=|>=|=|<|>|:)\s*("[^"]*"|[^\s"()]+)\s*')
_JOINER = re.compile(r"(AND|OR)\s+", re.IGNORECASE)
_BATCH_FIELDS = ("pysparkBatch", "labels", "runtimeConfig", "environmentConfig")
MAX_CORES_ENV = "ZYGARDE_LOCAL_MAX_CORES_PER_BATCH"


class ApiError(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def batch_json(r: BatchRecord) -> dict:
    """A Batch resource, as the v1 API renders it."""
    body = {"name": f"projects/{r.project}/locations/{r.location}/batches/{r.batch_id}",
            "uuid": r.uuid, "createTime": r.create_time,
            "runtimeInfo": {}, "state": r.state, "stateMessage": r.state_message,
            "stateTime": r.state_time, "creator": "local@zygarde",
            "operation": operation_name(r), "stateHistory": list(r.history)}
    body.update({k: r.spec[k] for k in _BATCH_FIELDS if k in r.spec})
    return body


def operation_name(r: BatchRecord) -> str:
    return f"projects/{r.project}/regions/{r.location}/operations/{r.operation_id}"


def operation_json(r: BatchRecord) -> dict:
    """The batch's long-running Operation; done (with the Batch as response) once it is terminal."""
    op = {"name": operation_name(r),
          "metadata": {"@type": "type.googleapis.com/google.cloud.dataproc.v1.BatchOperationMetadata",
                       "batch": batch_json(r)["name"], "batchUuid": r.uuid, "createTime": r.create_time,
                       "operationType": "BATCH", "description": f"Batch {r.batch_id}",
                       "labels": r.spec.get("labels", {})},
          "done": r.is_terminal}
    if r.is_terminal:
        op["metadata"]["doneTime"] = r.state_time
        op["response"] = {"@type": "type.googleapis.com/google.cloud.dataproc.v1.Batch", **batch_json(r)}
    return op


def parse_filter(text: str) -> list[list[tuple[str, str, str]]]:
    """'state = RUNNING AND labels.job = "x" OR ...' -> OR-list of AND-lists of (field, op, value)."""
    groups: list[list[tuple[str, str, str]]] = [[]]
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _CLAUSE.match(text, pos)
        if not m:
            raise ApiError("INVALID_ARGUMENT", f"Invalid filter: cannot parse near {text[pos:pos + 30]!r}")
        field_name, op, value = m.group(1), m.group(2), m.group(3).strip('"')
        if not (field_name in ("batch_id", "batch_uuid", "state", "create_time") or field_name.startswith("labels.")):
            raise ApiError("INVALID_ARGUMENT", f"Invalid filter: unsupported field {field_name!r}")
        groups[-1].append((field_name, op, value))
        pos = m.end()
        j = _JOINER.match(text, pos)
        if j:
            pos = j.end()
            if j.group(1).upper() == "OR":
                groups.append([])
        elif pos < len(text):
            raise ApiError("INVALID_ARGUMENT", f"Invalid filter: expected AND/OR near {text[pos:pos + 30]!r}")
    if any(not g for g in groups):
        raise ApiError("INVALID_ARGUMENT", "Invalid filter: dangling AND/OR")
    return groups


def _matches(r: BatchRecord, field_name: str, op: str, value: str) -> bool:
    if field_name.startswith("labels."):
        actual = r.spec.get("labels", {}).get(field_name[len("labels."):])
        if op == ":":
            return actual is not None and (value == "*" or actual == value)
    else:
        actual = {"batch_id": r.batch_id, "batch_uuid": r.uuid, "state": r.state}.get(field_name)
        if field_name == "create_time":
            actual, value = _ts(r.create_time), _ts(value)
    ops = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, ":": lambda a, b: a == b,
           "<": lambda a, b: a is not None and a < b, ">": lambda a, b: a is not None and a > b,
           "<=": lambda a, b: a is not None and a <= b, ">=": lambda a, b: a is not None and a >= b}
    return ops[op](actual, value)


def _ts(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError("INVALID_ARGUMENT", f"Invalid filter: bad timestamp {text!r}") from None


def create_app(runner: LocalBatchRunner) -> Flask:
    app = Flask("zygarde-local-dataproc")

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        code = _HTTP_STATUS.get(exc.status, 400)
        return jsonify({"error": {"code": code, "message": exc.message, "status": exc.status}}), code

    @app.errorhandler(404)
    def unknown_route(_exc):
        return api_error(ApiError("NOT_FOUND", f"Unknown path {request.path}"))

    @app.errorhandler(405)
    def bad_method(_exc):
        return api_error(ApiError("UNIMPLEMENTED", f"{request.method} {request.path} is not supported"))

    @app.get("/")
    def ready():
        return "Ok"

    def record_or_404(project: str, location: str, batch_id: str) -> BatchRecord:
        r = runner.get(batch_id)
        if r is None or (r.project, r.location) != (project, location):
            raise ApiError("NOT_FOUND", f"Not found: Batch projects/{project}/locations/{location}/batches/{batch_id}")
        return r

    @app.post("/v1/projects/<project>/locations/<location>/batches")
    def create_batch(project: str, location: str):
        body = request.get_json(silent=True) or {}
        batch_id = request.args.get("batchId") or f"b-{uuid.uuid4().hex[:20]}"
        if not _BATCH_ID.match(batch_id):
            raise ApiError("INVALID_ARGUMENT", f"Invalid batch id '{batch_id}': must be 4-63 characters of "
                                               "[a-z0-9-], starting and ending with a letter or digit")
        if not (body.get("pysparkBatch") or {}).get("mainPythonFileUri"):
            raise ApiError("INVALID_ARGUMENT", "Only PySpark batches are supported: "
                                               "pysparkBatch.mainPythonFileUri is required")
        record = BatchRecord(batch_id=batch_id, project=project, location=location, uuid=str(uuid.uuid4()),
                             operation_id=str(uuid.uuid4()), create_time=now_rfc3339(),
                             spec={k: body[k] for k in _BATCH_FIELDS if k in body})
        try:
            runner.submit(record)
        except BatchExists:
            raise ApiError("ALREADY_EXISTS", f"Batch projects/{project}/locations/{location}/batches/{batch_id} "
                                             "already exists") from None
        return jsonify(operation_json(record))

    @app.get("/v1/projects/<project>/locations/<location>/batches/<batch_id>")
    def get_batch(project: str, location: str, batch_id: str):
        return jsonify(batch_json(record_or_404(project, location, batch_id)))

    @app.delete("/v1/projects/<project>/locations/<location>/batches/<batch_id>")
    def delete_batch(project: str, location: str, batch_id: str):
        r = record_or_404(project, location, batch_id)
        if not r.is_terminal:
            raise ApiError("FAILED_PRECONDITION", f"Cannot delete batch {batch_id} in state {r.state}")
        runner.delete(batch_id)
        return jsonify({})

    @app.get("/v1/projects/<project>/locations/<location>/batches")
    def list_batches(project: str, location: str):
        groups = parse_filter(request.args["filter"]) if request.args.get("filter") else [[]]
        try:
            size = min(int(request.args.get("pageSize") or 100), 1000)
            start = int(request.args.get("pageToken") or 0)
        except ValueError:
            raise ApiError("INVALID_ARGUMENT", "Invalid pageSize or pageToken") from None
        if size <= 0:
            size = 100
        rows = [r for r in runner.all() if (r.project, r.location) == (project, location)
                and any(all(_matches(r, *c) for c in g) for g in groups)]
        rows.sort(key=lambda r: (r.create_time, r.batch_id), reverse=True)
        page = rows[start:start + size]
        out: dict = {"batches": [batch_json(r) for r in page]}
        if start + size < len(rows):
            out["nextPageToken"] = str(start + size)
        return jsonify(out)

    @app.get("/v1/projects/<project>/<kind>/<location>/operations/<op_id>")
    def get_operation(project: str, kind: str, location: str, op_id: str):
        return jsonify(operation_json(_record_for_operation(runner, project, kind, location, op_id)))

    @app.post("/v1/projects/<project>/<kind>/<location>/operations/<op_spec>")
    def operation_action(project: str, kind: str, location: str, op_spec: str):
        op_id, _, action = op_spec.partition(":")
        if action != "cancel":
            raise ApiError("UNIMPLEMENTED", f"Operation method {action!r} is not supported")
        r = _record_for_operation(runner, project, kind, location, op_id)
        if r.is_terminal:
            raise ApiError("FAILED_PRECONDITION", f"Cannot cancel batch {r.batch_id} in state {r.state}")
        runner.cancel(r.batch_id)
        return jsonify({})

    return app


def _record_for_operation(runner: LocalBatchRunner, project: str, kind: str, location: str,
                          op_id: str) -> BatchRecord:
    r = runner.by_operation(op_id)
    if kind not in ("regions", "locations") or r is None or (r.project, r.location) != (project, location):
        raise ApiError("NOT_FOUND", f"Not found: Operation projects/{project}/{kind}/{location}/operations/{op_id}")
    return r


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Dataproc Batches endpoint (spark-submit)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18100)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--max-concurrent", type=int, default=2)
    parser.add_argument("--master", default=None,
                        help="Spark master for every batch (default: local[N] from each batch's properties)")
    parser.add_argument("--max-cores-per-batch", type=_positive_int, default=os.environ.get(MAX_CORES_ENV) or None,
                        help=f"Cap on a batch's local[N] (default ${MAX_CORES_ENV}, else the machine's CPUs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from werkzeug.serving import make_server

    runner = LocalBatchRunner(args.state_dir, args.max_concurrent, master=args.master,
                              max_cores_per_batch=args.max_cores_per_batch)
    server = make_server(args.host, args.port, create_app(runner), threaded=True)

    def stop(signum, _frame):
        log.info("stopping on signal %s", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("local dataproc listening host=%s port=%s state_dir=%s max_concurrent=%s master=%s "
             "max_cores_per_batch=%s", args.host, args.port, args.state_dir, args.max_concurrent,
             args.master or "local[N] per batch", args.max_cores_per_batch or os.cpu_count())
    try:
        server.serve_forever()
    finally:
        runner.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
