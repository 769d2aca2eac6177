"""Benchmark: `credgraph link` on the one-million-record batch (goal ≤ 60 s, ≤ 3 GB).

Runs it twice: as a user runs it (ingest workers, helper processes for linkage), then with
`--workers 1` (one process: the lowest peak memory). Reuses the batch of bench/generate_1m.py (`--keep`) when present, else generates it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from bench.results import ensure_1m_batch, record, run_tree_measured

ROOT = Path(__file__).resolve().parent / "out"
GEN = ROOT / "gen1m"
WORKERS_1 = ("--workers", "1")


def main() -> None:
    credgraph = str(Path(sys.executable).with_name("credgraph"))
    ensure_1m_batch()
    run_dir = ROOT / "link1m"
    shutil.rmtree(run_dir, ignore_errors=True)
    run = run_tree_measured(
        [credgraph, "link", str(GEN / "batch"), "--out", str(run_dir), "--no-state"]
    )
    report = json.loads((run_dir / "report.json").read_text("utf-8"))
    from resolver.linkage.evaluate import evaluate

    scores = evaluate(run_dir, GEN / "truth")
    lines = [
        f"- rows read: {report['ingest']['read']:,}; wall {run.seconds:.1f} s (goal ≤ 60 s); "
        f"peak memory (PSS) of the process tree {run.peak_rss_mib:,.0f} MiB (goal ≤ 3,072 MiB)",
        "- stage timings (s): " + ", ".join(f"{k} {v}" for k, v in report["timings"].items()),
        *(
            f"- {kind} linkage steps (s): "
            + ", ".join(f"{k} {v}" for k, v in ent.get("timings", {}).items())
            + f"; {ent['candidate_pairs']:,} candidate pairs"
            for kind, ent in report["entities"].items()
        ),
    ]
    for kind in ("enterprise", "person"):
        s = scores[kind]
        lines.append(
            f"- {kind}: {s['records']:,} records → {s['clusters']:,} clusters for {s['true_entities']:,} entities; "
            f"pairwise P {s['pairwise']['precision']:.4f} R {s['pairwise']['recall']:.4f} "
            f"**F1 {s['pairwise']['f1']:.4f}**; over-merged {s['over_merged_clusters']}, split {s['split_entities']}"
        )
    m = scores["mentions"]
    lines.append(
        f"- mentions (events, facts, declarations): resolved {m['resolved_rate']:.4f}, precision {m['precision']:.4f}"
    )
    one_dir = ROOT / "link1m-one-process"
    shutil.rmtree(one_dir, ignore_errors=True)
    one = run_tree_measured(
        [credgraph, "link", str(GEN / "batch"), "--out", str(one_dir), "--no-state", *WORKERS_1]
    )
    same = all(
        (one_dir / name).read_bytes() == (run_dir / name).read_bytes()
        for name in ("golden.jsonl", "edges.jsonl", "events.jsonl", "links.csv")
    )
    one_report = json.loads((one_dir / "report.json").read_text("utf-8"))
    shutil.rmtree(one_dir)
    lines.append(
        f"- the same with `--workers 1` (one process): wall {one.seconds:.1f} s; peak memory "
        f"(PSS) {one.peak_rss_mib:,.0f} MiB; stage timings (s): "
        + ", ".join(f"{k} {v}" for k, v in one_report["timings"].items())
        + f"; run files {'identical to' if same else 'DIFFERENT from'} the forked run's"
    )
    record(
        "Linkage: credgraph link on the one-million-record batch", "python -m bench.link_1m", lines
    )


if __name__ == "__main__":
    main()
