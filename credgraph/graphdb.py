"""The graph command group (embedded server, read-only queries) and `load`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from credgraph.common import console, graph_data_dir, graph_uri


@click.group()
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
        info = server.start(graph_data_dir(data_dir), port)
    except server.ServerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"graph server running: pid {info.pid}, 127.0.0.1:{info.port}, data {info.data_dir}")
    click.echo(info.uri)


@graph.command("stop")
@DATA_DIR_OPTION
def graph_stop(data_dir: Path | None) -> None:
    """Stop the embedded graph server (it saves a snapshot first)."""
    from graph import server

    click.echo("stopped" if server.stop(graph_data_dir(data_dir)) else "not running")


@graph.command("status")
@DATA_DIR_OPTION
def graph_status(data_dir: Path | None) -> None:
    """Is the embedded graph server running? Prints the graph URI last."""
    from graph import server

    info = server.status(graph_data_dir(data_dir))
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
    store = open_store(graph_uri(uri))
    try:
        for row in store.read(cypher, values):
            click.echo(_json.dumps(row, ensure_ascii=False, default=str))
    except GraphStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--uri", default=None, help="Graph URI (default: CREDGRAPH_GRAPH_URI or the embedded server)."
)
@click.option("--batch-size", type=click.IntRange(1), default=5000, show_default=True)
@click.option(
    "--bulk/--no-bulk",
    default=None,
    help="Bulk path (GRAPH.BULK) for an empty graph; default: bulk when the graph is empty.",
)
def load(run_dir: Path, uri: str | None, batch_size: int, bulk: bool | None) -> None:
    """Load a resolution run into the graph (idempotent, batched, resumable)."""
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from graph.load import load_run
    from graph.store import GraphStoreError, open_store
    from resolver.run_files import IncompleteRunError, verify

    try:
        verify(run_dir)  # an interrupted or tampered run is refused before anything is loaded
    except IncompleteRunError as exc:
        raise click.ClickException(str(exc)) from exc
    store = open_store(graph_uri(uri))
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

            summary = load_run(store, run_dir, batch_size, progress, bulk=bulk)
    except GraphStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    total = sum(summary.rows.values())
    click.echo(
        f"loaded {total:,} rows in {summary.seconds:.1f} s ({total / max(summary.seconds, 1e-9):,.0f} rows/s) "
        f"by the {summary.path} path; {summary.steps_done} steps, {summary.steps_skipped} already done"
    )
    click.echo("nodes: " + ", ".join(f"{k} {v:,}" for k, v in summary.nodes.items()))
    click.echo(
        "relationships: " + ", ".join(f"{k} {v:,}" for k, v in summary.relationships.items())
    )
    click.echo("rows of the run per relationship type (rows / written / skipped):")
    for rel, c in sorted(summary.counts.items()):
        skipped = sum(c.skipped.values())
        why = "; ".join(f"{n:,} {reason}" for reason, n in sorted(c.skipped.items()))
        click.echo(
            f"  {rel}: {c.rows:,} / {c.written:,} / {skipped:,}" + (f" ({why})" if why else "")
        )
    if summary.escaped:
        click.echo(
            f"warning: {summary.escaped:,} values held control characters, stored escaped as \\uXXXX"
        )


@graph.command("export-neo4j")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--database", default="neo4j", show_default=True)
def graph_export_neo4j(run_dir: Path, out: Path, database: str) -> None:
    """Write a run as CSV files for `neo4j-admin database import full` (initial loads)."""
    from graph.bulk import BulkError, export_neo4j
    from graph.load import read_run

    try:
        command, left = export_neo4j(read_run(run_dir), out, database)
    except BulkError as exc:
        raise click.ClickException(str(exc)) from exc
    n = sum(1 for _ in out.glob("*.csv"))
    click.echo(f"{n} CSV files in {out}; with Neo4j stopped, run there (or {out / 'import.sh'}):")
    click.echo(command)
    click.echo(
        "then `credgraph load RUN_DIR --uri neo4j://…` once (MERGE path: indexes"
        + (f", and {left:,} values whose type differs from their column" if left else "")
        + ")"
    )
