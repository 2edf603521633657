"""Dataproc Serverless entry point: prepare a job's data once, before any trial.

    prepare_data.py --request '<PrepareRequest JSON>'

Pins the input, writes the data report (report.json) and the train / validation / test parts as
Parquet under request.output_prefix, then a PrepareResult JSON to request.result_uri as its last act.
Exits 0 when the data can serve the job, 1 when it cannot or the preparation failed (the result says
why), 2 for an unreadable request (nowhere to report) and 3 when the result could not be written.
"""
from __future__ import annotations

import json
import logging
import sys

log = logging.getLogger("zygarde.spark.prepare_data")


def main(argv: list[str] | None = None, spark=None) -> int:
    """Prepares one job's data. `spark`: an existing session (tests); by default one is created and stopped."""
    from zygarde.domain.contracts import PrepareRequest
    from zygarde.spark.entry import run_stage
    from zygarde.spark.prepare import execute

    return run_stage(argv, spark, prog="prepare_data.py", description="Prepare a Zygarde job's data.",
                     request_type=PrepareRequest,
                     execute=execute, app_name=lambda r: f"zygarde-{r.job_id}-prepare",
                     ids=lambda r: f"job_id={r.job_id}",
                     done=lambda res: f"rows={json.dumps(res.rows, sort_keys=True)}", log=log)


if __name__ == "__main__":
    sys.exit(main())
