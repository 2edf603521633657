"""The local cloud's token issuer: serves the public certificate of its signing key, in the format of
Google's https://www.googleapis.com/oauth2/v1/certs, and issues identity tokens, as the metadata
server issues a service account's. The local cloud trusts whoever can reach it, as it trusts whoever
can reach its emulators.

    python -m zygarde.local.token_server --port 8089 --state-dir .zygarde/identity --issuer http://127.0.0.1:8089

`GET /` answers `Ok` (readiness); `GET /oauth2/v1/certs` the certificates (key id -> PEM);
`GET /token?email=E&audience=A` a token for E, valid for an hour.
"""
from __future__ import annotations

import argparse
import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from zygarde.local.identity import TokenIssuer

log = logging.getLogger("zygarde.local.token_server")
CERTS_PATH, TOKEN_PATH = "/oauth2/v1/certs", "/token"


def serve(host: str, port: int, issuer: TokenIssuer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == CERTS_PATH:
                self._send(200, json.dumps(issuer.certs()), "application/json")
            elif url.path == TOKEN_PATH:
                email, audience = query.get("email", "").strip(), query.get("audience", "").strip()
                if not email or not audience:
                    self._send(400, "give email and audience", "text/plain")
                    return
                log.info("token issued audience=%s", audience)
                self._send(200, issuer.mint(email, audience), "text/plain")
            else:
                self._send(200, "Ok", "text/plain")

        def _send(self, status: int, text: str, content_type: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
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
    parser.add_argument("--state-dir", type=Path, required=True, help="where the signing key is kept")
    parser.add_argument("--issuer", required=True, help="the iss of the tokens: this server's URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    issuer = TokenIssuer.load_or_create(args.state_dir, args.issuer)
    log.info("local token issuer port=%d key_id=%s", args.port, issuer.key_id)
    serve(args.host, args.port, issuer).serve_forever()


if __name__ == "__main__":
    main()
