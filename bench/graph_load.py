"""Benchmark: load a one-million-record resolution run into the embedded graph, then time
1-hop and 3-hop queries and equity penetration for 1,000 enterprises.

Uses the run of bench/link_1m.py (bench/out/link1m); run that first.
"""

from __future__ import annotations

import random
import shutil
import socket
import statistics
import sys
import time
from pathlib import Path

from bench.results import record, run_tree_measured

ROOT = Path(__file__).resolve().parent / "out"
ONE_HOP = "MATCH (e:Enterprise {uid: $uid})-[r]-(x) RETURN type(r) AS t, x.uid AS u LIMIT 100"
THREE_HOP = (
    "MATCH (p)-[:HOLDS_SHARES*1..3]->(e:Enterprise {uid: $uid}) RETURN p.uid AS holder LIMIT 100"
)


def _pss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    from graph import server
    from graph.analytics import effective_shares, ownership_graph
    from graph.store import open_store

    run_dir = ROOT / "link1m"
    if not (run_dir / "golden.jsonl").exists():
        sys.exit("run `python -m bench.link_1m` first (it leaves bench/out/link1m)")
    data = ROOT / "graph1m"
    shutil.rmtree(data, ignore_errors=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    info = server.start(data, port)
    try:
        credgraph = str(Path(sys.executable).with_name("credgraph"))
        run = run_tree_measured(
            [credgraph, "load", str(run_dir), "--uri", info.uri, "--batch-size", "5000"]
        )
        first = run.stdout.splitlines()
        rows = int(first[0].split(" rows")[0].split()[-1].replace(",", ""))
        server_mib = _pss(info.pid)
        store = open_store(info.uri)
        uids = [r["uid"] for r in store.read("MATCH (e:Enterprise) RETURN e.uid AS uid")]
        rng = random.Random(1)
        sample = rng.sample(uids, min(200, len(uids)))
        timings: dict[str, list[float]] = {"1-hop": [], "3-hop": []}
        for name, q in (("1-hop", ONE_HOP), ("3-hop", THREE_HOP)):
            for uid in sample:
                t = time.perf_counter()
                store.read(q, {"uid": uid})
                timings[name].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        g = ownership_graph(store)
        build = time.perf_counter() - t
        companies = rng.sample(
            [n for n in g.nodes if g.in_degree(n) > 0], min(1000, g.number_of_nodes())
        )
        t = time.perf_counter()
        found = sum(len(effective_shares(g, c)) for c in companies)
        penetration = time.perf_counter() - t
        store.close()
    finally:
        server.stop(data)

    def pct(xs: list[float], q: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]

    record(
        "Graph: load a one-million-record run into FalkorDB, query, equity penetration",
        "python -m bench.graph_load",
        [
            f"- load: {rows:,} nodes+relationships rows in {run.seconds:.1f} s = **{rows / run.seconds:,.0f} rows/s** "
            f"(goal ≥ 50,000/s), batch 5,000; loader peak PSS {run.peak_rss_mib:,.0f} MiB; server PSS after load {server_mib:,.0f} MiB",
            "  - " + first[1] if len(first) > 1 else "",
            "  - " + first[2] if len(first) > 2 else "",
            f"- 1-hop neighbourhood (200 random enterprises): p50 {statistics.median(timings['1-hop']):.2f} ms, "
            f"p99 {pct(timings['1-hop'], 0.99):.2f} ms",
            f"- 3-hop shareholder chains: p50 {statistics.median(timings['3-hop']):.2f} ms, p99 {pct(timings['3-hop'], 0.99):.2f} ms",
            f"- equity penetration: ownership graph built in {build:.1f} s; 1,000 enterprises in {penetration:.2f} s "
            f"({found:,} holder shares found)",
        ],
    )


if __name__ == "__main__":
    main()
