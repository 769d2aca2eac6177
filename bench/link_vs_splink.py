"""Benchmark: `credgraph link` against Splink 5 (DuckDB) on the same generated batch.

Splink is set up as a competent user would: the same standardised fields (our ingest output),
blocking rules on the strong identifiers, names, phones and addresses, fuzzy comparisons,
u from random sampling, EM for m, clustering at the same match threshold. Its time covers
training, prediction and clustering (not our ingest, which it is given); our time is both
end to end and for the linkage stages alone. Accuracy of both is scored against the truth.

    python -m bench.link_vs_splink --enterprises 6800 --persons 10000   # ~100k records
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from bench.recordlinkage_baseline import link_with_recordlinkage
from bench.results import credgraph_cli, generate_batch, record, run_tree_measured

OUT = Path(__file__).resolve().parent / "out"


def _frames(batch: Path) -> tuple[Any, Any, dict[str, dict[tuple[str, str], str]]]:
    import pandas as pd

    from resolver.ingest.manifest import load_manifest
    from resolver.ingest.rows import Record, ingest

    ent: list[dict[str, Any]] = []
    per: list[dict[str, Any]] = []
    keys: dict[str, dict[tuple[str, str], str]] = {"enterprise": {}, "person": {}}
    latest: dict[tuple[str, str, str], Record] = {}
    for _s, ev in ingest(load_manifest(batch), features=True):
        if isinstance(ev, Record) and ev.kind in ("enterprise", "person"):
            latest[ev.key] = ev
    for rec in latest.values():
        s = rec.std
        uid = f"{rec.dept}|{rec.record_id}"
        if rec.kind == "enterprise":
            ent.append(
                {
                    "unique_id": uid,
                    "uscc": s.get("uscc"),
                    "org_code": s.get("org_code"),
                    "reg_no": s.get("reg_no"),
                    "name": s.get("name_norm"),
                    "name_body": s.get("name_body"),
                    "name_core": s.get("name_core"),
                    "region": s.get("name_region_code"),
                    "district": s.get("district_code"),
                    "address": s.get("address_norm"),
                    "phone": s.get("phone"),
                    "legal_rep": s.get("legal_rep_name_norm"),
                    "established": s.get("established"),
                    "form": s.get("form"),
                }
            )
        else:
            per.append(
                {
                    "unique_id": uid,
                    "id18": s.get("id18"),
                    "name": s.get("name_norm"),
                    "pinyin": s.get("name_pinyin"),
                    "birth_date": s.get("birth_date"),
                    "gender": s.get("gender"),
                    "phone": s.get("phone"),
                    "district": s.get("district_code"),
                    "address": s.get("address_norm"),
                    "employer": s.get("employer_uscc") or s.get("employer_name_norm"),
                }
            )
        keys[rec.kind][(rec.dept, rec.record_id)] = uid
    return pd.DataFrame(ent), pd.DataFrame(per), keys


def _splink(df: Any, kind: str, threshold: float) -> tuple[dict[str, str], float]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    comparisons: list[Any]
    blocking: list[Any]
    deterministic: list[Any]
    if kind == "enterprise":
        comparisons = [
            cl.ExactMatch("uscc"),
            cl.ExactMatch("org_code"),
            cl.ExactMatch("reg_no"),
            cl.JaroWinklerAtThresholds("name", [0.95, 0.88, 0.8]),
            cl.ExactMatch("name_core"),
            cl.ExactMatch("region"),
            cl.LevenshteinAtThresholds("address", [2, 6]),
            cl.ExactMatch("phone"),
            cl.ExactMatch("legal_rep"),
            cl.ExactMatch("established"),
        ]
        blocking = [
            block_on("uscc"),
            block_on("org_code"),
            block_on("reg_no"),
            block_on("name"),
            block_on("name_body"),
            block_on("name_core", "district"),
            block_on("phone"),
            block_on("address"),
        ]
        deterministic = [block_on("uscc")]
        em_rules = [block_on("name"), block_on("uscc")]
    else:
        comparisons = [
            cl.ExactMatch("id18"),
            cl.JaroWinklerAtThresholds("name", [0.95, 0.85]),
            cl.ExactMatch("pinyin"),
            cl.ExactMatch("birth_date"),
            cl.ExactMatch("gender"),
            cl.ExactMatch("phone"),
            cl.LevenshteinAtThresholds("address", [2, 6]),
            cl.ExactMatch("employer"),
        ]
        blocking = [
            block_on("id18"),
            block_on("name", "birth_date"),
            block_on("name", "phone"),
            block_on("phone"),
            block_on("pinyin", "birth_date"),
            block_on("name", "district"),
            block_on("name", "employer"),
        ]
        deterministic = [block_on("id18")]
        em_rules = [block_on("name"), block_on("id18")]
    start = time.perf_counter()
    db = DuckDBAPI()
    sdf = db.register(df)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
    )
    linker = Linker(sdf, settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold)
    out = clusters.as_pandas_dataframe()  # type: ignore[no-untyped-call,unused-ignore]
    seconds = time.perf_counter() - start
    return dict(zip(out["unique_id"], out["cluster_id"].astype(str), strict=True)), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--enterprises", type=int, default=6800)
    ap.add_argument("--persons", type=int, default=10000)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--skip-splink", action="store_true")
    ap.add_argument(
        "--no-recordlinkage",
        action="store_true",
        help="leave out the recordlinkage baseline (its full index and ECM are slow at 1M records)",
    )
    ap.add_argument(
        "--heldout",
        action="store_true",
        help="use the held-out generator (fixtures.heldout): --enterprises firms, --persons residents",
    )
    args = ap.parse_args()
    from resolver.linkage.evaluate import cluster_scores, evaluate

    which = "heldout" if args.heldout else "link"
    gen = OUT / f"{which}-e{args.enterprises}-p{args.persons}"
    credgraph = credgraph_cli()
    if args.heldout and not (gen / "batch" / "manifest.yaml").exists():
        from fixtures.heldout.departments import generate_heldout

        generate_heldout(gen, args.enterprises, args.persons)
    if not (gen / "batch" / "manifest.yaml").exists():
        shutil.rmtree(gen, ignore_errors=True)
        generate_batch(gen, args.enterprises, args.persons)
    summary = json.loads((gen / "truth" / "summary.json").read_text("utf-8"))
    run_dir = gen / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    ours = run_tree_measured(
        [
            credgraph,
            "link",
            str(gen / "batch"),
            "--out",
            str(run_dir),
            "--match-threshold",
            str(args.threshold),
            "--no-state",
        ]
    )
    report = json.loads((run_dir / "report.json").read_text("utf-8"))
    t = report["timings"]
    # wall of the two kinds' linkage: persons link in a forked worker alongside enterprises
    # (and write their golden records there); older runs had the two one after the other
    link_stages = t.get("linkage", t["link_enterprise"] + t["link_person"])
    scores = evaluate(run_dir, gen / "truth")
    lines = [
        f"- batch: {summary['rows']:,} records ({summary['departments']} departments, "
        + ("held-out generator fixtures.heldout, seed 11)" if args.heldout else "seed 7)"),
        f"- credgraph link: {ours.seconds:.1f} s end to end (ingest {t['ingest']} s, linkage stages {link_stages:.1f} s "
        f"(enterprise {t['link_enterprise']} s, person {t['link_person']} s alongside), "
        f"survivorship/mentions/writing {t['survivorship'] + t['mentions'] + t['write']:.1f} s); "
        f"peak memory (PSS, process tree) {ours.peak_rss_mib:,.0f} MiB",
    ]
    for kind in ("enterprise", "person"):
        s = scores[kind]
        lines.append(
            f"  - {kind}: pairwise P {s['pairwise']['precision']:.4f} R {s['pairwise']['recall']:.4f} "
            f"**F1 {s['pairwise']['f1']:.4f}**; over-merged {s['over_merged_clusters']}, split {s['split_entities']}"
        )
    m = scores.get("mentions", {})
    if m:
        lines.append(
            f"  - mentions: resolved {m['resolved_rate']:.4f}, precision {m['precision']:.4f}; "
            f"subject accuracy (unresolved counted wrong) {m['accuracy']:.4f}, "
            + ", ".join(f"{k} {v:.4f}" for k, v in m["accuracy_by_kind"].items())
        )
    if not args.skip_splink:
        ent_df, per_df, keys = _frames(gen / "batch")
        import csv

        truth: dict[str, dict[str, str]] = {"enterprise": {}, "person": {}}
        with (gen / "truth" / "entities.csv").open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                uid = keys[row["kind"]].get((row["dept"], row["record_id"]))
                if uid:
                    truth[row["kind"]][uid] = row["entity_key"]
        total = 0.0
        for kind, df in (("enterprise", ent_df), ("person", per_df)):
            clusters, seconds = _splink(df, kind, args.threshold)
            total += seconds
            s = cluster_scores(
                {(k, ""): v for k, v in clusters.items()},
                {(k, ""): v for k, v in truth[kind].items()},
            )
            lines.append(
                f"  - Splink 5 {kind}: {seconds:.1f} s; pairwise P {s['pairwise']['precision']:.4f} "
                f"R {s['pairwise']['recall']:.4f} **F1 {s['pairwise']['f1']:.4f}**; "
                f"over-merged {s['over_merged_clusters']}, split {s['split_entities']}"
            )
        rl_total = 0.0
        for kind, df in (
            () if args.no_recordlinkage else (("enterprise", ent_df), ("person", per_df))
        ):
            clusters, seconds = link_with_recordlinkage(df, kind)
            rl_total += seconds
            s = cluster_scores(
                {(k, ""): v for k, v in clusters.items()},
                {(k, ""): v for k, v in truth[kind].items()},
            )
            lines.append(
                f"  - recordlinkage 0.16 ECM {kind}: {seconds:.1f} s; pairwise P {s['pairwise']['precision']:.4f} "
                f"R {s['pairwise']['recall']:.4f} **F1 {s['pairwise']['f1']:.4f}**; "
                f"over-merged {s['over_merged_clusters']}, split {s['split_entities']}"
            )
        lines.append(
            f"- Splink 5 (DuckDB) linkage total {total:.1f} s on the same standardised records; "
            f"time ratio credgraph linkage stages / Splink = {link_stages / total:.2f}, "
            f"credgraph end to end / Splink = {ours.seconds / total:.2f}"
        )
    title = "held-out set" if args.heldout else "main generator"
    record(
        f"Linkage: credgraph vs Splink 5{'' if args.no_recordlinkage else ' and recordlinkage'}, "
        f"{title} ({summary['rows']:,} records)",
        f"python -m bench.link_vs_splink --enterprises {args.enterprises} --persons {args.persons}"
        + (" --heldout" if args.heldout else "")
        + (" --no-recordlinkage" if args.no_recordlinkage else ""),
        lines,
    )


if __name__ == "__main__":
    main()
