"""The projection in docs/scale.md, derived from two measured Spark-vs-local runs of
``bench.spark_vs_local`` (their ``spark-costs.json`` and ``report.json`` files): per step a
fixed cost and a cost per input row, fitted through the two sizes; the crossover of the local
and the Spark engine on this machine; cluster core-seconds, shuffle volume and time for 100M
and 1B rows.

    python -m bench.spark_projection bench/out/spark-e6800-p10000 bench/out/spark-e20000-p30000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _load(root: Path) -> dict[str, Any]:
    costs = json.loads((root / "spark-costs.json").read_text("utf-8"))
    spark = json.loads((root / "spark" / "report.json").read_text("utf-8"))
    local = json.loads((root / "local" / "report.json").read_text("utf-8"))
    tasks = costs["spark_tasks"]
    return {
        "rows": spark["ingest"]["read"],
        "spark_total": spark["timings"]["total"],
        "local_total": local["timings"]["total"],
        "task_s": sum(v["task_seconds_sum"] for v in tasks.values()),
        "python_s": sum(v["seconds"] for v in costs["python_work"].values()),
        "shuffle": sum(v["shuffle_write_bytes"] for v in tasks.values()),
        "stages": sum(v["stages"] for v in tasks.values()),
        "steps": {
            k: (costs["step_wall_seconds"][k], tasks.get(k, {}).get("task_seconds_sum", 0.0))
            for k in costs["step_wall_seconds"]
        },
        "pairs": {
            kind: (spark["entities"][kind]["candidate_pairs"], spark["entities"][kind]["records"])
            for kind in ("enterprise", "person")
        },
        "largest_ingest_partition": max(
            (p["records_in"] for p in costs["python_work"]["ingest"]["per_partition"]),
            default=0,
        ),
    }


def _fit(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    """(fixed, per unit) of the line through two points."""
    slope = (y2 - y1) / (x2 - x1)
    return y1 - slope * x1, slope


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("small", type=Path)
    ap.add_argument("large", type=Path)
    args = ap.parse_args()
    a, b = _load(args.small), _load(args.large)
    n1, n2 = a["rows"], b["rows"]
    out = [f"runs: {n1:,} and {n2:,} rows read (local[2], 2 cores)", ""]
    fits = {}
    for key in ("spark_total", "local_total", "task_s", "python_s", "shuffle"):
        fits[key] = _fit(n1, a[key], n2, b[key])
    out.append("| quantity | small run | large run | fixed | per 1M rows |")
    out.append("|---|---:|---:|---:|---:|")
    names = {
        "spark_total": "Spark engine, wall s",
        "local_total": "local engine, wall s",
        "task_s": "Spark executor task s (all steps)",
        "python_s": "credgraph code in the tasks, s",
        "shuffle": "shuffle written, MiB",
    }
    for key, name in names.items():
        scale = 2**20 if key == "shuffle" else 1
        fixed, per = fits[key]
        out.append(
            f"| {name} | {a[key] / scale:,.1f} | {b[key] / scale:,.1f} | {fixed / scale:,.1f} "
            f"| {per * 1e6 / scale:,.1f} |"
        )
    out += ["", "| step | wall s small / large | task s small / large |", "|---|---|---|"]
    for step in a["steps"]:
        wa, ta = a["steps"][step]
        wb, tb = b["steps"].get(step, (0.0, 0.0))
        out.append(f"| {step} | {wa:.1f} / {wb:.1f} | {ta:.1f} / {tb:.1f} |")
    out.append("")
    for kind in ("enterprise", "person"):
        (pa, ra), (pb, rb) = a["pairs"][kind], b["pairs"][kind]
        out.append(
            f"- {kind}: candidate pairs per record {pa / ra:.3f} (small), {pb / rb:.3f} (large)"
        )
    out.append(
        f"- stages per run: {a['stages']} (small), {b['stages']} (large); largest ingest "
        f"partition (one department's files) {a['largest_ingest_partition']:,} of {n1:,} rows, "
        f"{b['largest_ingest_partition']:,} of {n2:,}"
    )
    (fs, ps), (fl, pl) = fits["spark_total"], fits["local_total"]
    if pl > ps:
        out.append(
            f"- crossover (Spark local[2] as fast as local): {(fs - fl) / (pl - ps):,.0f} rows"
        )
    else:
        out.append(
            f"- no crossover on this machine: Spark local[2] takes {ps * 1e6:.1f} s per 1M rows "
            f"on top of its fixed {fs:.0f} s, the local engine {pl * 1e6:.1f} s per 1M rows"
        )
    serial = ps - fits["task_s"][1] / 2
    out.append(
        f"- Spark wall per 1M rows not explained by executor tasks on 2 cores (driver-side, "
        f"serial): {serial * 1e6:.1f} s"
    )
    for cores in (8, 32):
        per = fits["task_s"][1] / cores
        if pl > per:
            out.append(
                f"- with the driver-side parts distributed too, Spark on {cores} cores would "
                f"overtake the local engine at {(fs - fl) / (pl - per):,.0f} rows"
            )
    task_per_row = fits["task_s"][1]
    shuffle_per_row = fits["shuffle"][1]
    out += [
        "",
        "| rows | executor core-hours | shuffle GiB | hours on 64 cores | on 256 | on 1024 |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in (100_000_000, 1_000_000_000):
        core_s = task_per_row * rows
        out.append(
            f"| {rows:,} | {core_s / 3600:,.1f} | {shuffle_per_row * rows / 2**30:,.0f} | "
            + " | ".join(f"{core_s / c / 3600:,.2f}" for c in (64, 256, 1024))
            + " |"
        )
    print("\n".join(out))


if __name__ == "__main__":
    main()
