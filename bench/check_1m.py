"""Benchmark: `credgraph check` on a generated batch of one million records.

Goal from the issue (11, item 7): ≥ 100k rows/s on 2 cores for CSV, ≤ 2 GB RSS. Reuses the batch of
bench/generate_1m.py (`--keep`) when present, else generates it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from bench.results import ensure_1m_batch, record, run_tree_measured

ROOT = Path(__file__).resolve().parent / "out"
BATCH = ROOT / "gen1m" / "batch"


def main() -> None:
    credgraph = str(Path(sys.executable).with_name("credgraph"))
    ensure_1m_batch()
    lines = []
    for label, extra in (
        ("validation and normalisation (default)", []),
        ("with linkage features (--features)", ["--features"]),
    ):
        out = ROOT / "check1m"
        shutil.rmtree(out, ignore_errors=True)
        run = run_tree_measured([credgraph, "check", str(BATCH), "--out", str(out), *extra])
        first = run.stdout.splitlines()[0]
        rows = int(first.split(" rows read")[0].replace(",", ""))
        lines.append(
            f"- {label}: {rows:,} rows in {run.seconds:.1f} s wall = **{rows / run.seconds:,.0f} rows/s**; "
            f"peak memory (PSS, process tree) {run.peak_rss_mib:,.0f} MiB"
        )
        lines.append(f"  - output: `{first}`")
    lines.append("- goal: ≥ 100,000 rows/s on 2 cores (CSV), ≤ 2,048 MiB RSS")
    record(
        "Ingest: credgraph check on the one-million-record batch", "python -m bench.check_1m", lines
    )


if __name__ == "__main__":
    main()
