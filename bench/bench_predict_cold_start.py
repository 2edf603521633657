"""The predict function's cold start: process start to its first answer, on the local emulators.

    .venv/bin/python bench/bench_predict_cold_start.py [--repeats 5] [--ports 18700-18749] [--code DIR ...]

Starts functions-framework serving functions/main.py:predict as Cloud Functions does (FUNCTION_TARGET
set), with and without ZYGARDE_PREDICT_WARM naming the model by its alias, and times the first signed
request from process start (its connection refused until the port opens), and that request alone; then
the same with the request sent 5 s after the port opens (an instance started before its traffic).
Each --code DIR is a checkout whose code is started (default: this one); runs alternate between them
so that the machine's load weighs on each alike. Writes bench/results_predict_cold_start.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

USER = "bench@example.com"
WARM = "ZYGARDE_PREDICT_WARM"
IDLE = 5.0  # seconds between the port opening and the first request, in the "started before its traffic" runs


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _first_answer(code: Path, env: dict, port: int, token: str, log: Path, idle: float) -> tuple[float, float]:
    """(ms from process start to the first 200, ms of that request alone). With `idle`, the request is
    sent that many seconds after the port opens, as to an instance started before its traffic (a
    minimum instance, a scale-up ahead of demand)."""
    url = f"http://127.0.0.1:{port}/v1/models/churn/versions/production:predict"
    body = {"instances": [{"age": 50, "color": "blue"}]}
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "functions_framework", "--target", "predict", "--source",
                                 str(code / "functions" / "main.py"), "--signature-type", "http", "--host",
                                 "127.0.0.1", "--port", str(port)], env=env, stdout=out, stderr=out, cwd=code)
        try:
            if idle:
                while not _port_open(port):
                    if proc.poll() is not None or time.perf_counter() - started > 120:
                        raise RuntimeError(log.read_text()[-2000:])
                    time.sleep(0.02)
                time.sleep(idle)
            while True:
                if proc.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(log.read_text()[-2000:])
                t0 = time.perf_counter()
                try:
                    answer = requests.post(url, json=body, timeout=60, headers={"Authorization": "Bearer " + token})
                except requests.ConnectionError:
                    time.sleep(0.02)
                    continue
                answer.raise_for_status()
                done = time.perf_counter()
                return (done - started) * 1000, (done - t0) * 1000
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ports", default="18700-18749")
    parser.add_argument("--code", action="append", type=Path, help="a checkout to start (repeatable)")
    args = parser.parse_args()
    codes = [c.resolve() for c in (args.code or [ROOT])]
    low, high = (int(p) for p in args.ports.split("-"))

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, storage

    from tests.unit.online_fixtures import register
    from zygarde.adapters.firestore import FirestoreJobRepository
    from zygarde.adapters.gcs import GcsBlobStore
    from zygarde.domain.identity import owner_key
    from zygarde.local.cloud import EMULATORS, IDENTITY, LocalCloud, LocalPorts

    state = Path(tempfile.mkdtemp(prefix="zygarde-cold-"))
    cloud = LocalCloud(state, LocalPorts.free(low, high), project="zygarde-cold", bucket="zygarde-cold",
                       components=(*EMULATORS, IDENTITY))
    results: dict = {"repeats": args.repeats, "codes": [str(c) for c in codes], "runs": {}}
    try:
        cloud.up()
        os.environ.update(cloud.env())
        repo = FirestoreJobRepository(firestore.Client(project=cloud.project))
        blobs = GcsBlobStore(storage.Client(project=cloud.project, credentials=AnonymousCredentials()))
        register(repo, blobs, "churn", "job-1", bucket=cloud.bucket, owner=owner_key(USER))
        repo.set_alias("churn", "production", 1, owner_key(USER), "2026-01-01T00:00:00+00:00")
        port = LocalPorts.free(low, high).scheduler
        token = cloud.identity_token(USER)
        for i in range(args.repeats):
            for code in codes:
                for warm, idle in ((False, 0.0), (True, 0.0), (False, IDLE), (True, IDLE)):
                    env = {**os.environ, "PYTHONPATH": str(code), "FUNCTION_TARGET": "predict",
                           "XDG_RUNTIME_DIR": str(state), "PYTHONUNBUFFERED": "1"}
                    env.pop(WARM, None)
                    if warm:
                        env[WARM] = "churn@production"
                    key = f"{code.name} {'warm' if warm else 'plain'}" + (f", request {IDLE:g} s after start" if idle else "")
                    total, first = _first_answer(code, env, port, token, state / f"predict-{i}.log", idle)
                    results["runs"].setdefault(key, []).append({"cold_start_ms": round(total, 1),
                                                                "first_request_ms": round(first, 1)})
                    print(key, round(total), round(first), flush=True)
    finally:
        cloud.down()
    results["median"] = {k: {m: statistics.median(r[m] for r in runs) for m in ("cold_start_ms", "first_request_ms")}
                         for k, runs in results["runs"].items()}
    out = Path(__file__).with_name("results_predict_cold_start.json")
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results["median"], indent=1))


if __name__ == "__main__":
    main()
