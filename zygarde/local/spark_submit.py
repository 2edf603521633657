"""Turns a Dataproc PySpark batch spec into a local spark-submit invocation, and its outcome into a message."""
from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

from zygarde.local.spark_gcs import gcs_connector_jar, spark_conf_for_emulator
from zygarde.local.staging import stage

_LOG4J_LINE = re.compile(r"^\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (INFO|WARN|DEBUG)\b")
_NOISE = ("\tat ", "WARNING: Using incubator modules")
# Defaults for local runs; the batch's runtimeConfig.properties override them.
LOCAL_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
}


def default_spark_submit() -> str:
    """The spark-submit script of the installed pyspark."""
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


def build_command(spec: dict, batch_id: str, project: str, work_dir: Path, master: str,
                  spark_submit: str) -> tuple[list[str], dict[str, str]]:
    """Stage the batch's files into work_dir; return the spark-submit argv and its environment.
    gs:// I/O goes to fake-gcs-server when STORAGE_EMULATOR_HOST is set."""
    work_dir.mkdir(parents=True, exist_ok=True)
    pyspark = spec.get("pysparkBatch") or {}
    main = stage(pyspark["mainPythonFileUri"], work_dir)
    py_files = [stage(u, work_dir) for u in pyspark.get("pythonFileUris", [])]
    jars = [stage(u, work_dir) for u in pyspark.get("jarFileUris", [])]
    files = [stage(u, work_dir) for u in pyspark.get("fileUris", [])]

    conf = dict(LOCAL_DEFAULTS)
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        conf.update(spark_conf_for_emulator(emulator, project))
    conf.update((spec.get("runtimeConfig") or {}).get("properties") or {})
    conf["spark.app.name"] = batch_id
    conf.pop("spark.master", None)  # Dataproc Serverless sets the master; here it is `master`
    # --jars wins over spark.jars in spark-submit, so every jar goes into --jars.
    all_jars = [j for j in conf.pop("spark.jars", "").split(",") if j]
    if emulator and gcs_connector_jar() not in all_jars:
        all_jars.append(gcs_connector_jar())
    all_jars += jars

    cmd = [spark_submit, "--master", master]
    for key, value in sorted(conf.items()):
        cmd += ["--conf", f"{key}={value}"]
    if all_jars:
        cmd += ["--jars", ",".join(all_jars)]
    if py_files:
        cmd += ["--py-files", ",".join(py_files)]
    if files:
        cmd += ["--files", ",".join(files)]
    cmd += [main, *[str(a) for a in pyspark.get("args", [])]]

    env = dict(os.environ)
    env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               SPARK_LOCAL_IP="127.0.0.1", ZYGARDE_BATCH_ID=batch_id)
    (work_dir.parent / "command.json").write_text(json.dumps(cmd, indent=1))
    return cmd, env


def failure_message(log_path: Path, exit_code: int, max_lines: int = 15) -> str:
    """A readable reason from the exit code and the end of the driver log (log4j chatter removed)."""
    if exit_code < 0:
        name = signal.Signals(-exit_code).name if -exit_code in signal.valid_signals() else str(-exit_code)
        head = f"Driver process was killed by signal {name} (exit code {exit_code})"
    else:
        head = f"Job failed with exit code {exit_code}"
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    useful = [ln for ln in lines if ln.strip() and not _LOG4J_LINE.match(ln) and not ln.startswith(_NOISE)]
    tail = useful[-max_lines:]
    errors = [ln for ln in tail if re.match(r"^[\w.]+(Error|Exception)\b.*", ln)]
    if errors and exit_code >= 0:
        head = f"Job failed with message [{errors[-1].strip()[:300]}] (exit code {exit_code})"
    text = head + (". Driver output:\n" + "\n".join(tail) if tail else "")
    return text[-4000:]
