"""Benchmark: generate a batch of at least one million records (issue: ≤ 3 min, ≤ 2 GB RSS)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from bench.results import record, run_measured

OUT = Path(__file__).resolve().parent / "out" / "gen1m"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--enterprises", type=int, default=68000)
    ap.add_argument("--persons", type=int, default=100000)
    ap.add_argument("--keep", action="store_true", help="keep the batch for the ingest benchmark")
    args = ap.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    cmd = [
        str(Path(sys.executable).with_name("credgraph")),
        "generate",
        "--out",
        str(OUT),
        "--enterprises",
        str(args.enterprises),
        "--persons",
        str(args.persons),
        "--departments",
        "32",
        "--seed",
        "7",
    ]
    run = run_measured(cmd)
    summary = json.loads((OUT / "truth" / "summary.json").read_text("utf-8"))
    size_mib = sum(p.stat().st_size for p in (OUT / "batch").iterdir()) / 2**20
    rows = summary["rows"]
    record(
        "Generator: one-million-record batch",
        "credgraph generate --out bench/out/gen1m " + " ".join(cmd[4:]),
        [
            f"- records: {rows:,} in {summary['files']} files from {summary['departments']} departments ({size_mib:.0f} MiB)",
            f"- wall time: {run.seconds:.1f} s ({rows / run.seconds:,.0f} records/s); goal ≤ 180 s",
            f"- peak RSS: {run.peak_rss_mib:.0f} MiB; goal ≤ 2048 MiB",
        ],
    )
    if not args.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
