"""More `zygarde` commands: upload a dataset under the user's prefix, re-run a job; JSON output."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from zygarde.terminal import make_console

console = make_console()


def job_json(view) -> dict:
    """A job's state, counts, leaderboard, cost and model, as `status --format json` prints it."""
    from zygarde.service_layer.insights import progress
    from zygarde.web.settings import price_per_dcu_hour

    data = progress(view, price_per_dcu_hour())
    data.pop("series", None)
    return {"owner": view.job.owner, "created_at": view.job.created_at, **data}


def echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upload(file: Path) -> None:
    """Upload FILE (CSV, Parquet, JSON lines, LIBSVM) to gs://BUCKET/datasets/OWNER/NAME, where OWNER is your
    owner key (your e-mail, as your identity token names it): the folder your jobs may read."""
    from zygarde.cli_common import Signer, local_deps as _deps
    from zygarde.service_layer.catalog import columns_of, format_of, owner_prefix
    from zygarde.web.uploads import content_problem, dataset_object_problem

    data = file.read_bytes()
    problem = dataset_object_problem(file.name) or content_problem(file.name, data[:64 * 1024], data[-8:])
    if problem:
        console.print(f"[red]{file}: {problem}[/red]")
        sys.exit(2)
    deps = _deps()
    uri = owner_prefix(deps.settings.bucket, Signer(deps).identity.key) + file.name
    deps.blobs.write_bytes(uri, data)
    columns = columns_of(deps.blobs, uri, format_of(file.name))
    console.print(f"uploaded {uri} ({len(data)} bytes; columns: {', '.join(columns) or '-'})")


@click.command()
@click.argument("job_id")
def rerun(job_id: str) -> None:
    """Submit JOB_ID again: the same spec (data, seed, search) under a new job id, same model name."""
    from zygarde.cli_common import Signer, local_deps as _deps
    from zygarde.web.jobform import new_job_id

    deps = _deps()
    signer = Signer(deps)
    job = deps.repo.get_job(job_id)
    if job is None or "dataset" not in job.spec:
        console.print(f"[red]no job {job_id} with a valid spec to run again[/red]")
        sys.exit(1)
    if job.owner != signer.identity.key:
        console.print(f"[red]job {job_id} is owned by {job.owner}, not you ({signer.identity.email}): only its owner "
                      "can run it again[/red]", highlight=False)
        sys.exit(1)
    spec = {**job.spec, "name": job.spec.get("name") or job_id, "job_id": new_job_id(job_id.rsplit("-", 1)[0])}
    message_id = signer.publish(json.dumps(spec).encode())
    console.print(f"submitted job [bold]{spec['job_id']}[/bold] again from {job_id} (message {message_id})")


def model_rows_json(rows) -> list[dict]:
    return [dataclasses.asdict(r) for r in rows]


@click.command("predict-batch")
@click.argument("model")
@click.argument("input_uri")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "parquet", "json", "libsvm"]))
@click.option("--options", default="{}", help='reader options as a JSON object, e.g. {"sep": ";"}')
@click.option("--output", default=None, help="where to write the predictions (default: under the model's folder)")
@click.option("--owner", default=None, help="whose datasets/ the input is in: an e-mail (default: you, as your identity "
                                             "token names you)")
@click.option("--wait/--no-wait", default=True, help="wait for the batch to end")
def predict_batch(model: str, input_uri: str, fmt: str, options: str, output: str | None, owner: str | None,
                  wait: bool) -> None:
    """Score INPUT_URI with MODEL (NAME or NAME:VERSION, default the latest) in a Dataproc batch."""
    import time

    from zygarde.cli_common import Signer, local_deps as _deps
    from zygarde.domain.errors import PermanentError
    from zygarde.domain.identity import owner_key
    from zygarde.service_layer import batch_prediction

    name, _, version = model.partition(":")
    try:
        reader = json.loads(options)
        if not isinstance(reader, dict) or (version and not version.isdigit()):
            raise ValueError
    except ValueError:
        console.print("[red]--options must be a JSON object and the version a number (NAME:3)[/red]")
        sys.exit(2)
    deps = _deps()
    try:
        batch = batch_prediction.submit(deps, name, int(version) if version else None, input_uri, fmt,
                                        owner_key(owner) if owner else Signer(deps).identity.key, reader, output)
    except PermanentError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)
    console.print(f"batch {batch.batch_id}: {name} v{batch.version} scores {input_uri} into {batch.output_uri}")
    if not wait:
        return
    info = deps.launcher.get(batch.batch_id)
    while not info.is_terminal:
        time.sleep(2)
        info = deps.launcher.get(batch.batch_id)
    if info.state != "SUCCEEDED":
        console.print(f"[red]batch {batch.batch_id} ended {info.state}: {info.state_message or 'see its log'}[/red]")
        sys.exit(1)
    console.print(f"predictions written to {batch.output_uri}")


def register(main: click.Group) -> None:
    main.add_command(upload)
    main.add_command(rerun)
    main.add_command(predict_batch)


def watch_json(deps, job_id: str, timeout: float = 3600, poll: float = 2.0) -> int:
    """Print the job as a JSON line whenever its state or progress changes, until it ends."""
    import time

    from zygarde.service_layer.queries import job_view

    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        view = job_view(deps.repo, job_id)
        if view is not None:
            data = job_json(view)
            key = (data["state"], data["done"], data["best"], data["stage"])
            if key != last:
                click.echo(json.dumps(data, sort_keys=True, default=str))
                last = key
            if view.job.state.is_finished():
                return 0 if data["state"] == "SUCCEEDED" else 1
        time.sleep(poll)
    return 1


def explanations_line(row) -> str:
    """Whether the version explains single predictions (`zygarde predict --explain`), or why not."""
    section = row.explanations or {}
    if section.get("status") == "available":
        return (f"v{row.version} per-row explanations: {section.get('method')} ({section.get('output')}), with "
                "`zygarde predict --explain`")
    reason = section.get("reason") or "registered before models carried them"
    return f"v{row.version} per-row explanations: none ({reason})"


def importance_lines(row, top: int = 10, width: int = 30) -> list[str]:
    """The latest version's global feature importance as text bars (what `zygarde models NAME` prints):
    permutation on validation when measured, else the learner's own measure; [] when it has none."""
    section = row.importance or {}
    if section.get("status") != "available" or not section.get("columns"):
        reason = section.get("reason") or "registered before models carried feature importance"
        return [f"v{row.version} feature importance: none ({reason})"]
    perm = section.get("permutation") or {}
    key = "permutation" if any("permutation" in c for c in section["columns"]) else "native"
    measure = (f"permutation: how much {perm.get('metric')} worsens on validation when the column is shuffled"
               if key == "permutation" else f"the learner's {section.get('native')}")
    columns = [c for c in section["columns"] if c.get(key) is not None][:top]
    scale = max([abs(c[key]) for c in columns] + [1e-12])
    lines = [f"v{row.version} feature importance ({measure}):"]
    name_width = max(len(c["column"]) for c in columns)
    for c in columns:
        bar = "#" * max(0, round(width * max(c[key], 0.0) / scale))
        lines.append(f"  {c['column']:<{name_width}}  {c[key]:>9.4f}  {bar}")
    return lines
