"""`zygarde demo`: the main job, end to end, on the local cloud."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rich.console import Console

from zygarde.terminal import make_console

DEMO_SPEC = Path(__file__).resolve().parents[2] / "examples" / "breast_cancer_job.json"


def demo_spec(bucket: str, job_id: str) -> dict:
    spec = json.loads(DEMO_SPEC.read_text())
    spec["job_id"] = job_id
    spec["dataset"]["uri"] = demo_data_uri(bucket, spec["owner"])
    return spec


def demo_data_uri(bucket: str, owner: str) -> str:
    """Where the demo's dataset goes: the owner's folder datasets/{owner}/."""
    return f"gs://{bucket}/datasets/{owner}/breast_cancer.csv"


def run_demo(state_dir: Path, keep_running: bool = True, console: Console | None = None) -> int:
    from zygarde.bootstrap import build_deps
    from zygarde.cli_common import follow
    from zygarde.domain.identity import identity_of_key, token_attributes
    from zygarde.local.cloud import LocalCloud
    from zygarde.local.sample_data import breast_cancer_csv

    console = console or make_console()
    cloud = LocalCloud.load(state_dir) if (state_dir / "state.json").exists() else LocalCloud(state_dir)
    console.print("starting the local cloud (emulators, fake GCS, local Dataproc, functions)...")
    cloud.up()
    if "web" in cloud.components:
        owner = json.loads(DEMO_SPEC.read_text())["owner"]
        console.print(f"web app: [bold]{cloud.url('web')}[/bold] (sign in as {owner} to see the demo job)")
    try:
        os.environ.update(cloud.env())
        deps = build_deps()
        bucket = deps.settings.bucket
        job_id = f"demo-{int(time.time())}"
        spec = demo_spec(bucket, job_id)
        data_uri = spec["dataset"]["uri"]
        deps.blobs.write_bytes(data_uri, breast_cancer_csv(), content_type="text/csv")
        console.print(f"uploaded the sample dataset to {data_uri}")
        # signed as the demo's owner, with a token the local cloud issues (as gcloud would print one)
        deps.publisher.publish("jobs", json.dumps(spec).encode(),
                               **token_attributes(cloud.identity_token(identity_of_key(spec["owner"]))))
        console.print(f"published job [bold]{job_id}[/bold]: "
                      + ", ".join(c["algorithm"] for c in spec["candidates"]))
        return follow(deps, job_id, timeout=1800)
    finally:
        if not keep_running:
            cloud.down()
        else:
            console.print(f"the local cloud keeps running; stop it with: zygarde local down --state-dir {state_dir}")
