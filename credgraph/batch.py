"""Commands that make, check, link and score batches: generate, check, link, evaluate."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from credgraph.common import console, not_nan, plural, print_generate_summary

#: The largest population `generate` accepts (the 1M benchmarks use far fewer).
MAX_POPULATION = 10_000_000


@click.command()
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to create; the batch goes to OUT/batch, the truth to OUT/truth.",
)
@click.option(
    "--enterprises",
    type=click.IntRange(10, MAX_POPULATION),
    default=2000,
    show_default=True,
    help="Real-world enterprises in the population.",
)
@click.option(
    "--persons",
    type=click.IntRange(10, MAX_POPULATION),
    default=3000,
    show_default=True,
    help="Real-world persons in the population.",
)
@click.option(
    "--departments",
    type=click.IntRange(1, 32),
    default=32,
    show_default=True,
    help="How many departments report (the first K of fixtures/departments.yaml).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same bytes.")
@click.option(
    "--noise",
    "noise_factor",
    type=click.FloatRange(0.0, 20.0),
    callback=not_nan,
    default=1.0,
    show_default=True,
    help="Multiply every noise rate (0 = clean data).",
)
@click.option("--batch-id", default=None, help="batch_id written to the manifest.")
@click.option(
    "--batch-no",
    type=click.IntRange(1, 9),
    default=None,
    help="Delivery number: batch N > 1 gives its records new IDs and its own noise "
    "(default 1, or 2 with --follow-up-of).",
)
@click.option(
    "--follow-up-of",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="An earlier generate OUT directory (same --seed and sizes): about 10% of the records "
    "of entities it delivered come again under their old record_id, changed.",
)
@click.option("--force", is_flag=True, help="Write into OUT even if it is not empty.")
def generate(
    out: Path,
    enterprises: int,
    persons: int,
    departments: int,
    seed: int,
    noise_factor: float,
    batch_id: str | None,
    batch_no: int | None,
    follow_up_of: Path | None,
    force: bool,
) -> None:
    """Generate a multi-department batch (Contract 1) with its ground truth."""
    from fixtures.generate import GenerateConfig
    from fixtures.generate import generate as run_generate
    from fixtures.noise import NoiseRates

    if out.exists() and any(out.iterdir()) and not force:
        raise click.UsageError(f"{out} is not empty; pass --force to overwrite")
    cfg = GenerateConfig(
        out=out,
        enterprises=enterprises,
        persons=persons,
        departments=departments,
        seed=seed,
        noise=NoiseRates().scaled(noise_factor),
        batch_id=batch_id,
        batch_no=batch_no or (2 if follow_up_of is not None else 1),
        follow_up_of=follow_up_of,
    )
    if follow_up_of is not None and not (follow_up_of / "truth" / "entities.csv").is_file():
        raise click.BadParameter(
            f"{follow_up_of} holds no truth/entities.csv: give the OUT directory of an earlier "
            "`credgraph generate`",
            param_hint="--follow-up-of",
        )
    start = time.perf_counter()
    with console.status("generating…") as status:

        def progress(msg: str, rows: int) -> None:
            status.update(f"generating: {msg}" + (f" ({rows:,} rows)" if rows else ""))

        try:
            summary = run_generate(cfg, progress)
        except OSError as exc:  # an OUT that cannot be made or written (no such parent, full)
            raise click.ClickException(
                f"cannot write the batch: {exc.strerror or exc} ({exc.filename or out})"
            ) from exc
    elapsed = time.perf_counter() - start
    print_generate_summary(summary.as_dict(), elapsed)
    click.echo(str(out / "batch"))


@click.command()
@click.argument("batch_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for rejects.csv, quality.json and quality.html.",
)
@click.option(
    "--features/--no-features",
    default=False,
    show_default=True,
    help="Also compute the linkage comparison features (normalised names, 字号, pinyin, parsed addresses).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes that check the files (default: one per core); 1 checks them in "
    "this process. (Unlike `link --workers`, this process only collects.)",
)
def check(batch_dir: Path, out: Path, features: bool, workers: int | None) -> None:
    """Ingest and standardise a batch; write rejects and the per-department quality report."""
    from resolver.ingest.check import run_check
    from resolver.ingest.manifest import ManifestError, load_manifest
    from resolver.ingest.readers import FileProblem

    try:
        manifest = load_manifest(batch_dir)
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from exc
    if not manifest.sources:
        click.echo(
            f"batch {manifest.batch_id} delivers no files: it only withdraws "
            f"{len(manifest.withdrawn):,} records, nothing to check "
            "(`credgraph link --state` applies the withdrawals)"
        )
        return
    start = time.perf_counter()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("checking files", total=len(manifest.sources))

        def progress(stats: object) -> None:
            bar.update(task, advance=1, description=f"checked {getattr(stats, 'file', '')}")

        try:
            result = run_check(
                batch_dir, out, features=features, progress=progress, workers=workers
            )
        except (ManifestError, FileProblem) as exc:
            raise click.ClickException(str(exc)) from exc
    elapsed = time.perf_counter() - start
    s = result.report["summary"]
    click.echo(
        f"{plural(s['read'], 'row')} read in {plural(s['files'], 'file')} from "
        f"{plural(s['departments'], 'department')} in {elapsed:.1f} s "
        f"({s['read'] / max(elapsed, 1e-9):,.0f} rows/s): {s['accepted']:,} accepted, {s['rejected']:,} rejected, "
        f"{s['flagged_rows']:,} accepted rows with flagged fields"
    )
    click.echo(
        f"{s['lines']:,} lines in the files, each one a header, a blank line or part of a row read; "
        f"balanced: {'yes' if s['balanced'] else 'NO'}"
    )
    if not s["balanced"]:
        for d in result.report["departments"]:
            for f in d["files"]:
                if not f["balanced"]:
                    placed = f["header_lines"] + f["blank_lines"] + f["row_lines"]
                    click.echo(
                        f"  not balanced: {d['dept']} {f['file']}: {f['lines']:,} lines, "
                        f"{placed:,} placed; {f['read']:,} rows read, "
                        f"{f['accepted'] + f['rejected']:,} accepted or rejected"
                    )
    for reason, n in s["reject_reasons"].items():
        click.echo(f"  {reason}: {n:,}")
    for w in s["warnings"]:
        click.echo(f"  warning: {w}")
    if features:
        click.echo(
            f"features: computed and checked for {s['accepted']:,} accepted rows (normalised "
            "names, 字号, pinyin, parsed addresses); they are not written by check: "
            "`credgraph link` computes them again and writes what they decide (links.csv, "
            "review.csv with the per-feature weights)"
        )
    click.echo(f"rejects: {result.rejects_csv}\nreport: {result.quality_html}")


@click.command()
@click.argument("batch_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Run directory for the Contract 2 files.",
)
@click.option(
    "--match-threshold",
    type=click.FloatRange(0.0, 1.0),
    callback=not_nan,
    default=0.9,
    show_default=True,
    help="Match probability at or above which clusters are merged.",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Resolution state directory (stable IDs, incremental batches, judgements); "
    "default: the user data directory. See --no-state.",
)
@click.option("--no-state", is_flag=True, help="One-shot run: no state, content-derived IDs.")
@click.option(
    "--lock-wait",
    type=click.FloatRange(0.0),
    callback=not_nan,
    default=600.0,
    show_default=True,
    help="Seconds to wait while another run holds the state's writer lock.",
)
@click.option(
    "--review-threshold",
    type=click.FloatRange(0.0, 1.0),
    callback=not_nan,
    default=0.3,
    show_default=True,
    help="Pairs between this and the match threshold go to review.csv.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="Where ingest, blocking, scoring and clustering run: this machine, or Apache Spark "
    "(needs the `spark` extra and Java 17).",
)
@click.option(
    "--master",
    default="local[2]",
    show_default=True,
    help="Spark master URL for --engine spark (local[N], spark://host:port, yarn, k8s://…).",
)
@click.option(
    "--shuffle-partitions",
    type=click.IntRange(1, 100_000),
    default=8,
    show_default=True,
    help="spark.sql.shuffle.partitions for --engine spark (a few per core).",
)
@click.option(
    "--spark-costs",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the run's per-step, per-partition costs (records, rows, seconds, shuffle "
    "bytes) as JSON to this file (--engine spark).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes that ingest, this one included (default: one per core). Unless this is "
    "1, a --no-state run also forks two helpers before ingest (person linkage, enterprise "
    "golden records) that read the ingested rows from .credgraph-rows-* next to --out "
    "(deleted at the end); a --state run re-links its persons in a child forked after ingest "
    "and finds the stored rows to resolve again in another while it resolves the batch's own. "
    "1 keeps the run in one process: slower, but the lowest peak memory.",
)
def link(
    batch_dir: Path,
    out: Path,
    match_threshold: float,
    review_threshold: float,
    state_dir: Path | None,
    no_state: bool,
    engine: str,
    master: str,
    shuffle_partitions: int,
    spark_costs: Path | None,
    lock_wait: float,
    workers: int | None,
) -> None:
    """Link a batch into golden entities; write links, golden records, edges, events, reports."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from resolver.gcpause import no_collection_at_exit
    from resolver.ingest.manifest import ManifestError
    from resolver.ingest.readers import FileProblem
    from resolver.linkage.link import Engine, LinkConfig, LocalEngine, run_link
    from resolver.state.run_files import RunDirBusyError
    from resolver.state.sealing import StateKeyError
    from resolver.state.store import StateError, default_state_dir

    no_collection_at_exit()
    if match_threshold < review_threshold:
        raise click.UsageError("--match-threshold must not be below --review-threshold")
    if (master != "local[2]" or shuffle_partitions != 8 or spark_costs) and engine != "spark":
        raise click.UsageError(
            "--master, --shuffle-partitions and --spark-costs need --engine spark"
        )
    if no_state and state_dir is not None:
        raise click.UsageError(
            "--state and --no-state contradict each other: pass one of them, not both"
        )
    if not no_state and out.resolve() == (state_dir or default_state_dir()).resolve():
        raise click.UsageError(
            f"--out and --state are the same directory ({out}): give the run files a "
            "directory of their own"
        )
    if workers is not None and engine != "local":
        raise click.UsageError("--workers is for --engine local (Spark sizes its own executors)")
    cfg = LinkConfig(
        match_threshold=match_threshold,
        review_threshold=review_threshold,
        parallel=workers != 1,
    )
    backend: Engine = LocalEngine(workers)
    spark = None
    meter = None
    if engine == "spark":
        from resolver.spark.costs import Meter
        from resolver.spark.link import SparkEngine
        from resolver.spark.session import SparkUnavailableError, spark_session

        try:
            with console.status(f"starting Spark on {master}…"):
                spark = spark_session(
                    master,
                    shuffle_partitions=shuffle_partitions,
                    monitoring=spark_costs is not None,
                )
        except SparkUnavailableError as exc:
            raise click.ClickException(str(exc).splitlines()[0]) from exc
        meter = Meter(spark) if spark_costs is not None else None
        backend = SparkEngine(spark, meter=meter)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("ingesting", total=None)

        def progress(msg: str, done: int, total: int) -> None:
            bar.update(task, description=msg, completed=done, total=total or None)

        try:
            if no_state:
                result = run_link(batch_dir, out, cfg, progress, backend)
            else:
                from resolver.state.incremental import run_link_stateful

                result = run_link_stateful(
                    batch_dir,
                    out,
                    state_dir or default_state_dir(),
                    cfg,
                    progress,
                    backend,
                    lock_wait=lock_wait,
                    on_wait=lambda msg: console.print(f"state: {msg}", markup=False),
                )
            if meter is not None and spark_costs is not None:
                progress("reading Spark's task metrics", 0, 0)
                costs = meter.report()
                spark_costs.write_text(json.dumps(costs, indent=1) + "\n", "utf-8")
        except (ManifestError, FileProblem, RunDirBusyError, StateError, StateKeyError) as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:  # OUT (or the spill directory next to it): not made, full
            raise click.ClickException(
                f"cannot write the run: {exc.strerror or exc} ({exc.filename or out})"
            ) from exc
        finally:
            if spark is not None:
                spark.stop()
    r = result.report
    if r.get("already_applied"):
        where = {
            "present": f"its run files are complete in {result.out_dir}",
            "written": f"its run files were written again from the state to {result.out_dir}",
            "not kept": "this state did not keep its run files (applied by an older credgraph)",
        }[r["run_files"]]
        click.echo(
            f"batch {r['batch_id']} was already applied to the state: nothing changed; {where}"
        )
        return
    if "state" in r:
        click.echo(state_summary_text(r["state"]))
        if merged := merged_text(result.out_dir, state_dir):
            click.echo(merged)
    elif no_state:
        from resolver.ingest.manifest import load_manifest

        if n_withdrawn := len(load_manifest(batch_dir, check_headers=False).withdrawn):
            click.echo(
                f"{n_withdrawn:,} withdrawals not applied: a run without a state has no "
                "earlier records to take back (link with --state)"
            )
    ing = r["ingest"]
    click.echo(
        f"ingest: {plural(ing['read'], 'row')} read, {ing['accepted']:,} accepted, "
        f"{ing['rejected']:,} rejected (balanced: {'yes' if ing['balanced'] else 'NO'})"
    )
    for f in ing.get("files", []):  # as `check` warns: nothing of these files was linked
        if f.get("encoding_warning"):
            click.echo(f"  warning: {f['dept']} {f['file']}: {f['encoding_warning']}")
        if not f.get("read"):
            click.echo(
                f"  warning: {f['dept']} {f['file']}: no rows (an empty or header-only file)"
            )
    for kind, st in r["entities"].items():
        click.echo(
            f"{kind}: {plural(st['records'], 'record')} -> "
            f"{plural(st['clusters'], 'golden entity', 'golden entities')} "
            f"({plural(st['probabilistic_merges'], 'probabilistic merge')}, "
            f"{plural(st['review_pairs'], 'pair')} for review, "
            f"refused merges: {counts_text(st['refusals'])})"
        )
    if "state" in r:
        click.echo(
            "  (re-linked: the batch's new and changed records with the stored records of the "
            "entities they touch; new IDs, merges and retirements are in the state lines above, "
            "whose new IDs are those of record clusters: entities known only from mentions are "
            "counted below)"
        )
    if "mention_only_persons" in r:
        click.echo(
            "persons known only from role and shareholding rows: "
            f"{plural(r['mention_only_persons'], 'new golden person')} (no person record)"
        )
    if r.get("mention_only_enterprises"):
        click.echo(
            "enterprises known only from role, shareholding and branch rows: "
            f"{plural(r['mention_only_enterprises'], 'golden enterprise')} (no enterprise record)"
        )
    click.echo(
        f"edges: {counts_text(r['edges'])}; events: {r['events']:,}; conflicts: {r['conflicts']:,}"
    )
    click.echo("timings (s): " + ", ".join(f"{k} {v}" for k, v in r["timings"].items()))
    click.echo(run_files_text(result.out_dir, r, None if no_state else state_dir))


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--truth",
    "truth",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="The truth directory written by `credgraph generate`.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def evaluate(run_dir: Path, truth: Path, as_json: bool) -> None:
    """Score a resolution run against ground truth (pairwise, B-cubed, over-merged and split clusters)."""
    import json as _json

    from resolver.linkage.evaluate import evaluate as run_evaluate

    for path, what in (
        (run_dir / "links.csv", "a resolution run (`credgraph link … --out RUN_DIR`)"),
        (truth / "entities.csv", "a truth directory (`credgraph generate` writes OUT/truth)"),
    ):
        if not path.is_file():
            raise click.ClickException(f"{path.parent} is not {what}: {path.name} is missing")
    scores = run_evaluate(run_dir, truth)
    if as_json:
        click.echo(_json.dumps(scores, ensure_ascii=False, indent=2))
        return
    for kind in ("enterprise", "person"):
        s = scores[kind]
        pw, b3 = s["pairwise"], s["b_cubed"]
        click.echo(
            f"{kind}: pairwise P {pw['precision']:.4f} R {pw['recall']:.4f} F1 {pw['f1']:.4f} | "
            f"B-cubed P {b3['precision']:.4f} R {b3['recall']:.4f} F1 {b3['f1']:.4f} | "
            f"{s['clusters']:,} clusters for {s['true_entities']:,} entities, "
            f"{s['over_merged_clusters']:,} over-merged, {s['split_entities']:,} split"
        )
    if "mentions" in scores:
        m = scores["mentions"]
        click.echo(
            f"mentions: {m.get('mentions', 0):,}, resolved {m['resolved_rate']:.4f}, precision {m['precision']:.4f}, "
            f"subject accuracy {m['accuracy']:.4f} (unresolved counted wrong)"
        )
        for kind, acc in m["accuracy_by_kind"].items():
            click.echo(f"  {kind}: subject accuracy {acc:.4f}")
        if m["unresolved_reasons"]:
            reasons = ", ".join(f"{r} {n:,}" for r, n in m["unresolved_reasons"].items())
            click.echo(f"  unresolved: {reasons}")


def counts_text(counts: dict[str, int]) -> str:
    """``{'a': 1, 'b': 20}`` as ``a 1, b 20`` (``none`` when empty): no dicts on the terminal."""
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"


def run_files_text(out: Path, report: dict[str, Any], state_dir: Path | None) -> str:
    """Where the run's files are and what to do with them next (a stateful run: load it in
    batch order, review its pairs in the state's queue)."""
    names = ["links.csv", "golden.jsonl", "edges.jsonl", "events.jsonl"]
    if "state" in report:
        names += ["resolved.csv", "redirects.jsonl", "changes.json"]
    names += ["conflicts.csv", "review.csv", "rejects.csv", "model.json", "report.json"]
    names = [n for n in names if (out / n).exists()] + ["run.json"]
    text = f"run files in {out}: {', '.join(names)}"
    if "state" not in report:
        return text + f"\nnext: credgraph load {out}"
    pairs = sum(st["review_pairs"] for st in report["entities"].values())
    seq = json.loads((out / "changes.json").read_text("utf-8"))["state"]["batch_seq"]
    text += f"\nnext: credgraph load {out}"
    if seq > 1:
        before = "batch 1" if seq == 2 else f"batches 1–{seq - 1}"
        text += f" (batch {seq} of the state: the graph must hold {before} first)"
    if pairs:
        where = f" --state {state_dir}" if state_dir is not None else ""
        text += (
            f"; {plural(pairs, 'pair')} of this batch {'awaits' if pairs == 1 else 'await'} review: "
            f"credgraph review list{where}"
        )
    return text


def merged_text(out: Path, state_dir: Path | None, show: int = 5) -> str:
    """The golden IDs this batch merged into others (redirects.jsonl), the first few by name,
    and how to see why; empty when it merged none."""
    path = out / "redirects.jsonl"
    pairs = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    if not pairs:
        return ""
    first = ", ".join(f"{p['old']} -> {p['new']}" for p in pairs[:show])
    more = f" and {len(pairs) - show:,} more" if len(pairs) > show else ""
    where = f" --state {state_dir}" if state_dir is not None else ""
    return (
        f"  merged IDs: {first}{more} (all in {path}); why: "
        f"credgraph history {pairs[0]['old']}{where}"
    )


def state_summary_text(st: dict[str, Any]) -> str:
    """What a batch changed in the state, as one readable paragraph."""
    new = st.get("new", st["new_or_changed"])
    changed = st.get("changed", 0)
    text = (
        f"state {st['dir']}: {plural(new, 'new record')}, {changed:,} changed "
        f"({st.get('moved', 0):,} moved to another entity), {st['unchanged']:,} unchanged, "
        f"{st['withdrawn']:,} withdrawn"
    )
    for k, v in st["entities"].items():
        text += (
            f"\n  {k}: {v['new_ids']:,} new IDs, {v['merged_ids']:,} merged, "
            f"{v['retired_ids']:,} retired"
        )
    return text
