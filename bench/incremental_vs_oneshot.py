"""Benchmark: a generated batch split into five sequential batches linked into a state,
against one one-shot run of the whole batch (issue goal: pairwise F1 ≥ 0.999), both scored
against the truth too.

    python -m bench.incremental_vs_oneshot --enterprises 20000 --persons 30000
    python -m bench.incremental_vs_oneshot --enterprises 600 --persons 900 --heldout --parts 3
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import time
from pathlib import Path

from bench.results import credgraph_cli, generate_batch, record

OUT = Path(__file__).resolve().parent / "out"


def _links(path: Path) -> dict[str, dict[tuple[str, str], str]]:
    out: dict[str, dict[tuple[str, str], str]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] in ("enterprise", "person"):
                out.setdefault(row["kind"], {})[(row["dept"], row["record_id"])] = row["entity_id"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--enterprises", type=int, default=20000)
    ap.add_argument("--persons", type=int, default=30000)
    ap.add_argument(
        "--parts", type=int, default=5, help="sequential batches the batch is split into"
    )
    ap.add_argument(
        "--heldout",
        action="store_true",
        help="the held-out generator (fixtures.heldout): --enterprises firms, --persons residents",
    )
    args = ap.parse_args()
    from fixtures.split import split_batch
    from resolver.linkage.evaluate import cluster_scores

    credgraph = credgraph_cli()
    which = "inc-heldout" if args.heldout else "inc"
    root = OUT / f"{which}-e{args.enterprises}-p{args.persons}"
    shutil.rmtree(root, ignore_errors=True)
    if args.heldout:
        from fixtures.heldout.departments import generate_heldout

        generate_heldout(root / "gen", args.enterprises, args.persons)
    else:
        generate_batch(root / "gen", args.enterprises, args.persons)
    parts = split_batch(root / "gen" / "batch", root / "parts", args.parts)
    seconds = []
    for k, part in enumerate(parts):
        t = time.perf_counter()
        subprocess.run(
            [
                credgraph,
                "link",
                str(part),
                "--out",
                str(root / f"run{k + 1}"),
                "--state",
                str(root / "state"),
            ],
            check=True,
            capture_output=True,
        )
        seconds.append(time.perf_counter() - t)
    subprocess.run(
        [
            credgraph,
            "links",
            "--state",
            str(root / "state"),
            "--out",
            str(root / "state-links.csv"),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            credgraph,
            "link",
            str(root / "gen" / "batch"),
            "--out",
            str(root / "oneshot"),
            "--no-state",
        ],
        check=True,
        capture_output=True,
    )
    inc, one = _links(root / "state-links.csv"), _links(root / "oneshot" / "links.csv")
    truth: dict[str, dict[tuple[str, str], str]] = {}
    with (root / "gen" / "truth" / "entities.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            truth.setdefault(row["kind"], {})[(row["dept"], row["record_id"])] = row["entity_key"]
    words = {3: "three", 5: "five"}
    n_parts = words.get(args.parts, str(args.parts))
    lines = [f"- {n_parts} batches applied in {', '.join(f'{s:.1f}' for s in seconds)} s"]
    for kind in ("enterprise", "person"):
        vs = cluster_scores(inc[kind], one[kind])["pairwise"]
        lines.append(
            f"- {kind}: incremental vs one-shot pairwise **F1 {vs['f1']:.5f}** (P {vs['precision']:.5f}, R {vs['recall']:.5f}); "
            f"vs truth: incremental {cluster_scores(inc[kind], truth[kind])['pairwise']['f1']:.5f}, "
            f"one-shot {cluster_scores(one[kind], truth[kind])['pairwise']['f1']:.5f}"
        )
    record(
        f"Incremental: {n_parts} sequential batches vs one-shot"
        + (", held-out set" if args.heldout else "")
        + f" ({args.enterprises:,} enterprises, {args.persons:,} persons)",
        f"python -m bench.incremental_vs_oneshot --enterprises {args.enterprises} --persons {args.persons}"
        + (f" --parts {args.parts}" if args.parts != 5 else "")
        + (" --heldout" if args.heldout else ""),
        lines,
    )


if __name__ == "__main__":
    main()
