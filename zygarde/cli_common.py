"""What the CLI's commands share: the console, the local cloud's environment, the dependencies,
and following a job to its leaderboard. Its own module, so that the command modules (cli, cli_extras,
cli_online, local/demo) import it rather than each other."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
from rich.table import Table

from zygarde.terminal import make_console

console = make_console()
DEFAULT_STATE_DIR = Path(os.environ.get("ZYGARDE_STATE_DIR", ".zygarde"))
# Every command that prints results takes it: a table for people, JSON for scripts.
FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)


def use_local_cloud_env(state_dir: Path = DEFAULT_STATE_DIR) -> None:
    """When a local cloud is running from this folder, talk to it (explicit env vars win)."""
    try:
        from zygarde.local.cloud import LocalCloud

        cloud = LocalCloud.load(state_dir)
    except Exception:  # noqa: BLE001 - no local cloud: use the environment as it is
        return
    for key, value in cloud.env().items():
        os.environ.setdefault(key, value)


def local_deps():
    from zygarde.bootstrap import build_deps

    use_local_cloud_env()
    return build_deps()


class Signer:
    """Who runs the CLI, as the functions will see it: an identity token for the jobs topic (from
    $ZYGARDE_IDENTITY_TOKEN, the local cloud's issuer, or Google: see zygarde.adapters.auth), the
    e-mail it names and that e-mail's owner key. Exits with a clear message when there is no token."""

    def __init__(self, deps):
        from zygarde.adapters.auth import TokenSource
        from zygarde.config import jobs_audience

        self.deps = deps
        self._tokens = TokenSource(jobs_audience(deps.settings.project))

    def token(self) -> str:
        import sys

        from zygarde.adapters.auth import TokenUnavailable

        try:
            return self._tokens()
        except TokenUnavailable as exc:
            console.print(f"[red]cannot prove who you are: {exc}[/red]")
            sys.exit(2)

    @property
    def identity(self):
        import sys

        from zygarde.adapters.auth import TokenUnavailable, token_email
        from zygarde.domain.identity import Identity, IdentityError

        try:
            return Identity(token_email(self.token()))
        except (TokenUnavailable, IdentityError) as exc:
            console.print(f"[red]cannot prove who you are: {exc}[/red]")
            sys.exit(2)

    def publish(self, data: bytes, **attributes: str) -> str:
        """Publish to the jobs topic, signed: the message's `token` attribute(s) carry the identity token."""
        from zygarde.domain.identity import token_attributes

        return self.deps.publisher.publish("jobs", data, **token_attributes(self.token()), **attributes)


def follow(deps, job_id: str, timeout: float = 3600, poll: float = 2.0) -> int:
    """Show progress until the job ends; exit code 0 when it SUCCEEDED."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from zygarde.service_layer.queries import job_view

    deadline = time.monotonic() + timeout
    with Progress(TextColumn("[bold]{task.fields[job]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("job", total=None, job=job_id, detail="waiting for the job to be recorded")
        view = None
        while time.monotonic() < deadline:
            view = job_view(deps.repo, job_id)
            if view is not None:
                c = view.counts
                detail = (f"{view.job.state.value}: running {c['RUNNING'] + c['LAUNCHING']}, waiting {c['WAITING']}, "
                          f"ok {c['SUCCEEDED']}, failed {c['FAILED']}")
                if c["PAUSED"] or c["PRUNED"]:
                    detail += f", paused {c['PAUSED']}, pruned {c['PRUNED']}"
                detail = view.stage or detail
                progress.update(task, total=max(len(view.trials), 1), completed=view.finished_trials, detail=detail)
                if view.job.state.is_finished():
                    break
            time.sleep(poll)
    if view is None:
        console.print(f"[red]job {job_id} was never recorded (is the submit_job function running?)[/red]")
        return 1
    print_job(view)
    return 0 if view.job.state.value == "SUCCEEDED" else 1


def print_job(view) -> None:
    job = view.job
    colour = {"SUCCEEDED": "green", "RUNNING": "yellow"}.get(job.state.value, "red")
    took = f" in {job.duration_seconds:.1f} s" if job.duration_seconds is not None else ""
    console.print(f"job [bold]{job.job_id}[/bold] owner {job.owner}: [{colour}]{job.state.value}[/{colour}]{took}")
    if job.plan:
        from zygarde.service_layer.insights import job_cost, plan_line
        from zygarde.web.settings import price_per_dcu_hour

        console.print(f"  {plan_line(job, job_cost(view, price_per_dcu_hour()))}", highlight=False)
    if job.error:
        console.print(f"  reason: {job.error}")
    if view.prepare is not None:
        rows = view.prepare.outputs.get("rows") or {}
        stage = view.prepare.conditions[-1].message if view.prepare.conditions else view.prepare.state.value
        console.print(f"  data: {', '.join(f'{k} {v} rows' for k, v in sorted(rows.items())) or stage}")
        for warning in view.data_report.get("warnings", [])[:10]:
            text = warning.get("message", warning) if isinstance(warning, dict) else warning
            console.print(f"  [yellow]data warning:[/yellow] {text}")
    if not view.trials:
        return
    console.print(f"  trials: {view.progress_text}")
    rows = view.leaderboard()
    halving = any(row.fidelity for row in rows)
    columns = ["#", "trial", "algorithm", "params", "state"] + ["rung (rows)"] * halving
    table = Table(*columns, view.metric or "metric", "duration (s)", "attempt",
                  title=f"leaderboard ({view.metric}, {view.direction})")
    for row in rows:
        table.add_row(str(row.rank or "-"), row.trial_id, row.algorithm, json.dumps(row.params, sort_keys=True),
                      row.state, *([row.fidelity] * halving), f"{row.objective:.4f}" if row.objective is not None else "",
                      f"{row.duration_seconds:.1f}" if row.duration_seconds is not None else "", str(row.attempt))
    console.print(table)
    for row in rows:
        if row.state == "FAILED":
            console.print(f"  {row.trial_id} failed: {row.reason}")
    cancelled: dict[str, list[str]] = {}  # why (the deadline, a budget, a cancel) -> trials
    for row in rows:
        if row.state == "CANCELLED":
            cancelled.setdefault(row.reason, []).append(row.trial_id)
    for why, ids in cancelled.items():
        console.print(f"  {', '.join(ids)} cancelled: {why}", markup=False, highlight=False)
    pruned = [row for row in rows if row.state == "PRUNED"]
    if pruned:
        console.print(f"  {len(pruned)} trials pruned by successive halving (score at their last rung shown)")
    if view.best is not None:
        console.print(f"best trial: [bold]{view.best.trial_id}[/bold] ({view.best.algorithm}, "
                      f"{view.metric}={view.best.objective:.4f} on validation)"
                      + (f", its model {view.best.model_uri}" if view.best.model_uri else ""))
    if job.model_version is not None:
        test = job.test_metrics.get(view.metric)
        package = view.finalize.outputs.get("package_uri") if view.finalize else None
        console.print(f"registered: [bold]{job.model_name} v{job.model_version}[/bold]"
                      + (f", {view.metric}={test:.4f} on the held-out test split" if test is not None else "")
                      + (f", package {package}" if package else ""))
