"""The code bundle: every Spark entry point as itself, a deterministic zygarde.zip without local/adapters."""
from __future__ import annotations

import subprocess
import sys
import zipfile

from zygarde.packaging import ZIP_NAME, build_code_bundle, bundle_version, spark_entry_points


def test_bundle_holds_entry_points_and_a_pure_python_zip(tmp_path):
    bundle = build_code_bundle(tmp_path / "out")
    entry_points = spark_entry_points()
    # every trial runs in a pack (train_pack.py); predict.py scores a batch prediction
    assert {p.name for p in entry_points} == {"prepare_data.py", "train_pack.py", "finalize_model.py", "predict.py"}
    assert set(bundle) == {ZIP_NAME, *(p.name for p in entry_points)}
    for entry in entry_points:
        assert bundle[entry.name].read_bytes() == entry.read_bytes()
    names = zipfile.ZipFile(bundle[ZIP_NAME]).namelist()
    assert names == sorted(names)
    assert {"zygarde/__init__.py", "zygarde/config.py", "zygarde/resources.json", "zygarde/domain/contracts.py"} <= set(names)
    assert not [n for n in names if n.startswith(("zygarde/local/", "zygarde/adapters/")) or "__pycache__" in n]
    assert all(n.endswith((".py", ".json")) for n in names)


def test_zip_is_deterministic_so_its_hash_names_the_version(tmp_path):
    first = build_code_bundle(tmp_path / "a")
    second = build_code_bundle(tmp_path / "b")
    assert first[ZIP_NAME].read_bytes() == second[ZIP_NAME].read_bytes()
    assert bundle_version(first) == bundle_version(second)
    assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in zipfile.ZipFile(first[ZIP_NAME]).infolist())
    (tmp_path / "a" / ZIP_NAME).write_bytes(b"changed")
    assert bundle_version(first) != bundle_version(second)


def test_zip_imports_the_package_in_a_clean_interpreter(tmp_path):
    bundle = build_code_bundle(tmp_path)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import zygarde.domain.algorithms as a; "
            "print(a.__file__)")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(bundle[ZIP_NAME])], capture_output=True,
                         text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ZIP_NAME in out.stdout


def test_cli_writes_the_bundle_and_prints_the_version(tmp_path):
    out = subprocess.run([sys.executable, "-m", "zygarde.packaging", "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / ZIP_NAME).is_file()
    assert f"version\t{bundle_version(build_code_bundle(tmp_path / 'again'))}" in out.stdout
