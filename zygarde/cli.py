"""`zygarde`: submit jobs, follow them, read their results; `zygarde local ...` runs the local cloud."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from zygarde import cli_common
from zygarde.cli_common import DEFAULT_STATE_DIR, console, follow, print_job
from zygarde.domain.errors import ConfigError, DatasetError, SpecError, ZygardeError
from zygarde.domain.raw_doc import safe_text


class _Commands(click.Group):
    """Every command: a missing or bad setting (ConfigError) ends it with its one sentence, not a trace."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            hint = " (`eval \"$(zygarde local env)\"` sets them for the local cloud)" if "missing" in str(exc) else ""
            raise click.ClickException(f"{exc}{hint}") from None


@click.group(cls=_Commands)
def main() -> None:
    """Zygarde: train tabular ML models on demand."""


@main.command()
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--wait/--no-wait", default=False, help="Follow the job until it ends.")
def submit(spec_file: Path, wait: bool) -> None:
    """Validate SPEC_FILE (spec and dataset, as the submit function does) and publish it to the jobs topic,
    signed with your identity token: its owner must be you (your e-mail's owner key)."""
    from zygarde.service_layer import submission

    raw = spec_file.read_bytes()
    try:
        spec = submission.parse(raw)
    except SpecError as exc:
        console.print(f"[red]invalid job spec {spec_file}:[/red]", highlight=False)
        for path, reason in exc.problems:
            console.print(f"  - {path or '(document)'}: {safe_text(reason, 500)}", markup=False, highlight=False)
        sys.exit(2)
    deps = cli_common.local_deps()
    signer = cli_common.Signer(deps)
    me = signer.identity
    if spec.owner != me.key:
        console.print(f"[red]job {spec_file} names the owner {spec.owner}, but you are {me.email} (owner key "
                      f"{me.key}): a job is submitted by its owner[/red]", highlight=False)
        sys.exit(2)
    try:
        existing = deps.repo.get_job(spec.job_id) if spec.job_id else None
        if existing is not None and existing.spec != spec.model_dump(mode="json"):
            console.print(f"[red]job id {spec.job_id} is already used by another job (submitted "
                          f"{existing.created_at[:19]}): choose another job_id, or leave it out[/red]")
            sys.exit(2)
        if existing is None:
            submission.check_model_name(spec, spec.job_id or "", deps.repo)
            submission.check_dataset(spec, deps.blobs, deps.settings.bucket)
        message_id = signer.publish(raw)
    except (SpecError, DatasetError) as exc:
        console.print(f"[red]job {spec_file} would be rejected:[/red] ", end="", highlight=False)
        console.print(safe_text(str(exc), 1000), markup=False, highlight=False)
        sys.exit(2)
    except ZygardeError as exc:
        console.print(f"[red]cannot submit {spec_file}:[/red] ", end="", highlight=False)
        console.print(safe_text(str(exc), 1000), markup=False, highlight=False)
        sys.exit(1)
    job_id = spec.job_id
    if job_id is None:
        from zygarde.service_layer.job_rejection import derived_job_id

        job_id = derived_job_id(f"msg:{message_id}")
    console.print(f"submitted job [bold]{job_id}[/bold] (message {message_id})")
    if wait:
        sys.exit(follow(deps, job_id))


FORMAT = cli_common.FORMAT


@main.command()
@click.argument("job_id", required=False)
@click.option("--owner", help="Only this owner's jobs.")
@FORMAT
def status(job_id: str | None, owner: str | None, fmt: str) -> None:
    """One job's state and leaderboard, or the recent jobs."""
    from zygarde.cli_extras import echo_json, job_json
    from zygarde.domain.budgets import deadline_clock
    from zygarde.service_layer.queries import job_view, recent_jobs

    deps = cli_common.local_deps()
    if job_id is None and fmt == "json":
        echo_json([{"job_id": j.job_id, "owner": j.owner, "state": j.state.value, "trials": j.trial_count,
                    "best_trial": j.best_trial_id, "best": j.best_objective, "created_at": j.created_at}
                   for j in recent_jobs(deps.repo, owner=owner)])
        return
    if job_id is None:
        table = Table("job", "owner", "state", "trials", "best", "created")
        for job in recent_jobs(deps.repo, owner=owner):
            best = f"{job.best_trial_id} {job.best_objective:.4f}" if job.best_objective is not None else ""
            until = deadline_clock(job) if not job.state.is_finished() else None
            trials = f"until {until}" if until else str(job.trial_count)  # a deadline job's count is only its cap
            table.add_row(job.job_id, job.owner, job.state.value, trials, best, job.created_at[:19])
        console.print(table)
        return
    view = job_view(deps.repo, job_id)
    if view is None:
        console.print(f"[red]no job {job_id}[/red]")
        sys.exit(1)
    if fmt == "json":
        echo_json(job_json(view))
        return
    print_job(view)


class _ModelsGroup(click.Group):
    """`models NAME` lists versions (the `list` subcommand); `models alias|aliases ...` manage aliases."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@main.group(cls=_ModelsGroup)
def models() -> None:
    """A model's versions (`zygarde models NAME`), aliases (`zygarde models alias NAME ALIAS VERSION`) and who
    may use it (`zygarde models grant NAME USER --role reader|writer`, `zygarde models revoke NAME USER`)."""


@models.command("list")
@click.argument("name")
@FORMAT
def models_list(name: str, fmt: str) -> None:
    """The registered versions of model NAME: winner, validation and test scores, package. Only a model you
    (as your identity token proves) own or that is shared with you."""
    from zygarde.cli_extras import echo_json, explanations_line, importance_lines, model_rows_json
    from zygarde.service_layer import model_access
    from zygarde.service_layer.queries import model_versions

    deps = cli_common.local_deps()
    me = cli_common.Signer(deps).identity
    doc = model_access.readable_model(deps.repo, name, me.key)
    rows = model_versions(deps.repo, name) if doc is not None else []
    if not rows:
        console.print(f"no model {safe_text(name, 100)} that you ({me.email}) may use is registered",
                      style="red", markup=False, highlight=False)
        sys.exit(1)
    if fmt == "json":
        echo_json(model_rows_json(rows))
        return
    table = Table("version", "job", "trial", "algorithm", "params", "validation", "test", "package", "registered",
                  title=f"model {name} ({rows[-1].metric})")
    for r in rows:
        table.add_row(str(r.version), r.job_id, r.trial_id, r.algorithm, json.dumps(r.params, sort_keys=True),
                      f"{r.validation:.4f}" if r.validation is not None else "",
                      f"{r.test:.4f}" if r.test is not None else "", r.package_uri or "", (r.registered_at or "")[:19])
    console.print(table)
    for line in [*importance_lines(rows[-1]), explanations_line(rows[-1])]:
        console.print(line, markup=False, highlight=False)
    shared = ", ".join(sorted(f"{model_access.member_identity(g)} ({r})" for g, r in (doc.get("grants") or {}).items()))
    owner = model_access.member_identity(doc["owner"]) if doc.get("owner") else "unknown"
    console.print(f"owner: {owner}" + (f"; shared with {shared}" if shared else ""), markup=False, highlight=False)


@main.command()
@click.argument("job_id")
def cancel(job_id: str) -> None:
    """Cancel a job: its batches stop, its waiting trials never launch. Only the job's owner may: you, as your
    identity token proves."""
    deps = cli_common.local_deps()
    signer = cli_common.Signer(deps)
    me = signer.identity
    job = deps.repo.get_job(job_id)
    if job is None:
        console.print(f"[red]no such job {job_id}[/red]")
        sys.exit(1)
    if job.owner != me.key:
        console.print(f"[red]job {job_id} is owned by {job.owner}, not you ({me.email}): only its owner can "
                      "cancel it[/red]", highlight=False)
        sys.exit(1)
    if job.state.is_finished():
        console.print(f"job {job_id} has already ended ({job.state.value}): nothing to cancel")
        return
    message_id = signer.publish(json.dumps({"job_id": job_id}).encode(), action="cancel")
    console.print(f"cancel requested for job [bold]{job_id}[/bold] by {me.email} (message {message_id})",
                  highlight=False)


@main.command()
@click.argument("job_id")
@FORMAT
def watch(job_id: str, fmt: str) -> None:
    """Follow a job with a live progress line, then print its leaderboard (json: one line per change)."""
    if fmt == "json":
        from zygarde.cli_extras import watch_json

        sys.exit(watch_json(cli_common.local_deps(), job_id))
    sys.exit(follow(cli_common.local_deps(), job_id))


@main.command()
@click.option("--state-dir", type=click.Path(path_type=Path), default=DEFAULT_STATE_DIR)
@click.option("--keep-running/--stop", default=True, help="Leave the local cloud up afterwards.")
def demo(state_dir: Path, keep_running: bool) -> None:
    """Start the local cloud, upload a sample dataset, run a 4-trial job and print its leaderboard."""
    from zygarde.local.demo import run_demo

    try:
        sys.exit(run_demo(state_dir, keep_running=keep_running, console=console))
    except ZygardeError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)


def _mount_local() -> None:
    try:
        from zygarde.local.cli import local
    except ImportError:  # the local cloud is not part of a function deployment
        return
    main.add_command(local)


_mount_local()
__import__("zygarde.cli_extras").cli_extras.register(main)


def _mount_online() -> None:
    from zygarde.cli_models import models_grant, models_revoke
    from zygarde.cli_online import models_alias, models_aliases, predict

    for command in (models_alias, models_aliases, models_grant, models_revoke):
        models.add_command(command)
    main.add_command(predict)


_mount_online()


if __name__ == "__main__":
    main()
