"""`zygarde models alias|aliases` and `zygarde predict`: aliases in the registry, the predict service over HTTP."""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.table import Table

from zygarde.config import env_name
from zygarde.domain.registry import split_target


def _deps():
    from zygarde.cli_common import local_deps as deps

    return deps()


def _console():
    from zygarde.cli_common import console

    return console


@click.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@click.option("--by", "moved_by", default=None,
              help="Who moves it: the model's owner or a writer (default: $ZYGARDE_OWNER, else $USER).")
def models_alias(name: str, alias: str, version: int, moved_by: str | None) -> None:
    """Point ALIAS of model NAME at VERSION (e.g. `zygarde models alias churn production 3`)."""
    from zygarde.cli_extras import requester
    from zygarde.service_layer.online import move_alias

    who = requester(moved_by)
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    try:
        record = move_alias(_deps().repo, name, alias, version, who, now)
    except ValueError as exc:
        _console().print(str(exc), style="red", markup=False, highlight=False)
        sys.exit(1)
    _console().print(f"{name}@{alias} -> version {record['version']} (moved by {who} at {now})")


@click.command("aliases")
@click.argument("name")
@click.option("--owner", help="Who asks: its owner, or a user it is shared with (default: $ZYGARDE_OWNER, else "
                              "your user name).")
def models_aliases(name: str, owner: str | None) -> None:
    """The aliases of model NAME, with who moved each last and when."""
    from zygarde.cli_extras import requester
    from zygarde.service_layer import model_access
    from zygarde.service_layer.online import aliases

    repo, who = _deps().repo, requester(owner)
    if model_access.readable_model(repo, name, who) is None:
        _console().print(f"no model {name[:100]} that {who} may use is registered (--owner names who asks)",
                         style="red", markup=False, highlight=False)
        sys.exit(1)
    table = Table("alias", "version", "moved by", "moved at", "moves", title=f"aliases of {name}")
    for alias, r in sorted(aliases(repo, name).items()):
        table.add_row(alias, str(r["version"]), r.get("moved_by", ""), r.get("moved_at", ""),
                      str(len(r.get("history", []))))
    _console().print(table)


def _token(url: str) -> dict[str, str]:
    """An identity token for a Cloud Run URL (IAM invoker); none for a local service."""
    if url.startswith(("http://127.0.0.1", "http://localhost")):
        return {}
    import google.auth.transport.requests
    from google.oauth2 import id_token

    return {"Authorization": "Bearer " + id_token.fetch_id_token(google.auth.transport.requests.Request(), url)}


@click.command()
@click.argument("target")
@click.argument("rows_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default=None, help=f"The predict service (default: ${env_name('predict_url')}).")
def predict(target: str, rows_file: Path, url: str | None) -> None:
    """Score ROWS_FILE (a JSON list of {column: value}, or {"instances": [...]}) with TARGET:
    NAME (newest version), NAME@alias or NAME:version."""
    import requests

    from zygarde.cli_common import use_local_cloud_env

    use_local_cloud_env()
    url = url or os.environ.get(env_name("predict_url"))
    if not url:
        _console().print(f"[red]no predict service: set {env_name('predict_url')} or pass --url[/red]")
        sys.exit(1)
    name, ref = split_target(target)
    body = json.loads(rows_file.read_text())
    if isinstance(body, list):
        body = {"instances": body}
    response = requests.post(f"{url.rstrip('/')}/v1/models/{name}/versions/{ref}:predict", json=body,
                             headers=_token(url), timeout=60)
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": {"message": response.text[:500]}}
    if response.status_code != 200:
        _console().print(f"[red]{response.status_code}: {answer.get('error', {}).get('message', answer)}[/red]")
        sys.exit(1)
    click.echo(json.dumps(answer, indent=1))
