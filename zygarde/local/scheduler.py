"""The local Cloud Scheduler: publishes the reconciler's tick to the reconcile topic of the Pub/Sub
emulator every N seconds, with the payload terraform's scheduler job sends, so that dead batches,
lost results and deadlines are handled locally without anyone publishing by hand.

    python -m zygarde.local.scheduler --port 8087 --pubsub 127.0.0.1:8085 --project p --every 120

`GET /` answers `Ok` (readiness, like the emulators); `GET /ticks` the number published so far.
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from zygarde.config import topic

log = logging.getLogger("zygarde.local.scheduler")

TICK = {"reason": "tick", "source": "local-scheduler"}


def publish_tick(pubsub_host: str, project: str, topic_name: str, timeout: float = 10.0) -> str:
    """Publish one tick through the emulator's REST API. Returns the message id."""
    body = {"messages": [{"data": base64.b64encode(json.dumps(TICK).encode()).decode(),
                          "attributes": {"source": TICK["source"]}}]}
    req = urllib.request.Request(f"http://{pubsub_host}/v1/projects/{project}/topics/{topic_name}:publish",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())["messageIds"][0]


class Ticker(threading.Thread):
    def __init__(self, pubsub_host: str, project: str, every: float):
        super().__init__(daemon=True, name="ticker")
        self.pubsub_host, self.project, self.every = pubsub_host, project, every
        self.count = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        topic_name = topic("reconcile")
        while not self.stopped.wait(self.every):
            try:
                message_id = publish_tick(self.pubsub_host, self.project, topic_name)
            except OSError as exc:  # the emulator is restarting: the next tick will do
                log.warning("tick not published topic=%s error=%s", topic_name, exc)
                continue
            self.count += 1
            log.info("tick published topic=%s message_id=%s count=%d", topic_name, message_id, self.count)


def serve(host: str, port: int, ticker: Ticker) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            text = str(ticker.count) if self.path == "/ticks" else "Ok"
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pubsub", required=True, help="the Pub/Sub emulator, HOST:PORT")
    parser.add_argument("--project", required=True)
    parser.add_argument("--every", type=float, default=120.0, help="seconds between ticks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    ticker = Ticker(args.pubsub, args.project, args.every)
    ticker.start()
    server = serve(args.host, args.port, ticker)
    log.info("local scheduler every=%ss topic=%s port=%d", args.every, topic("reconcile"), args.port)
    try:
        server.serve_forever()
    finally:
        ticker.stopped.set()


if __name__ == "__main__":
    main()
