"""Dataproc Serverless entry point: train and score one trial.

    train_trial.py --request '<TrialRequest JSON>'

Writes a TrialResult JSON to request.result_uri as its last act, then exits 0 when the trial
succeeded, 1 when it failed (the result says why), 2 for an unreadable request (nowhere to report)
and 3 when the result itself could not be written. The code lives in zygarde/spark (--py-files zip).
"""
from __future__ import annotations

import json
import logging
import sys

log = logging.getLogger("zygarde.spark.train_trial")


def main(argv: list[str] | None = None, spark=None) -> int:
    """Runs one trial. `spark`: an existing session (tests); by default one is created and stopped."""
    from zygarde.domain.contracts import TrialRequest
    from zygarde.spark.entry import run_stage
    from zygarde.spark.trial import execute

    return run_stage(argv, spark, prog="train_trial.py", description="Train and score one Zygarde trial.",
                     request_type=TrialRequest,
                     execute=execute, app_name=lambda r: f"zygarde-{r.job_id}-{r.trial_id}",
                     ids=lambda r: f"job_id={r.job_id} trial_id={r.trial_id}",
                     done=lambda res: f"metrics={json.dumps(res.metrics, sort_keys=True)}", log=log)


if __name__ == "__main__":
    sys.exit(main())
