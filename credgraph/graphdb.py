"""The graph command group (embedded server, read-only queries) and `load`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from credgraph.common import console, graph_data_dir, plural
from credgraph.graphconn import OptionRefused, graph_options, open_graph, query_failed
from graph.server import DEFAULT_QUERY_MEMORY_MB, DEFAULT_QUERY_TIMEOUT_S

if TYPE_CHECKING:
    from graph.load import Early, RelKey, RunGraph
    from graph.tables import NodeTable, RelTable


@click.group()
def graph() -> None:
    """The embedded graph server (FalkorDB on 127.0.0.1), read-only queries, Neo4j import files."""


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Server data directory (default: under the user data directory).",
)


@graph.command("start")
@DATA_DIR_OPTION
@click.option(
    "--port",
    type=click.IntRange(1024, 65535),
    default=16379,
    show_default=True,
    help="Port on 127.0.0.1 the server listens on.",
)
@click.option(
    "--query-timeout",
    type=click.IntRange(1),
    default=DEFAULT_QUERY_TIMEOUT_S,
    show_default=True,
    help="Seconds a query may run before the server stops it.",
)
@click.option(
    "--query-memory",
    type=click.IntRange(16),
    default=DEFAULT_QUERY_MEMORY_MB,
    show_default=True,
    help="MB of memory one query may use.",
)
def graph_start(data_dir: Path | None, port: int, query_timeout: int, query_memory: int) -> None:
    """Start the embedded graph server; prints the graph URI (without password) last."""
    from click.core import ParameterSource

    from graph import server

    ctx = click.get_current_context()
    running = server.status(graph_data_dir(data_dir).resolve())
    if running is not None:
        given = [
            f"--{name.replace('_', '-')}"
            for name in ("port", "query_timeout", "query_memory")
            if ctx.get_parameter_source(name) != ParameterSource.DEFAULT
        ]
        moved = "--port" in given and port != running.port
        click.echo(
            f"a graph server already runs for this data directory: pid {running.pid}, "
            f"127.0.0.1:{running.port}"
            + (
                f"; {', '.join(given)} not applied"
                + (f" (port {port} asked, it keeps {running.port})" if moved else "")
                + ": `credgraph graph stop` first to restart it with them"
                if given
                else ""
            ),
            err=moved,
        )
    try:
        info = server.start(
            graph_data_dir(data_dir),
            port,
            limits=server.ServerLimits(query_timeout_s=query_timeout, query_memory_mb=query_memory),
        )
    except server.ServerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"graph server running: pid {info.pid}, 127.0.0.1:{info.port}, data {info.data_dir}")
    click.echo(f"password in {info.data_dir / 'password'} (graph commands read it via --data-dir)")
    click.echo(info.public_uri)


@graph.command("stop")
@DATA_DIR_OPTION
def graph_stop(data_dir: Path | None) -> None:
    """Stop the embedded graph server (it saves a snapshot first)."""
    from graph import server

    ddir = graph_data_dir(data_dir)
    if server.clear_stale(ddir):  # a pid file naming another process: never signalled
        click.echo("not running (stale pid file removed)")
    else:
        click.echo("stopped" if server.stop(ddir) else "not running")


@graph.command("status")
@DATA_DIR_OPTION
def graph_status(data_dir: Path | None) -> None:
    """Is the embedded graph server running? Prints the graph URI (without password) last."""
    from graph import server

    ddir = graph_data_dir(data_dir)
    info = server.status(ddir)
    if info is None:
        click.echo(
            "not running (stale pid file removed)" if server.clear_stale(ddir) else "not running"
        )
        others = server.running_data_dirs()[:3]
        if others:
            click.echo(
                f"no server in {ddir.resolve()}; servers run with --data-dir "
                + ", ".join(map(str, others))
            )
        raise SystemExit(3)
    click.echo(f"running: pid {info.pid}, 127.0.0.1:{info.port}, data {info.data_dir}")
    click.echo(info.public_uri)


@graph.command("query")
@click.argument("cypher")
@click.option("--param", "params", multiple=True, help="name=value; the value is a string.")
@click.option(
    "--param-json",
    "json_params",
    multiple=True,
    help='name=JSON for a typed value: --param-json n=5, --param-json ids=\'["a","b"]\'.',
)
@click.option("--jsonl", is_flag=True, help="Print rows as JSON lines instead of a table.")
@graph_options
def graph_query(
    cypher: str,
    params: tuple[str, ...],
    json_params: tuple[str, ...],
    jsonl: bool,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
) -> None:
    """Run a read-only query and print its rows (writes are refused)."""
    import json as _json

    from graph.store import GraphStoreError

    values: dict[str, Any] = {}
    for p in params:
        name, raw = _split_param(p, "--param")
        values[name] = raw
    for p in json_params:
        name, raw = _split_param(p, "--param-json")
        try:
            values[name] = _json.loads(raw)
        except _json.JSONDecodeError as exc:
            raise OptionRefused(
                f"--param-json {name}={raw!r} is not JSON ({exc.msg}); write strings with --param"
            ) from exc
    store = open_graph(uri, data_dir, password_file, require_graph=True)
    try:
        rows = store.read(cypher, values)
    except GraphStoreError as exc:
        raise query_failed(exc) from exc
    finally:
        store.close()
    if jsonl:
        for row in rows:
            click.echo(_json.dumps(row, ensure_ascii=False, default=str))
        console.print(plural(len(rows), "row"), highlight=False)
        return
    print_rows(rows)


def _split_param(text: str, option: str) -> tuple[str, str]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise OptionRefused(f"{option} {text!r}: write name=value")
    return name, raw


def print_rows(rows: list[dict[str, Any]]) -> None:
    """Rows as a table on standard output, then the row count (``0 rows`` when empty)."""
    import json as _json

    from rich.console import Console
    from rich.table import Table

    out = Console(soft_wrap=True)
    if rows:
        table = Table(show_lines=False)
        for name in rows[0]:
            table.add_column(str(name), overflow="fold")
        for row in rows:
            table.add_row(
                *(
                    v if isinstance(v, str) else _json.dumps(v, ensure_ascii=False, default=str)
                    for v in row.values()
                )
            )
        out.print(table)
    out.print(f"{len(rows):,} row" + ("" if len(rows) == 1 else "s"), highlight=False)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@graph_options
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=5000,
    show_default=True,
    help="Rows per write on the MERGE path; each is checkpointed, so an interrupted load resumes.",
)
@click.option(
    "--bulk/--no-bulk",
    default=None,
    help="--bulk: GRAPH.BULK, refused on a graph that is not empty; --no-bulk: the MERGE path. "
    "Default: bulk when the graph is empty.",
)
def load(
    run_dir: Path,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
    batch_size: int,
    bulk: bool | None,
) -> None:
    """Load a resolution run into the graph (idempotent, batched, resumable), then grade the
    enterprises whose credit events the run carries or re-wires.

    Into an empty FalkorDB graph: the bulk path (GRAPH.BULK), the grades written inside it;
    else the MERGE path, the grades written after it. Both give the same graph.

    The runs of a resolution state (`link --state`) go in batch order: each carries only what
    its batch changed. RUN_DIR may also be a state directory: the whole state is loaded as
    one run (into a graph that holds none of it, e.g. a new, empty one)."""
    with _run_of(run_dir) as run:
        _load(run, uri, data_dir, password_file, batch_size, bulk)


@contextmanager
def _run_of(path: Path) -> Iterator[Path]:
    """``path`` itself, or for a state directory its whole state exported as one run into
    a private directory beside it (removed afterwards; one left by a killed load is removed
    by the next)."""
    if not (path / "state.db").is_file():
        yield path
        return
    import shutil
    import sqlite3

    from resolver.state.graphsync import export_run
    from resolver.state.run_files import owned_temp_dir
    from resolver.state.sealing import StateKeyError
    from resolver.state.store import StateError

    scratch = owned_temp_dir(path, ".credgraph-export-")
    try:
        click.echo(f"{path} is a resolution state: exporting it as one run", err=True)
        try:
            export_run(path, scratch / "run")
        except (StateError, StateKeyError) as exc:
            # (most of these name their file already: the path once)
            said = str(exc)
            raise click.ClickException(
                said if said.startswith(str(path)) else f"{path}: {said}"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise click.ClickException(
                f"{path / 'state.db'} is not a readable resolution state ({exc})"
            ) from exc
        yield scratch / "run"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _load(
    run_dir: Path,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
    batch_size: int,
    bulk: bool | None,
) -> None:
    """The `load` command on a run directory."""
    import time

    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from graph.load import EarlyStart, load_run
    from graph.store import GraphStoreError
    from resolver.gcpause import free_with_process, no_collection_at_exit

    no_collection_at_exit()
    with Progress(
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading the run", total=None)
        started = time.perf_counter()
        # the server builds golden.jsonl's and the links' tables while the rest of the
        # run is read (graph/load.py EarlyStart); anything amiss there (no server, a graph
        # that is not empty) leaves it all to the load below, which says what is wrong
        start = EarlyStart(
            lambda: open_graph(uri, data_dir, password_file, require_graph=False),
            run_dir,
            bulk,
            lenient=True,
        )
        try:
            # an interrupted or tampered run is refused, the graph left as it was
            tables = _read_verified(run_dir, start)
        except BaseException:
            start.abort()
            if start.store is not None:
                start.store.close()
            raise
        read_seconds = time.perf_counter() - started
        store = start.store or open_graph(uri, data_dir, password_file, require_graph=False)
        try:
            if not (run_dir / "changes.json").exists() and (held := _held_state_batch(store)):
                console.print(
                    f"warning: {run_dir} is a one-shot run (--no-state: content-derived IDs) "
                    f"and the graph holds the runs of a resolution state (up to batch {held}): "
                    "each entity the two share stands in it twice, under both IDs; link the "
                    "batch with that --state, or load the run into a graph of its own",
                    markup=False,
                    highlight=False,
                )
            bar.update(task, description="loading")

            def progress(step: str, rows: int) -> None:
                bar.update(task, advance=rows, description=step)

            grades = _GradesInBulk()
            summary = load_run(
                store,
                run_dir,
                batch_size,
                progress,
                bulk=bulk,
                tables=tables,
                early=start.bulk_load,
                derived=grades,
            )
            free_with_process(tables)  # (millions of strings: freed with the process)
            del tables
            summary.seconds += read_seconds
            if summary.derived:  # graded from the run's tables, written with it
                graded, stored = len(summary.credit_subjects), grades.stored
            else:
                from credit.service import refresh_grades

                bar.update(task, description="grading")
                graded, stored = refresh_grades(store, uids=summary.credit_subjects)
        except GraphStoreError as exc:
            raise query_failed(exc) from exc
        finally:
            store.close()
    # the run's nodes and relationships (not the MERGE path's detach / unlink / clean-up
    # steps), so both paths print the same count for one run
    total = sum(n for step, n in summary.rows.items() if step.startswith(("nodes:", "rels:")))
    how = (
        "by the bulk path (GRAPH.BULK into the empty graph)"
        if summary.path == "bulk"
        else f"by the MERGE path; {plural(summary.steps_done, 'step')}, "
        f"{summary.steps_skipped:,} already done"
    )
    click.echo(
        f"loaded {plural(total, 'row')} in {summary.seconds:.1f} s "
        f"({total / max(summary.seconds, 1e-9):,.0f} rows/s) {how}"
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
    click.echo(
        f"grades: {graded:,} enterprises whose credit events the run carries or re-wires "
        f"recomputed; {stored:,} new grades kept in the history"
    )
    if summary.escaped:
        click.echo(
            f"warning: {summary.escaped:,} values held control characters, stored escaped as \\uXXXX"
        )


def _held_state_batch(store: Any) -> str | None:
    """The batch of a resolution state whose runs the graph holds, if it holds any."""
    from graph import queries
    from graph.store import GraphStoreError

    try:
        rows = store.read(queries.ANY_LOADED_STATE)
    except GraphStoreError as exc:
        if "empty key" in str(exc):  # FalkorDB: the graph does not exist yet
            return None
        raise
    return str(rows[0]["batch"]) if rows else None


class _GradesInBulk:
    """``load_run``'s ``derived`` for `load`: into an empty graph, the grades the
    re-grading after a load would store (there is no history to compare with), computed
    from the run's tables and sent with them in the same GRAPH.BULK."""

    def __init__(self) -> None:
        self.stored = 0

    def __call__(self, run: RunGraph) -> tuple[dict[str, NodeTable], dict[RelKey, RelTable]]:
        from credit.service import grades_of_new_graph
        from graph.load import enterprise_credit_events

        nodes, rels = grades_of_new_graph(enterprise_credit_events(run))
        self.stored = len(nodes)
        if not nodes:
            return {}, {}
        return {"Grade": nodes}, {("GRADED", "Enterprise", "Grade"): rels}


def _read_verified(run_dir: Path, early: Early | None = None) -> RunGraph:
    """The run's tables, its checksums verified beside the reading (hashing releases the
    GIL): an incomplete or changed run is refused, also when it could not be read."""
    from graph.load import RunFileError, read_run
    from resolver.state.run_files import IncompleteRunError, verify

    try:
        return read_run(run_dir, check=lambda: verify(run_dir), early=early)
    except RunFileError as exc:
        raise click.ClickException(f"{run_dir}: {exc}") from exc
    except IncompleteRunError as exc:
        raise click.ClickException(str(exc)) from exc


@graph.command("export-neo4j")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the CSV files and import.sh.",
)
@click.option(
    "--database", default="neo4j", show_default=True, help="Neo4j database to import into."
)
def graph_export_neo4j(run_dir: Path, out: Path, database: str) -> None:
    """Write a run as CSV files for `neo4j-admin database import full` (initial loads)."""
    from graph.bulk import BulkError, export_neo4j

    # as `load`: an interrupted or changed run is refused before anything is written
    tables = _read_verified(run_dir)
    try:
        command, left = export_neo4j(tables, out, database)
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
