"""Benchmark: build a one-million-record resolution state, then apply a ~10k-record batch.

Goal from the issue (11, item 7): the 10k batch in ≤ 3 s. The small batch is generated with another seed;
its record keys partly collide with the big batch's, so it holds both new records and
changed ones (a key now describing other values).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench.results import ensure_1m_batch, record, run_tree_measured

ROOT = Path(__file__).resolve().parent / "out"
GEN = ROOT / "gen1m"


def main() -> None:
    credgraph = str(Path(sys.executable).with_name("credgraph"))
    ensure_1m_batch()
    state = ROOT / "state1m"
    shutil.rmtree(state, ignore_errors=True)
    build = run_tree_measured(
        [
            credgraph,
            "link",
            str(GEN / "batch"),
            "--out",
            str(ROOT / "state1m-run"),
            "--state",
            str(state),
        ]
    )
    small = ROOT / "inc10k"
    shutil.rmtree(small, ignore_errors=True)
    subprocess.run(
        [
            credgraph,
            "generate",
            "--out",
            str(small),
            "--enterprises",
            "680",
            "--persons",
            "1000",
            "--seed",
            "8",
            "--batch-id",
            "inc-10k",
        ],
        check=True,
        capture_output=True,
    )
    apply = run_tree_measured(
        [
            credgraph,
            "link",
            str(small / "batch"),
            "--out",
            str(ROOT / "inc10k-run"),
            "--state",
            str(state),
        ]
    )
    report = json.loads((ROOT / "inc10k-run" / "report.json").read_text("utf-8"))
    st = report["state"]
    size_mib = (state / "state.db").stat().st_size / 2**20
    record(
        "Incremental: a 10k-record batch into a one-million-record state",
        "python -m bench.incremental_10k",
        [
            f"- building the state from the 1M batch: {build.seconds:.1f} s, peak memory (PSS, tree) {build.peak_rss_mib:,.0f} MiB; state.db {size_mib:,.0f} MiB",
            f"- applying the small batch ({st['records']:,} records: {st['new_or_changed']:,} new or changed, {st['unchanged']:,} unchanged): "
            f"**{apply.seconds:.1f} s** wall (goal ≤ 3 s), peak memory {apply.peak_rss_mib:,.0f} MiB",
            "- stage timings (s): " + ", ".join(f"{k} {v}" for k, v in report["timings"].items()),
            "- entities: " + "; ".join(f"{k}: {v}" for k, v in st["entities"].items()),
        ],
    )


if __name__ == "__main__":
    main()
