"""Benchmark: a full tax-rule run (every rule, the generated quarters) over a generated,
linked and loaded graph. ``python -m bench.tax_run [ENTERPRISES]`` (default 100000)."""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from bench.results import record


def main() -> None:
    from fixtures.generate import GenerateConfig, generate
    from graph import server
    from graph.load import load_run
    from graph.store import open_store
    from resolver.link import run_link
    from tax import service
    from tax.periods import parse_period

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    work = Path(tempfile.mkdtemp(prefix="tax-bench-"))
    try:
        t = time.perf_counter()
        generate(
            GenerateConfig(out=work, enterprises=n, persons=int(n * 1.3), departments=32, seed=5)
        )
        run_link(work / "batch", work / "run")
        prep = time.perf_counter() - t
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        info = server.start(work / "graph", port)
        try:
            store = open_store(info.uri)
            load_run(store, work / "run")
            quarters = parse_period("2026Q2") + parse_period("2026Q3")
            t = time.perf_counter()
            first = service.run(store, quarters)
            full = time.perf_counter() - t
            t = time.perf_counter()
            again = service.run(store, quarters)
            rerun = time.perf_counter() - t
            store.close()
        finally:
            server.stop(work / "graph")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        f"- enterprises generated: {n:,}; records read by the run: {first.records_read:,}; "
        f"findings: {sum(first.by_rule.values()):,} over {len(first.rules)} rules, 2 quarters",
        f"- full rule run: **{full:.1f} s** (export {first.seconds_export:.1f} s, rules "
        f"{first.seconds_rules:.1f} s, store {first.seconds_store:.1f} s); goal ≤ 60 s",
        f"- re-run of the same quarters (no new findings, {again.saved.unchanged:,} unchanged): "
        f"{rerun:.1f} s",
        f"- generate + link (not timed against the goal): {prep:.0f} s",
    ]
    record("tax_run", f"python -m bench.tax_run {n}", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
