"""Benchmark: the local engine against the Spark engine (``local[2]``) on one generated batch —
wall time, peak memory of the whole process tree (Spark: the driver's Python, the JVM that
holds driver and executors in local mode, and the Python workers), the per-stage timings of
each run, the pairwise agreement of their clusters (issue goal: F1 ≥ 0.999), and the Spark
run's per-step, per-partition costs (``credgraph link --spark-costs``: credgraph's Python work
per partition, Spark's task time and shuffle bytes per step) — the figures docs/scale.md
projects from.

    python -m bench.spark_vs_local --enterprises 6800 --persons 10000   # ~100k records
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.results import credgraph_cli, generate_batch, record, run_tree_measured

OUT = Path(__file__).resolve().parent / "out"


def _links(path: Path) -> dict[str, dict[tuple[str, str], str]]:
    out: dict[str, dict[tuple[str, str], str]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] in ("enterprise", "person"):
                out.setdefault(row["kind"], {})[(row["dept"], row["record_id"])] = row["entity_id"]
    return out


def _cost_lines(costs: dict[str, Any]) -> list[str]:
    """The Spark run's costs per step: wall time on the driver, credgraph's work in the tasks
    (per partition), Spark's tasks and shuffle."""
    py, sp = costs["python_work"], costs["spark_tasks"]
    lines = [
        "Spark run, per step (wall: driver clock; Python: credgraph's code in the tasks, summed "
        "over partitions and the slowest partition; tasks: Spark's executor run time; shuffle: "
        "bytes written by the step's stages):",
        "",
        "| step | wall s | partitions | records in | rows out | Python s (max partition) "
        "| stages | tasks | task s | GC s | shuffle MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step, wall in costs["step_wall_seconds"].items():
        p, t = py.get(step, {}), sp.get(step, {})
        python = f"{p['seconds']:.2f} ({p['partition_seconds_max']:.2f})" if p else "–"
        lines.append(
            f"| {step} | {wall:.1f} | {p.get('partitions', '–')} | "
            f"{p.get('records_in', 0):,} | {p.get('rows_out', 0):,} | {python} | "
            f"{t.get('stages', 0)} | {t.get('tasks', 0)} | {t.get('task_seconds_sum', 0):.1f} | "
            f"{t.get('gc_seconds', 0):.1f} | {t.get('shuffle_write_bytes', 0) / 2**20:.1f} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--enterprises", type=int, default=6800)
    ap.add_argument("--persons", type=int, default=10000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    args = ap.parse_args()
    from resolver.linkage.evaluate import cluster_scores

    credgraph = credgraph_cli()
    root = OUT / f"spark-e{args.enterprises}-p{args.persons}"
    batch = root / "gen" / "batch"
    if not (batch / "manifest.yaml").exists():
        shutil.rmtree(root, ignore_errors=True)
        generate_batch(root / "gen", args.enterprises, args.persons)
    runs = {}
    for engine in ("local", "spark"):
        out = root / engine
        shutil.rmtree(out, ignore_errors=True)
        cmd = [credgraph, "link", str(batch), "--out", str(out), "--no-state"]
        if engine == "spark":
            cmd += [
                "--engine",
                "spark",
                "--master",
                args.master,
                "--shuffle-partitions",
                str(args.shuffle_partitions),
                "--spark-costs",
                str(root / "spark-costs.json"),
            ]
        runs[engine] = run_tree_measured(cmd)
        print(f"{engine}: {runs[engine].seconds:.1f} s", file=sys.stderr)
    reports = {e: json.loads((root / e / "report.json").read_text("utf-8")) for e in runs}
    local, spark = _links(root / "local" / "links.csv"), _links(root / "spark" / "links.csv")
    records = reports["local"]["ingest"]["accepted"]
    lines = [
        f"- batch: generated, {args.enterprises:,} enterprises and {args.persons:,} persons, "
        f"{reports['local']['ingest']['read']:,} rows read, {records:,} accepted",
        f"- Spark: master `{args.master}`, {args.shuffle_partitions} shuffle partitions "
        "(driver and executors share one JVM in local mode)",
        "",
        "| engine | wall s | peak memory MiB (process tree, PSS) | stage timings s |",
        "|---|---:|---:|---|",
    ]
    for engine, run in runs.items():
        stages = ", ".join(f"{k} {v}" for k, v in reports[engine]["timings"].items())
        lines.append(f"| {engine} | {run.seconds:.1f} | {run.peak_rss_mib:,.0f} | {stages} |")
    lines.append("")
    for kind in ("enterprise", "person"):
        s = cluster_scores(spark[kind], local[kind])
        pw = s["pairwise"]
        cand = [reports[e]["entities"][kind]["candidate_pairs"] for e in runs]
        lines.append(
            f"- {kind}: Spark vs local pairwise P {pw['precision']:.5f} R {pw['recall']:.5f} "
            f"F1 {pw['f1']:.5f}; records {len(spark[kind]):,} vs {len(local[kind]):,}; "
            f"candidate pairs {cand[1]:,} vs {cand[0]:,}"
        )
    lines += ["", *_cost_lines(json.loads((root / "spark-costs.json").read_text("utf-8")))]
    size = "~100k" if (args.enterprises, args.persons) == (6800, 10000) else f"~{records // 1000}k"
    record(
        f"Spark vs local engine (link, {size} records)",
        f"python -m bench.spark_vs_local --enterprises {args.enterprises} "
        f"--persons {args.persons} --master '{args.master}'",
        lines,
    )


if __name__ == "__main__":
    main()
