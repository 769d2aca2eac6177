"""What the command modules share: the console, common options, state and graph helpers."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


STATE_OPTION = click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Resolution state directory (default: the user data directory).",
)


def open_state(state_dir: Path | None) -> Any:
    from resolver.state.sealing import StateKeyError
    from resolver.state.store import State, StateError, default_state_dir

    path = state_dir or default_state_dir()
    if not (path / "state.db").exists():
        raise click.ClickException(
            f"no resolution state in {path}: run `credgraph link BATCH --state {path}` first"
        )
    try:
        return State(path)
    except (StateError, StateKeyError) as exc:
        raise click.ClickException(str(exc)) from exc


def resolve_or_fail(state: Any, entity_id: str) -> tuple[str, list[str]]:
    """Follow an ID's redirects, or fail with a clear message for an unknown ID."""
    from resolver.state.store import StateError

    try:
        current, path = state.resolve(entity_id)
    except StateError as exc:
        raise click.ClickException(str(exc)) from exc
    return current, path


def output_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Callback of an ``--out FILE`` option: its directory must exist (a one-line usage
    error, not a traceback once the work is done)."""
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"{value}: the directory {value.parent} does not exist")
    return value


def not_nan(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Callback of a float option: click's ranges let ``nan`` through (it compares false)."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("nan is not a number")
    return value


def printable(text: str) -> str:
    """Department data for the terminal: a control character is shown as its escape
    (``\\x1b``), never sent raw (it could clear or retitle the reviewer's terminal)."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text)


def plain_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Callback of a free-text option (who, why, a key's name): no control characters, which
    would be stored and later rewrite the terminal of whoever lists them."""
    bad = next((c for c in value or "" if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if bad is not None:
        raise click.BadParameter(f"holds the control character U+{ord(bad):04X}")
    return value


def record_ref(text: str) -> tuple[str, str]:
    dept, sep, rid = text.partition(":")
    if not sep or not dept or not rid:
        raise click.BadParameter(
            f"{text!r}: write a record as DEPT:RECORD_ID, e.g. AMR:AMR000001650"
        )
    return dept, rid


def graph_data_dir(data_dir: Path | None) -> Path:
    from platformdirs import user_data_dir

    return data_dir or Path(user_data_dir("credgraph")) / "graph"


def graph_uri(uri: str | None, data_dir: Path | None = None) -> str:
    """The graph URI (password inside, never to be printed) for --uri, else the embedded
    server of --data-dir, else CREDGRAPH_GRAPH_URI, else the default data directory's server;
    the password as :mod:`credgraph.graphconn` finds it. New commands use
    ``graphconn.graph_options`` and ``graphconn.open_graph`` instead."""
    from credgraph.graphconn import uri_with_password

    return uri_with_password(uri, data_dir)


def _counts(counts: object) -> str:
    """``{'enterprises': 2000, 'persons': 3000}`` as ``2,000 enterprises, 3,000 persons``."""
    assert isinstance(counts, dict)
    return ", ".join(f"{n:,} {what}" for what, n in counts.items())


def print_generate_summary(s: dict[str, object], elapsed: float) -> None:
    out = Console(file=sys.stdout)
    rows = s["rows"]
    out.print(
        f"[bold]{rows:,} rows[/] in {s['files']} files from {s['departments']} departments "
        f"in {elapsed:.1f} s; population: {_counts(s['population'])}"
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
