"""Lint gate (as in cloudbuild.yaml): no syntax errors, undefined names or unused imports."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_no_errors():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is pinned in requirements.lock"
    out = subprocess.run([ruff, "check", "--select", "E9,F", "zygarde", "functions", "spark_jobs", "tests", "bench"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
