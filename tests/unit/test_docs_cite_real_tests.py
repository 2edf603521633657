"""Every test file that README.md and docs/ cite exists: a test that was moved or merged must not stay
cited as the guard of a behaviour."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def cited(pattern: str) -> set[tuple[str, str]]:
    """(document, match) for every match of `pattern` in the documents."""
    return {(doc.name, found) for doc in DOCS for found in re.findall(pattern, doc.read_text())}


def test_every_tests_path_the_docs_name_exists():
    paths = cited(r"tests/[\w./-]+\.py")
    assert ("README.md", "tests/unit/test_handlers.py") in paths  # the pattern finds the citations
    missing = sorted((doc, path) for doc, path in paths if not (ROOT / path).is_file())
    assert not missing, f"cited but not in the repository: {missing}"


def test_every_test_file_named_without_its_folder_exists_under_tests():
    names = cited(r"(?<![\w/])(test_\w+\.py)")
    assert ("README.md", "test_slot_release.py") in names
    files = {path.name for path in (ROOT / "tests").rglob("test_*.py")}
    missing = sorted((doc, name) for doc, name in names if name not in files)
    assert not missing, f"cited but not in tests/: {missing}"
