"""Benchmark: apply a ~10k-record batch to a one-million-record resolution state.

Goal from the issue (11, item 7): the 10k batch in ≤ 3 s. The small batch is generated with
another seed; its record keys partly collide with the big batch's, so it holds both new
records and changed ones (a key now describing other values).

Building the state from the 1M batch takes minutes, so it is built once
(``--build-state``, run it niced, outside the benchmark lock) into ``bench/out/state1m-base``;
each measurement copies that state (not timed) and applies the small batch to the copy.
Without a base state the benchmark builds it first, timed and recorded as before. A base
state built before ID fields were sealed with AES-GCM (resolver/state/sealing.py) still
works, but every stored ID field the batch reads is a Fernet token, opened at about seven
times the cost: rebuild it (``--build-state``) to measure the current format.

Besides wall time, the CPU seconds (user + system) of the command and its worker processes
are recorded: on a shared machine they vary far less than the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
from pathlib import Path

from bench.results import (
    Run,
    credgraph_cli,
    ensure_1m_batch,
    generate_batch,
    record,
    run_tree_measured,
)

ROOT = Path(__file__).resolve().parent / "out"
GEN = ROOT / "gen1m"
BASE = ROOT / "state1m-base"


def build_state(state: Path) -> Run:
    """Link the 1M batch into a fresh state at ``state``."""
    shutil.rmtree(state, ignore_errors=True)
    return run_tree_measured(
        [
            credgraph_cli(),
            "link",
            str(GEN / "batch"),
            "--out",
            str(ROOT / "state1m-run"),
            "--state",
            str(state),
        ]
    )


def _sealed_format(state: Path) -> str:
    """How the state's stored ID fields are sealed (sampled: the first sealed person record)."""
    import sqlite3

    db = sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT std FROM records WHERE kind = 'person' AND std LIKE '%\"id18\":%' "
            "ORDER BY rowid LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    text = row[0] if row else ""
    return "AES-GCM" if '"aesgcm:' in text else "Fernet" if '"fernet:' in text else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--build-state",
        action="store_true",
        help=f"only build the base state ({BASE}) and stop",
    )
    args = parser.parse_args()
    ensure_1m_batch()
    if args.build_state:
        run = build_state(BASE)
        print(f"base state built in {run.seconds:.1f} s, peak {run.peak_rss_mib:,.0f} MiB")
        return
    state = ROOT / "state1m"
    build: Run | None = None
    if (BASE / "state.db").exists():
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(BASE, state)
        # The copy's 2.4 GB of dirty pages go to disk now, not during the measured command
        # (its first fsync, at the commit, would wait for all of them).
        os.sync()
    else:
        build = build_state(state)
    small = ROOT / "inc10k"
    shutil.rmtree(small, ignore_errors=True)
    generate_batch(small, 680, 1000, "--seed", "8", "--batch-id", "inc-10k")
    shutil.rmtree(ROOT / "inc10k-run", ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    apply = run_tree_measured(
        [
            credgraph_cli(),
            "link",
            str(small / "batch"),
            "--out",
            str(ROOT / "inc10k-run"),
            "--state",
            str(state),
        ],
        interval=0.1,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sealed = _sealed_format(state)
    report = json.loads((ROOT / "inc10k-run" / "report.json").read_text("utf-8"))
    st = report["state"]
    size_mib = (state / "state.db").stat().st_size / 2**20
    built = (
        f"- building the state from the 1M batch: {build.seconds:.1f} s, peak memory (PSS, tree) "
        f"{build.peak_rss_mib:,.0f} MiB; state.db {size_mib:,.0f} MiB"
        if build is not None
        else f"- the state: a copy of the 1M state built beforehand (`--build-state`); "
        f"state.db {size_mib:,.0f} MiB"
    )
    record(
        "Incremental: a 10k-record batch into a one-million-record state",
        "python -m bench.incremental_10k",
        [
            built,
            f"- applying the small batch ({st['records']:,} records: {st['new_or_changed']:,} new "
            f"or changed, {st['unchanged']:,} unchanged): **{apply.seconds:.1f} s** wall "
            f"(goal ≤ 3 s), {cpu:.1f} CPU s (user + system, workers included), peak memory "
            f"{apply.peak_rss_mib:,.0f} MiB (PSS, of which {apply.peak_file_mib:,.0f} MiB pages "
            "of state.db mapped for reading: page cache, not allocations); stored ID fields of "
            f"the base state: {sealed}",
            "- stage timings (s): " + ", ".join(f"{k} {v}" for k, v in report["timings"].items()),
            "- entities: "
            + "; ".join(
                f"{k}: " + ", ".join(f"{n} {c:,}" for n, c in v.items())
                for k, v in st["entities"].items()
            ),
        ],
    )


if __name__ == "__main__":
    main()
