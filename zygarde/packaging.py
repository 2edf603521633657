"""Build the code bundle that Dataproc batches run: the Spark entry points plus zygarde.zip.

The zip is deterministic (sorted entries, fixed timestamps and modes), so the bundle's hash
names a code version: gs://BUCKET/code/{version}/{file}.

    python -m zygarde.packaging --out dist/
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SPARK_JOBS_DIR = REPO_ROOT / "spark_jobs"
ZIP_NAME = "zygarde.zip"

# Sub-packages that import google.cloud (or run servers, like the web app) and must not ship to Spark.
EXCLUDED_SUBPACKAGES = ("local", "adapters", "web")
INCLUDED_SUFFIXES = (".py", ".json")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def spark_entry_points(spark_jobs_dir: Path = SPARK_JOBS_DIR) -> list[Path]:
    """Every spark_jobs/*.py that is not a package marker, sorted by name."""
    return sorted(p for p in spark_jobs_dir.glob("*.py") if not p.name.startswith("_"))


def package_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The pure-python modules (and resources.json) of the zygarde package, sorted."""
    files = []
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if not path.is_file() or path.suffix not in INCLUDED_SUFFIXES:
            continue
        if "__pycache__" in rel.parts or (len(rel.parts) > 1 and rel.parts[0] in EXCLUDED_SUBPACKAGES):
            continue
        files.append(path)
    return files


def write_deterministic_zip(out: Path, package_dir: Path = PACKAGE_DIR) -> Path:
    """Zip the package as `zygarde/...` with fixed metadata so equal sources give equal bytes."""
    root = package_dir.parent
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in package_files(package_dir):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the build host
            zf.writestr(info, path.read_bytes())
    return out


def build_code_bundle(out_dir: Path) -> dict[str, Path]:
    """Write every Spark entry point (as itself) and zygarde.zip into out_dir.

    Returns {file name: path}; upload each to gs://BUCKET/code/{bundle_version(...)}/{name}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle: dict[str, Path] = {}
    for entry in spark_entry_points():
        bundle[entry.name] = Path(shutil.copyfile(entry, out_dir / entry.name))
    bundle[ZIP_NAME] = write_deterministic_zip(out_dir / ZIP_NAME)
    return dict(sorted(bundle.items()))


def bundle_version(bundle: dict[str, Path], length: int = 12) -> str:
    """A content hash of the bundle (names and bytes): the code version it is uploaded under."""
    digest = hashlib.sha256()
    for name in sorted(bundle):
        data = Path(bundle[name]).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:length]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zygarde.packaging", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    bundle = build_code_bundle(args.out)
    for name, path in bundle.items():
        print(f"{name}\t{path}")
    print(f"version\t{bundle_version(bundle)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
