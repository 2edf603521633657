"""requirements.txt: the pinned runtime set, equal to requirements.lock, covering what the services import."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            out[re.sub(r"[-_.]+", "-", name.lower())] = version
    return out


def test_runtime_pins_equal_the_lock_and_cover_the_services():
    runtime, lock = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements.lock")
    assert runtime and all(lock.get(name) == version for name, version in runtime.items()), \
        {n: (v, lock.get(n)) for n, v in runtime.items() if lock.get(n) != v}
    needed = {"flask", "flask-wtf", "wtforms", "plotly", "gunicorn", "google-auth", "functions-framework",
              "google-cloud-firestore", "google-cloud-pubsub", "google-cloud-storage", "pydantic", "click", "rich"}
    assert needed <= set(runtime)
    assert "pyspark" not in runtime and "playwright" not in runtime and "pytest" not in runtime


def test_web_assets_are_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert "web/templates/*.html" in text and "web/static/*" in text


# Dataproc Serverless runtime -> the Spark it mounts (Dataproc's runtime release notes; docs/deploy.md)
RUNTIME_SPARK = {"3.0": "4.0.1"}


def test_tests_run_the_spark_of_the_deployed_runtime():
    import hcl2
    import pyspark

    from zygarde.config import Settings

    variables = hcl2.loads((ROOT / "terraform" / "variables.tf").read_text())["variable"]
    [runtime] = [v[name]["default"].strip('"') for v in variables for name in v
                 if name.strip('"') == "dataproc_runtime_version"]
    assert runtime == Settings.dataproc_runtime_version, "terraform and the local settings deploy different runtimes"
    assert runtime in RUNTIME_SPARK, f"runtime {runtime}: add its Spark version here and pin it in requirements.lock"
    assert pins(ROOT / "requirements.lock")["pyspark"] == RUNTIME_SPARK[runtime]
    assert pyspark.__version__ == RUNTIME_SPARK[runtime]  # what every Spark test in this run uses
