"""Every batch's session has Spark SQL variable substitution off (${env:...}, ${system:...},
${spark:...} are left as text), whoever launched the batch."""
from __future__ import annotations

import uuid
from pathlib import Path

from zygarde.domain.contracts import PrepareRequest, PrepareResult


def test_every_batch_turns_variable_substitution_off(spark, data_dir, tmp_path):
    from spark_jobs.prepare_data import main

    spark.conf.set("spark.sql.variable.substitute", "true")
    out = tmp_path / uuid.uuid4().hex[:6]
    request = PrepareRequest(job_id="job-lock", attempt=1, dataset_uri=str(data_dir / "iris.csv"),
                             dataset_format="csv", target="species", task="multiclass_classification", seed=11,
                             validation_fraction=0.2, test_fraction=0.15, output_prefix=f"{out}/data/",
                             result_uri=f"{out}/result.json")
    assert main(["--request", request.to_json()], spark=spark) == 0
    assert PrepareResult.from_json(Path(request.result_uri).read_text()).status == "SUCCEEDED"
    assert spark.conf.get("spark.sql.variable.substitute") == "false"
    assert spark.sql("SELECT '${system:user.name}' AS v").first().v == "${system:user.name}"
