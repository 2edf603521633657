"""Offline checks of cloudbuild.yaml: it parses, its steps are the pipeline the deploy docs describe,
every repository file it names exists, every substitution it uses is defined, every step that runs
Spark tests installs Java in its own container, and the smoke test's job and script are valid."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import hcl2
import pytest
import yaml

from zygarde import config
from zygarde.domain.spec import parse_job_spec

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = {"PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "LOCATION", "COMMIT_SHA", "SHORT_SHA",
            "REVISION_ID", "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME", "REF_NAME",
            "TRIGGER_NAME", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT"}
PIPELINE = ["install", "lint", "unit-tests", "integration-tests", "package", "web-image", "batch-image",
            "upload-code", "terraform-init", "terraform-plan", "terraform-apply", "upload-code-after-apply",
            "push-batch-image-after-apply", "smoke-test"]
BUILD_OUTPUTS = ("dist", ".venv", "tfplan", ".code-uploaded")
VALUE_FLAGS = {"-p", "--select", "--out", "-o"}
SPARK_TESTS = ("tests/unit", "tests/integration", "tests/e2e")  # each tier starts Spark's JVM somewhere


@pytest.fixture(scope="module")
def build() -> dict:
    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())


def steps(build) -> dict[str, dict]:
    return {s["id"]: s for s in build["steps"]}


def script(step: dict) -> str:
    return "\n".join(str(a) for a in step.get("args", []))


def heredoc(text: str) -> tuple[str, str]:
    """(shell part, python heredoc body) of a step script."""
    m = re.search(r"<<'EOF'\n(.*?)\nEOF", text, re.S)
    return (text[:m.start()] + text[m.end():], m.group(1)) if m else (text, "")


def test_pipeline_steps_in_order(build):
    ids = [s["id"] for s in build["steps"]]
    assert ids == PIPELINE
    for step in build["steps"]:
        assert step["name"], f"{step['id']} has no image"


def strings(value):
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_every_substitution_is_defined(build):
    text = "\n".join(strings(build))  # YAML comments are not substituted: only values
    used = set(re.findall(r"(?<!\$)\$\{(\w+)\}", text)) | set(re.findall(r"(?<![\$\w])\$([A-Z_][A-Z0-9_]*)", text))
    user = set(build["substitutions"])
    assert all(name.startswith("_") for name in user), "user substitutions must start with _"
    assert used - BUILTINS - user == set()


def test_apply_is_gated_and_off_by_default(build):
    assert build["substitutions"]["_APPLY"] == "false"
    apply = script(steps(build)["terraform-apply"])
    assert '"${_APPLY}" = "true"' in apply and "terraform apply" in apply
    others = "\n".join(script(s) for i, s in steps(build).items() if i != "terraform-apply")
    assert not re.search(r"^\s*terraform apply", others, re.M)
    assert '"$$APPLY" != "true"' in script(steps(build)["smoke-test"])


def test_code_uploaded_under_its_version(build):
    for step_id in ("upload-code", "upload-code-after-apply"):
        dest = f"gs://${{_BUCKET}}/{config.prefix('code')}${{SHORT_SHA}}/"
        assert dest in script(steps(build)[step_id])
    assert "-m zygarde.packaging --out dist/" in script(steps(build)["package"])


def test_terraform_vars_exist(build):
    variables = set()
    for path in (ROOT / "terraform").glob("*.tf"):
        for block in hcl2.loads(path.read_text()).get("variable", []):
            variables |= {name.strip('"') for name in block}
    passed = set(re.findall(r'-var="(\w+)=', script(steps(build)["terraform-plan"])))
    assert passed and passed <= variables
    assert steps(build)["terraform-init"]["dir"] == "terraform"


def named_paths(build) -> set[str]:
    """Repository paths the steps read: path-like words, pytest/ruff targets, -r files, -m modules."""
    found = set()
    for step in build["steps"]:
        if "dir" in step:
            found.add(step["dir"])
        shell, _ = heredoc(script(step))
        for line in shell.splitlines():
            try:
                words = shlex.split(line.replace("\\", ""), comments=True)
            except ValueError:
                continue
            for i, word in enumerate(words):
                prev = words[i - 1] if i else ""
                if prev in VALUE_FLAGS:
                    continue
                if prev == "-m" and not word.startswith("-") and word not in ("pytest", "venv"):
                    found.add(word.replace(".", "/") + ".py")
                elif prev == "-r" or (prev in ("-e",) and word == "."):
                    found.add(word)
                elif ("/" in word and "=" not in word and "://" not in word and not word.startswith(("/", "-", "$"))):
                    found.add(word)
            if any(w.endswith(("pytest", "ruff")) for w in words):
                start = words.index(next(w for w in words if w in ("pytest", "check"))) + 1
                found |= {w for j, w in enumerate(words[start:], start)
                          if not w.startswith("-") and "=" not in w and words[j - 1] not in VALUE_FLAGS}
    return {p.rstrip("/") for p in found if p.split("/")[0] not in BUILD_OUTPUTS}


def test_every_file_the_steps_name_exists(build):
    paths = named_paths(build)
    assert {"requirements.lock", "tests/unit", "tests/integration", "zygarde/packaging.py", "terraform"} <= paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"cloudbuild.yaml names files that do not exist: {missing}"


def test_smoke_job_is_a_valid_spec_and_script_compiles(build):
    smoke = steps(build)["smoke-test"]
    env = dict(e.split("=", 1) for e in smoke["env"])
    spec = __import__("json").loads(env["SMOKE_SPEC"])
    spec["job_id"] = ("smoke-abc1234-" + "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")[:40].rstrip("-")
    spec["dataset"]["uri"] = f"gs://zygarde-demo/{config.prefix('datasets')}smoke/x.csv"
    job = parse_job_spec(spec)
    assert job.task == "binary_classification"
    _, body = heredoc(script(smoke))
    compile(body, "smoke-test", "exec")
    assert "config.topic(\"jobs\")" in body and "config.collection(\"jobs\")" in body


def test_web_image_is_built_from_web_dockerfile_and_deployed_by_terraform(build):
    step = script(steps(build)["web-image"])
    assert 'docker build -f web/Dockerfile -t "${_WEB_IMAGE}" .' in step and 'docker push "${_WEB_IMAGE}"' in step
    assert '-var="web_image=${_WEB_IMAGE}"' in script(steps(build)["terraform-plan"])
    dockerfile = (ROOT / "web" / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile and "zygarde.web.wsgi:app" in dockerfile and "USER" in dockerfile


def pytest_targets(text: str) -> list[str]:
    """The paths a step's `python -m pytest` runs (the folders, not the options)."""
    targets = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True) if "-m pytest" in line else []
        if words:
            start = words.index("pytest") + 1
            targets += [w for j, w in enumerate(words[start:], start)
                        if not w.startswith("-") and words[j - 1] not in VALUE_FLAGS]
    return targets


def test_every_step_that_runs_spark_tests_installs_java_in_its_own_container(build):
    """Cloud Build runs each step in a fresh container from its image: what another step installed
    with apt is not there. Spark (tests/unit/spark, the integration and e2e batches) needs a JRE."""
    checked = []
    for step in build["steps"]:
        text = script(step)
        targets = pytest_targets(text)
        if not any(t.rstrip("/").startswith(SPARK_TESTS) for t in targets):
            continue
        before = text[:text.index("-m pytest")]
        assert re.search(r"apt-get install[^\n]*openjdk-\d+-jre", before), \
            f"step {step['id']} runs {targets} (Spark) without installing Java first in its container"
        assert "apt-get update" in before, f"step {step['id']} installs Java without apt-get update"
        checked.append(step["id"])
    assert checked == ["unit-tests", "integration-tests"]
