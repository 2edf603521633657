"""Dataproc Serverless entry point: train a pack of one job's trials in one Spark session.

    train_pack.py --request '<PackRequest JSON>'

Each trial writes its own TrialResult JSON to its result_uri as soon as it ends (zygarde.spark.pack_runner).
Every trial runs in a pack (a job that does not pack runs packs of one). Exits 0 when every trial's
result was written and one at least succeeded, 1 when every trial failed (each result says why), 2 for
an unreadable request (nowhere to report) and 3 when a result could not be written (after every trial
has run). The code lives in zygarde/spark (--py-files zip).
"""
from __future__ import annotations

import logging
import sys

log = logging.getLogger("zygarde.spark.train_pack")


def main(argv: list[str] | None = None, spark=None) -> int:
    """Runs one pack. `spark`: an existing session (tests); by default one is created and stopped."""
    from zygarde.domain.contracts import PackRequest
    from zygarde.spark.entry import run_stage
    from zygarde.spark.pack_runner import execute

    return run_stage(argv, spark, prog="train_pack.py", description="Train and score a pack of Zygarde trials.",
                     request_type=PackRequest,
                     execute=execute, app_name=lambda r: f"zygarde-{r.job_id}-{r.pack_id}",
                     ids=lambda r: f"job_id={r.job_id} pack_id={r.pack_id}",
                     done=lambda outcome: outcome.summary(), log=log)


if __name__ == "__main__":
    sys.exit(main())
