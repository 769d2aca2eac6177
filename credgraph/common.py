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


def no_state_text(path: Path) -> str:
    """Why PATH is no resolution state, and what to do (a run directory given by mistake is
    named as one: linking a batch into it would not help)."""
    if (path / "run.json").is_file():
        return (
            f"{path} is a run directory (it holds run.json), not a resolution state: "
            "pass the --state directory the run was linked with"
        )
    return f"no resolution state in {path}: run `credgraph link BATCH --state {path}` first"


def open_state(state_dir: Path | None) -> Any:
    from resolver.state.sealing import StateKeyError
    from resolver.state.store import State, StateError, default_state_dir

    path = state_dir or default_state_dir()
    if not (path / "state.db").exists():
        raise click.ClickException(no_state_text(path))
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


def _control_character(text: str) -> str | None:
    return next((c for c in text if ord(c) < 32 or 127 <= ord(c) < 160), None)


def plain_text(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Callback of a free-text or identifier option or argument (who, why, a key's name, an
    entity ID, DEPT:RECORD_ID; one value or several): no control characters, which would be
    stored, or echoed in an error, and rewrite the terminal of whoever reads them."""
    for text in value if isinstance(value, tuple) else (value,):
        bad = _control_character(text or "")
        if bad is not None:
            raise click.BadParameter(f"holds the control character U+{ord(bad):04X}")
    return value


def department_code_problem(code: str) -> str | None:
    """Why ``code`` is not a department code, or None: the manifest's own rule
    (:func:`resolver.ingest.manifest.department_code_problem`)."""
    from resolver.ingest.manifest import department_code_problem as problem

    return problem(code)


def _char_name(c: str) -> str:
    return f"the control character U+{ord(c):04X}"


def department_code(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Callback of a ``--dept`` option: a department code, refused with the reason."""
    problem = None if value is None else department_code_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


def record_ref(text: str) -> tuple[str, str]:
    dept, sep, rid = text.partition(":")
    if not sep or not dept or not rid:
        raise click.BadParameter(
            f"{text!r}: write a record as DEPT:RECORD_ID, e.g. AMR:AMR000001650"
        )
    problem = department_code_problem(dept)
    if problem:
        raise click.BadParameter(f"{problem} (write a record as DEPT:RECORD_ID)")
    bad = _control_character(rid)
    if bad is not None:
        raise click.BadParameter(f"record ID {rid!r} holds {_char_name(bad)}")
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


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 file``, ``2 files``, ``1,000 entities`` (``many``: an irregular plural)."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"


def _counts(counts: object) -> str:
    """``{'enterprises': 2000, 'persons': 3000}`` as ``2,000 enterprises, 3,000 persons``."""
    assert isinstance(counts, dict)
    one = {"enterprises": "enterprise", "persons": "person", "branches": "branch"}
    return ", ".join(
        f"{n:,} {one.get(what, what) if n == 1 else what}" for what, n in counts.items()
    )


#: Planted rows that repeat a record (or a header) rather than carry one of their own: the
#: generator counts records, `check` reads these as rows too.
REPEATED_ROWS = ("duplicate_row", "superseded", "repeated_header")


def print_generate_summary(s: dict[str, object], elapsed: float) -> None:
    out = Console(file=sys.stdout)
    rows, files, depts = s["rows"], s["files"], s["departments"]
    assert isinstance(rows, int) and isinstance(files, int) and isinstance(depts, int)
    out.print(
        f"[bold]{plural(rows, 'row')}[/] in {plural(files, 'file')} from "
        f"{plural(depts, 'department')} "
        f"in {elapsed:.1f} s; population: {_counts(s['population'])}",
        soft_wrap=True,  # one line, not broken at 80 columns when piped
    )
    rejects = s["rejects"]
    assert isinstance(rejects, dict)
    # rows written beside the records: what `check` reads more than the line above says
    repeats = {k: rejects[k] for k in REPEATED_ROWS if rejects.get(k)}
    if repeats:
        out.print(
            f"  + {plural(sum(repeats.values()), 'planted repeat')} ({_counts(repeats)}): "
            f"`check` reads {rows + sum(repeats.values()):,} rows",
            soft_wrap=True,
        )
    for title, key in (
        ("rows by kind", "rows_by_kind"),
        ("rows by format", "rows_by_format"),
        ("noise planted", "noise"),
        ("rows that must be rejected", "rejects"),
        ("tax anomalies planted", "tax_anomalies"),
    ):
        table = Table(title=title, title_justify="left", min_width=len(title))
        table.add_column("what")
        table.add_column("count", justify="right")
        data = s[key]
        assert isinstance(data, dict)
        for k, v in data.items():
            table.add_row(str(k), f"{v:,}")
        out.print(table)
    out.print(f"credit events planted: {s['credit_events']:,}")
    out.print(f"batch: {s['batch_dir']}\ntruth: {s['truth_dir']}")
