"""Dataproc Serverless entry point: finalise a job's winning model.

    finalize_model.py --request '<FinalizeRequest JSON>'

Scores the winner once on the test part, copies its PipelineModel to {package_uri}model, writes
{package_uri}manifest.json, then a FinalizeResult JSON to request.result_uri as its last act.
Exits 0 on success, 1 when finalisation failed (the result says why), 2 for an unreadable request
(nowhere to report) and 3 when the result could not be written.
"""
from __future__ import annotations

import json
import logging
import sys

log = logging.getLogger("zygarde.spark.finalize_model")


def main(argv: list[str] | None = None, spark=None) -> int:
    """Finalises one job's winner. `spark`: an existing session (tests); by default one is created and stopped."""
    from zygarde.domain.contracts import FinalizeRequest
    from zygarde.spark.entry import run_stage
    from zygarde.spark.package import execute

    return run_stage(argv, spark, prog="finalize_model.py", description="Score and package a job's winner.",
                     request_type=FinalizeRequest,
                     execute=execute, app_name=lambda r: f"zygarde-{r.job_id}-finalize",
                     ids=lambda r: f"job_id={r.job_id}",
                     done=lambda res: f"test_metrics={json.dumps(res.test_metrics, sort_keys=True)}", log=log)


if __name__ == "__main__":
    sys.exit(main())
