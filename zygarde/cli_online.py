"""`zygarde models alias|aliases` and `zygarde predict`: aliases in the registry, the predict service over HTTP."""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.table import Table

from zygarde.cli_common import FORMAT
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
def models_alias(name: str, alias: str, version: int) -> None:
    """Point ALIAS of model NAME at VERSION (e.g. `zygarde models alias churn production 3`). Only its owner
    and its writers may: you, as your identity token proves."""
    from zygarde.cli_common import Signer
    from zygarde.service_layer.online import move_alias

    deps = _deps()
    me = Signer(deps).identity
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    try:
        record = move_alias(deps.repo, name, alias, version, me.key, now)
    except ValueError as exc:
        _console().print(str(exc), style="red", markup=False, highlight=False)
        sys.exit(1)
    _console().print(f"{name}@{alias} -> version {record['version']} (moved by {me.email} at {now})",
                     markup=False, highlight=False)


@click.command("aliases")
@click.argument("name")
def models_aliases(name: str) -> None:
    """The aliases of model NAME, with who moved each last and when (a model you own or that is shared with you)."""
    from zygarde.cli_common import Signer
    from zygarde.service_layer import model_access
    from zygarde.service_layer.online import aliases

    deps = _deps()
    repo, me = deps.repo, Signer(deps).identity
    if model_access.readable_model(repo, name, me.key) is None:
        _console().print(f"no model {name[:100]} that you ({me.email}) may use is registered",
                         style="red", markup=False, highlight=False)
        sys.exit(1)
    table = Table("alias", "version", "moved by", "moved at", "moves", title=f"aliases of {name}")
    for alias, r in sorted(aliases(repo, name).items()):
        table.add_row(alias, str(r["version"]), r.get("moved_by", ""), r.get("moved_at", ""),
                      str(len(r.get("history", []))))
    _console().print(table)


@click.command()
@click.argument("target")
@click.argument("rows_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default=None, help=f"The predict service (default: ${env_name('predict_url')}).")
@click.option("--explain", is_flag=True, help="Each row's attributions too: how much each column moved its margin "
                                              "(XGBoost and linear models; shown with --format json).")
@FORMAT
def predict(target: str, rows_file: Path, url: str | None, explain: bool, fmt: str) -> None:
    """Score ROWS_FILE (a JSON list of {column: value}, or {"instances": [...]}) with TARGET:
    NAME (newest version), NAME@alias or NAME:version, as the identity your token proves. A table
    (row, prediction, label, each class's probability), or with --format json the service's answer."""
    import requests

    from zygarde.adapters.auth import AuthorizedClient, TokenSource, TokenUnavailable
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
    if explain and isinstance(body, dict):
        body["explain"] = True
    client = AuthorizedClient(TokenSource(url.rstrip("/")), timeout=60)
    try:
        response = client.post(f"{url.rstrip('/')}/v1/models/{name}/versions/{ref}:predict", json.dumps(body).encode(),
                               **{"Content-Type": "application/json"})
    except TokenUnavailable as exc:
        _console().print(f"[red]cannot prove who you are: {exc}[/red]")
        sys.exit(2)
    except requests.RequestException as exc:
        _console().print(f"[red]the predict service at {url} cannot be reached: {type(exc).__name__}[/red]")
        sys.exit(1)
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": {"message": response.text[:500]}}
    if response.status_code != 200:
        _console().print(f"[red]{response.status_code}: {answer.get('error', {}).get('message', answer)}[/red]")
        sys.exit(1)
    if fmt == "json":
        click.echo(json.dumps(answer, indent=1))
        return
    _console().print(predictions_table(answer))


def predictions_table(answer: dict) -> Table:
    """One row per scored instance: its prediction, its label and each class's probability when the
    model is a classifier."""
    classes = answer.get("classes") or []
    rows = answer.get("predictions") or []
    labelled = any("label" in r for r in rows)
    probabilities = bool(classes) and any("probabilities" in r for r in rows)
    table = Table("row", "prediction", *(["label"] if labelled else []),
                  *([f"P({c})" for c in classes] if probabilities else []),
                  title=f"{answer.get('model')} version {answer.get('modelVersionId')}")
    for i, r in enumerate(rows):
        cells = [str(i), f"{r['prediction']:.6g}"] + ([str(r.get("label", ""))] if labelled else [])
        if probabilities:
            cells += [f"{p:.4f}" for p in r.get("probabilities") or []]
        table.add_row(*cells)
    return table
