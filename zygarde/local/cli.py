"""`zygarde local up | down | status | env`: run the whole platform on this machine."""
from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path

import click
from rich.table import Table

from zygarde.domain.errors import ZygardeError
from zygarde.local.cloud import EMULATORS, IDENTITY, LocalCloud, all_components
from zygarde.terminal import make_console

DEFAULT_STATE_DIR = Path(os.environ.get("ZYGARDE_STATE_DIR", ".zygarde"))
console = make_console()

state_dir_option = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
                                default=DEFAULT_STATE_DIR, show_default=True,
                                help="Folder of the local cloud's state, logs and PIDs ($ZYGARDE_STATE_DIR).")


def _fail(err: ZygardeError) -> click.ClickException:
    return click.ClickException(str(err))


def _status_table(status: dict[str, dict]) -> Table:
    table = Table("component", "pid", "port", "ready", "log")
    for name, row in status.items():
        ready = "[green]yes[/green]" if row["ready"] else ("[yellow]starting[/yellow]" if row["running"]
                                                           else "[red]no[/red]")
        table.add_row(name, str(row["pid"] or "-"), str(row["port"]), ready, row["log"])
    return table


@click.group()
def local() -> None:
    """The local cloud: Pub/Sub and Firestore emulators, fake GCS, local Dataproc, the functions."""


@local.command()
@state_dir_option
@click.option("--ports", default="", metavar="NAME=PORT,...",
              help="Override ports: pubsub, firestore, storage, dataproc, scheduler, web, identity, functions (first "
                   "function port) or a function key. Defaults: pubsub=8085 dataproc=8086 scheduler=8087 web=8088 "
                   "identity=8089 firestore=8681 storage=4443 functions=8701.")
@click.option("--project", default=None, help="Project id the emulators use (default zygarde-local).")
@click.option("--bucket", default=None, help="Bucket name (default zygarde-local).")
@click.option("--max-concurrent-batches", type=int, default=None, help="Batches the local Dataproc runs at once.")
@click.option("--functions-source", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Source file of the Cloud Functions (default functions/main.py).")
@click.option("--tick-seconds", type=click.FloatRange(min=1), default=None,
              help="How often the local scheduler publishes the reconciler's tick (default 120, as deployed).")
@click.option("--emulators-only", is_flag=True, help="Only Pub/Sub, Firestore and fake GCS.")
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
def up(state_dir: Path, ports: str, project: str | None, bucket: str | None, max_concurrent_batches: int | None,
       functions_source: Path | None, tick_seconds: float | None, emulators_only: bool, verbose: bool) -> None:
    """Start everything that is not running yet (idempotent) and create topics, subscriptions, bucket, code."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        known = (state_dir / "state.json").exists()
        cloud = LocalCloud.load(state_dir) if known else LocalCloud(state_dir)
        cloud.components = EMULATORS if emulators_only else all_components()
        cloud.ports = cloud.ports.with_overrides(ports)
        cloud.project = project or cloud.project
        cloud.bucket = bucket or cloud.bucket
        if max_concurrent_batches is not None:
            cloud.max_concurrent_batches = max_concurrent_batches
        if functions_source is not None:
            cloud.functions_source = functions_source.resolve()
        if tick_seconds is not None:
            cloud.tick_seconds = tick_seconds
        with console.status("starting the local cloud..."):
            status = cloud.up()
    except ZygardeError as err:
        raise _fail(err) from None
    console.print(_status_table(status))
    console.print(f"project={cloud.project} bucket={cloud.bucket} code_version={cloud.code_version or '-'}")
    if "web" in cloud.components:
        console.print(f"web app: [bold]{cloud.url('web')}[/bold] (sign in as any user name)")
    console.print(f'use it from a shell, as one user: eval "$(zygarde local env --state-dir '
                  f'{shlex.quote(str(state_dir))} --user you@example.com)"')


@local.command()
@state_dir_option
def down(state_dir: Path) -> None:
    """Stop every process this state folder recorded."""
    try:
        stopped = LocalCloud.load(state_dir).down()
    except ZygardeError as err:
        raise _fail(err) from None
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@local.command()
@state_dir_option
def status(state_dir: Path) -> None:
    """A table of component, pid, port, ready."""
    try:
        rows = LocalCloud.load(state_dir).status()
    except ZygardeError as err:
        raise _fail(err) from None
    console.print(_status_table(rows))


@local.command("env")
@state_dir_option
@click.option("--user", default=None, metavar="E-MAIL",
              help="Whose identity token to export as ZYGARDE_IDENTITY_TOKEN (default: $ZYGARDE_OWNER, else $USER).")
@click.option("--hours", type=click.FloatRange(min=0.01, max=24), default=12.0, show_default=True,
              help="How long the token is valid.")
def env_(state_dir: Path, user: str | None, hours: float) -> None:
    """Print `export K=V` lines for clients of the local cloud, with an identity token for one user:
    eval "$(zygarde local env --user alice@example.com)"."""
    from zygarde.config import env_name

    try:
        cloud = LocalCloud.load(state_dir)
        values = cloud.env()
        user = user or os.environ.get("ZYGARDE_OWNER") or os.environ.get("USER")
        if user and IDENTITY in cloud.components:
            values[env_name("identity_token")] = cloud.identity_token(user, lifetime=hours * 3600)
    except ZygardeError as err:
        raise _fail(err) from None
    for key, value in values.items():
        click.echo(f"export {key}={shlex.quote(value)}")


if __name__ == "__main__":
    local()
