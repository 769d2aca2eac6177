"""The ``credgraph`` command line: a thin layer that composes the parts."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from credgraph import __version__

console = Console(stderr=True)


@click.group()
@click.version_option(__version__, prog_name="credgraph")
def main() -> None:
    """credgraph: link department records into golden legal-person entities."""


@main.command()
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to create; the batch goes to OUT/batch, the truth to OUT/truth.",
)
@click.option(
    "--enterprises",
    type=click.IntRange(10),
    default=2000,
    show_default=True,
    help="Real-world enterprises in the population.",
)
@click.option(
    "--persons",
    type=click.IntRange(10),
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
    default=1.0,
    show_default=True,
    help="Multiply every noise rate (0 = clean data).",
)
@click.option("--batch-id", default=None, help="batch_id written to the manifest.")
@click.option("--force", is_flag=True, help="Write into OUT even if it is not empty.")
def generate(
    out: Path,
    enterprises: int,
    persons: int,
    departments: int,
    seed: int,
    noise_factor: float,
    batch_id: str | None,
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
    )
    start = time.perf_counter()
    with console.status("generating…") as status:

        def progress(msg: str, rows: int) -> None:
            status.update(f"generating: {msg}" + (f" ({rows:,} rows)" if rows else ""))

        summary = run_generate(cfg, progress)
    elapsed = time.perf_counter() - start
    _print_summary(summary.as_dict(), elapsed)
    click.echo(str(out / "batch"))


@main.command()
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
    help="Worker processes (default: all cores).",
)
def check(batch_dir: Path, out: Path, features: bool, workers: int | None) -> None:
    """Ingest and standardise a batch; write rejects and the per-department quality report."""
    from resolver.check import run_check
    from resolver.manifest import ManifestError, load_manifest

    try:
        manifest = load_manifest(batch_dir)
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from exc
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

        result = run_check(batch_dir, out, features=features, progress=progress, workers=workers)
    elapsed = time.perf_counter() - start
    s = result.report["summary"]
    click.echo(
        f"{s['read']:,} rows read in {s['files']} files from {s['departments']} departments in {elapsed:.1f} s "
        f"({s['read'] / max(elapsed, 1e-9):,.0f} rows/s): {s['accepted']:,} accepted, {s['rejected']:,} rejected, "
        f"{s['flagged_rows']:,} accepted rows with flagged fields; balanced: {'yes' if s['balanced'] else 'NO'}"
    )
    for reason, n in s["reject_reasons"].items():
        click.echo(f"  {reason}: {n:,}")
    for w in s["warnings"]:
        click.echo(f"  warning: {w}")
    click.echo(f"rejects: {result.rejects_csv}\nreport: {result.quality_html}")


@main.command()
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
    "--review-threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.3,
    show_default=True,
    help="Pairs between this and the match threshold go to review.csv.",
)
def link(
    batch_dir: Path,
    out: Path,
    match_threshold: float,
    review_threshold: float,
    state_dir: Path | None,
    no_state: bool,
) -> None:
    """Link a batch into golden entities; write links, golden records, edges, events, reports."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from resolver.link import LinkConfig, run_link
    from resolver.manifest import ManifestError

    if match_threshold < review_threshold:
        raise click.UsageError("--match-threshold must not be below --review-threshold")
    cfg = LinkConfig(match_threshold=match_threshold, review_threshold=review_threshold)
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
                result = run_link(batch_dir, out, cfg, progress)
            else:
                from resolver.incremental import run_link_stateful
                from resolver.state import default_state_dir

                result = run_link_stateful(
                    batch_dir, out, state_dir or default_state_dir(), cfg, progress
                )
        except ManifestError as exc:
            raise click.ClickException(str(exc)) from exc
    r = result.report
    if r.get("already_applied"):
        click.echo(f"batch {r['batch_id']} was already applied to the state: nothing changed")
        return
    if "state" in r:
        st = r["state"]
        click.echo(
            f"state {st['dir']}: {st['new_or_changed']:,} new or changed records, {st['unchanged']:,} unchanged, "
            f"{st['withdrawn']:,} withdrawn; "
            + "; ".join(
                f"{k}: {v['new_ids']:,} new IDs, {v['merged_ids']:,} merged, {v['retired_ids']:,} retired"
                for k, v in st["entities"].items()
            )
        )
    ing = r["ingest"]
    click.echo(
        f"ingest: {ing['read']:,} rows read, {ing['accepted']:,} accepted, {ing['rejected']:,} rejected "
        f"(balanced: {'yes' if ing['balanced'] else 'NO'})"
    )
    for kind, st in r["entities"].items():
        click.echo(
            f"{kind}: {st['records']:,} records -> {st['clusters']:,} golden entities "
            f"({st['probabilistic_merges']:,} probabilistic merges, {st['review_pairs']:,} pairs for review, "
            f"refused merges {st['refusals'] or 'none'})"
        )
    click.echo(f"edges: {r['edges']}; events: {r['events']:,}; conflicts: {r['conflicts']:,}")
    click.echo("timings (s): " + ", ".join(f"{k} {v}" for k, v in r["timings"].items()))
    click.echo(str(result.out_dir))


@main.command()
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

    from resolver.evaluate import evaluate as run_evaluate

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
            f"mentions: {m.get('mentions', 0):,}, resolved {m['resolved_rate']:.4f}, precision {m['precision']:.4f}"
        )


STATE_OPTION = click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Resolution state directory (default: the user data directory).",
)


def _open_state(state_dir: Path | None) -> Any:
    from resolver.state import State, default_state_dir

    path = state_dir or default_state_dir()
    if not (path / "state.db").exists():
        raise click.ClickException(
            f"no resolution state in {path}: run `credgraph link BATCH --state {path}` first"
        )
    return State(path)


def _resolve_or_fail(state: Any, entity_id: str) -> tuple[str, list[str]]:
    """Follow an ID's redirects, or fail with a clear message for an unknown ID."""
    from resolver.state import StateError

    try:
        current, path = state.resolve(entity_id)
    except StateError as exc:
        raise click.ClickException(str(exc)) from exc
    return current, path


def _record_ref(text: str) -> tuple[str, str]:
    dept, sep, rid = text.partition(":")
    if not sep or not dept or not rid:
        raise click.BadParameter(
            f"{text!r}: write a record as DEPT:RECORD_ID, e.g. AMR:AMR000001650"
        )
    return dept, rid


@main.command("links")
@STATE_OPTION
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def links_cmd(state_dir: Path | None, out: Path | None) -> None:
    """Export links.csv for every record in the state, with current golden IDs."""
    import csv as _csv

    from resolver.state import export_links

    with _open_state(state_dir) as state:
        fh = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            w = _csv.writer(fh, lineterminator="\n")
            w.writerow(["dept", "record_id", "kind", "entity_id"])
            n = 0
            for row in export_links(state):
                w.writerow(row)
                n += 1
        finally:
            if out:
                fh.close()
    if out:
        click.echo(f"{n:,} records written to {out}")


@main.command("resolve-id")
@click.argument("entity_id")
@STATE_OPTION
def resolve_id(entity_id: str, state_dir: Path | None) -> None:
    """Print where a (possibly old) golden ID points now."""
    with _open_state(state_dir) as state:
        current, path = _resolve_or_fail(state, entity_id)
        status = state.entity_status(current)
    if len(path) > 1:
        click.echo(" -> ".join(path) + f"  ({status})")
    else:
        click.echo(f"{current}  ({status})")


@main.command("history")
@click.argument("entity_id")
@STATE_OPTION
def history_cmd(entity_id: str, state_dir: Path | None) -> None:
    """Show the create/merge/split/retire events of an entity (and of IDs merged into it)."""
    import json as _json

    with _open_state(state_dir) as state:
        current, path = _resolve_or_fail(state, entity_id)
        events = state.history(current)
    if len(path) > 1:
        click.echo(f"{entity_id} now resolves to {current} (" + " -> ".join(path) + ")")
    for e in events:
        click.echo(
            f"{e['at']}  {e['batch_id'] or '-':<24} {e['entity_id']}  {e['event']:<12} "
            f"{_json.dumps(e['detail'], ensure_ascii=False)}"
        )


@main.group()
def review() -> None:
    """Human review of uncertain pairs: list them, decide them, export and import decisions."""


@review.command("list")
@STATE_OPTION
@click.option("--kind", type=click.Choice(["enterprise", "person"]), default=None)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
def review_list(state_dir: Path | None, kind: str | None, limit: int) -> None:
    """Pairs in the review band, most likely matches first, with per-feature weights."""
    with _open_state(state_dir) as state:
        pairs = state.review_pairs(kind, limit)
    if not pairs:
        click.echo("no pairs awaiting review")
    for p in pairs:
        click.echo(
            f"{p['kind']}  {p['a_dept']}:{p['a_record']}  {p['b_dept']}:{p['b_record']}  "
            f"p={p['probability']:.3f}  {p['name_a']} | {p['name_b']}"
        )
        click.echo(
            "    "
            + ", ".join(
                f"{k} {v:+.2f}" if isinstance(v, float) else f"{k} -"
                for k, v in p["weights"].items()
            )
        )
        click.echo("    " + ", ".join(f"{k}: {v}" for k, v in p["comparison"].items()))


@review.command("decide")
@click.argument("record_a")
@click.argument("record_b")
@click.option(
    "--match/--no-match", "is_match", required=True, help="Same entity, or certainly not."
)
@click.option("--by", "by", required=True, help="Who decides (kept with the judgement).")
@click.option("--reason", default="", help="Why (kept with the judgement).")
@STATE_OPTION
def review_decide(
    record_a: str, record_b: str, is_match: bool, by: str, reason: str, state_dir: Path | None
) -> None:
    """Record a judgement between two records (DEPT:RECORD_ID); it wins in every later run."""
    from resolver.state import StateError

    a, b = _record_ref(record_a), _record_ref(record_b)
    with _open_state(state_dir) as state:
        try:
            with state.transaction():
                state.add_judgement(a, b, "match" if is_match else "no_match", by, reason)
        except StateError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"judgement stored: {record_a} {'=' if is_match else '≠'} {record_b} by {by}; "
        "it applies from the next `credgraph link` run on"
    )


@review.command("export")
@STATE_OPTION
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def review_export(state_dir: Path | None, out: Path) -> None:
    """Write every judgement to a CSV file (for bulk review or another state)."""
    import csv as _csv

    with _open_state(state_dir) as state:
        rows = state.judgements()
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = _csv.writer(fh, lineterminator="\n")
        w.writerow(["record_a", "record_b", "decision", "by", "at", "reason"])
        for j in rows:
            w.writerow(
                [f"{j.a[0]}:{j.a[1]}", f"{j.b[0]}:{j.b[1]}", j.decision, j.by, j.at, j.reason]
            )
    click.echo(f"{len(rows):,} judgements written to {out}")


@review.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@STATE_OPTION
def review_import(csv_file: Path, state_dir: Path | None) -> None:
    """Load judgements from a CSV file written by `review export` (or by hand, same columns)."""
    import csv as _csv

    from resolver.state import StateError

    with _open_state(state_dir) as state, csv_file.open(encoding="utf-8", newline="") as fh:
        rows = list(_csv.DictReader(fh))
        try:
            with state.transaction():
                for line, r in enumerate(rows, start=2):
                    try:
                        state.add_judgement(
                            _record_ref(r["record_a"]),
                            _record_ref(r["record_b"]),
                            r["decision"],
                            r["by"],
                            r.get("reason") or "",
                            r.get("at") or None,
                        )
                    except (StateError, KeyError, click.BadParameter) as exc:
                        raise click.ClickException(f"{csv_file} line {line}: {exc}") from exc
        except StateError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(rows):,} judgements imported")


def _graph_data_dir(data_dir: Path | None) -> Path:
    from platformdirs import user_data_dir

    return data_dir or Path(user_data_dir("credgraph")) / "graph"


def _graph_uri(uri: str | None) -> str:
    """--uri, else CREDGRAPH_GRAPH_URI, else the embedded server of the default data dir."""
    import os

    from graph import server

    if uri:
        return uri
    if os.environ.get("CREDGRAPH_GRAPH_URI"):
        return os.environ["CREDGRAPH_GRAPH_URI"]
    info = server.status(_graph_data_dir(None))
    if info is None:
        raise click.ClickException(
            "no graph URI: pass --uri, set CREDGRAPH_GRAPH_URI or run `credgraph graph start`"
        )
    return info.uri


@main.group()
def graph() -> None:
    """The embedded graph server (FalkorDB on 127.0.0.1) and read-only queries."""


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Server data directory (default: under the user data directory).",
)


@graph.command("start")
@DATA_DIR_OPTION
@click.option("--port", type=click.IntRange(1024, 65535), default=16379, show_default=True)
def graph_start(data_dir: Path | None, port: int) -> None:
    """Start the embedded graph server; prints the graph URI last."""
    from graph import server

    try:
        info = server.start(_graph_data_dir(data_dir), port)
    except server.ServerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"graph server running: pid {info.pid}, 127.0.0.1:{info.port}, data {info.data_dir}")
    click.echo(info.uri)


@graph.command("stop")
@DATA_DIR_OPTION
def graph_stop(data_dir: Path | None) -> None:
    """Stop the embedded graph server (it saves a snapshot first)."""
    from graph import server

    click.echo("stopped" if server.stop(_graph_data_dir(data_dir)) else "not running")


@graph.command("status")
@DATA_DIR_OPTION
def graph_status(data_dir: Path | None) -> None:
    """Is the embedded graph server running? Prints the graph URI last."""
    from graph import server

    info = server.status(_graph_data_dir(data_dir))
    if info is None:
        click.echo("not running")
        raise SystemExit(3)
    click.echo(f"running: pid {info.pid}, 127.0.0.1:{info.port}, data {info.data_dir}")
    click.echo(info.uri)


@graph.command("query")
@click.argument("cypher")
@click.option(
    "--param", "params", multiple=True, help="name=value (value parsed as JSON when it is JSON)."
)
@click.option(
    "--uri", default=None, help="Graph URI (default: CREDGRAPH_GRAPH_URI or the embedded server)."
)
def graph_query(cypher: str, params: tuple[str, ...], uri: str | None) -> None:
    """Run a read-only query and print the rows as JSON lines (writes are refused)."""
    import json as _json

    from graph.store import GraphStoreError, open_store

    values: dict[str, Any] = {}
    for p in params:
        name, sep, raw = p.partition("=")
        if not sep:
            raise click.BadParameter(f"{p!r}: write --param name=value")
        try:
            values[name] = _json.loads(raw)
        except _json.JSONDecodeError:
            values[name] = raw
    store = open_store(_graph_uri(uri))
    try:
        for row in store.read(cypher, values):
            click.echo(_json.dumps(row, ensure_ascii=False, default=str))
    except GraphStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--uri", default=None, help="Graph URI (default: CREDGRAPH_GRAPH_URI or the embedded server)."
)
@click.option("--batch-size", type=click.IntRange(1), default=5000, show_default=True)
def load(run_dir: Path, uri: str | None, batch_size: int) -> None:
    """Load a resolution run into the graph (idempotent, batched, resumable)."""
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from graph.load import load_run
    from graph.store import GraphStoreError, open_store

    store = open_store(_graph_uri(uri))
    try:
        with Progress(
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("loading", total=None)

            def progress(step: str, rows: int) -> None:
                bar.update(task, advance=rows, description=step)

            summary = load_run(store, run_dir, batch_size, progress)
    except GraphStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    total = sum(summary.rows.values())
    click.echo(
        f"loaded {total:,} rows in {summary.seconds:.1f} s ({total / max(summary.seconds, 1e-9):,.0f} rows/s); "
        f"{summary.steps_done} steps, {summary.steps_skipped} already done"
    )
    click.echo("nodes: " + ", ".join(f"{k} {v:,}" for k, v in summary.nodes.items()))
    click.echo(
        "relationships: " + ", ".join(f"{k} {v:,}" for k, v in summary.relationships.items())
    )


def _print_summary(s: dict[str, object], elapsed: float) -> None:
    out = Console(file=sys.stdout)
    rows = s["rows"]
    out.print(
        f"[bold]{rows:,} rows[/] in {s['files']} files from {s['departments']} departments "
        f"in {elapsed:.1f} s; population {s['population']}"
    )
    for title, key in (
        ("rows by kind", "rows_by_kind"),
        ("rows by format", "rows_by_format"),
        ("noise planted", "noise"),
        ("rows that must be rejected", "rejects"),
        ("tax anomalies planted", "tax_anomalies"),
    ):
        table = Table(title=title, title_justify="left")
        table.add_column("what")
        table.add_column("count", justify="right")
        data = s[key]
        assert isinstance(data, dict)
        for k, v in data.items():
            table.add_row(str(k), f"{v:,}")
        out.print(table)
    out.print(f"credit events planted: {s['credit_events']:,}")
    out.print(f"batch: {s['batch_dir']}\ntruth: {s['truth_dir']}")


if __name__ == "__main__":
    main()
