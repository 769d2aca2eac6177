"""The credit command group: profiles, joint-supervision lists, the procurement check, grades."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from credgraph.common import console, department_code, output_file, plain_text, plural
from credgraph.graphconn import graph_options, open_graph, query_failed
from resolver.csvsafe import safe_writer

AS_OF_OPTION = click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Day to evaluate (YYYY-MM-DD; default today).",
)
CHECK_COLUMNS = (
    "input",
    "entity_id",
    "name",
    "match",
    "hit",
    "list_types",
    "measures",
    "candidates",
    "note",
)


@click.group()
def credit() -> None:
    """Credit profiles, grades, joint-supervision lists and the procurement check."""


@contextmanager
def _store(uri: str | None, data_dir: Path | None, password_file: Path | None) -> Iterator[Any]:
    """The graph for a command's options; graph and credit errors as one-line messages."""
    from credit.service import CreditError
    from graph.store import GraphStoreError

    store = open_graph(uri, data_dir, password_file)
    try:
        yield store
    except GraphStoreError as exc:
        raise query_failed(exc) from exc
    except CreditError as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    finally:
        store.close()


def _day(as_of: dt.datetime | None) -> dt.date | None:
    return as_of.date() if as_of else None


def _out() -> Console:
    return Console(file=sys.stdout, width=max(Console(file=sys.stdout).width, 120))


@credit.command("profile")
@click.argument("key", callback=plain_text)
@AS_OF_OPTION
@graph_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def profile_cmd(
    key: str,
    as_of: dt.datetime | None,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
    fmt: str,
) -> None:
    """Credit profile of an enterprise (golden ID, USCC or name) or a person (restricted)."""
    from credit.service import credit_profile

    with _store(uri, data_dir, password_file) as store:
        p = credit_profile(store, key, _day(as_of))
    if fmt == "json":
        click.echo(json.dumps(p.as_dict(), ensure_ascii=False, indent=2))
        return
    out = _out()
    title = f"[bold]{p.name}[/]  {p.entity_id}  ({p.entity_type}, as of {p.as_of})"
    if p.redirected_from:
        title += f"  [dim]merged from {p.redirected_from}[/]"
    out.print(title)
    reg = Table(show_header=False, box=None)
    for k, v in p.registration.items():
        if v is not None:
            reg.add_row(k, _fact(v))
    out.print(reg)
    if p.grade:
        g = p.grade
        out.print(f"\n[bold]grade {g.grade}[/]  score {g.score:g}  (scorecard {g.scorecard})")
        t = Table("points", "why")
        for line in g.lines:
            t.add_row(f"{line.points:+g}", line.reason)
        out.print(t)
    t = Table(
        "list",
        "kind",
        "basis",
        "from",
        "until",
        "via",
        "measures",
        title="list memberships",
        title_justify="left",
    )
    for m in p.lists:
        t.add_row(
            m.list_type,
            m.kind,
            m.basis_decision or m.basis_event,
            str(m.start),
            str(m.until or ""),
            m.via or "",
            "\n".join(f"{d}: {x}" for d, x in m.measures),
        )
    out.print(t if p.lists else "no list memberships")
    t = Table(
        "date",
        "event",
        "dept",
        "decision",
        "class",
        "status",
        "until",
        "rule",
        title="credit events",
        title_justify="left",
    )
    for e in p.events:
        t.add_row(
            str(e.date or "?"),
            e.event_type,
            e.dept,
            e.decision_no or e.record_id,
            e.severity or "",
            e.status,
            str(e.until or ""),
            e.rule,
        )
    out.print(t if p.events else "no credit events")
    t = Table(
        "relation",
        "ID",
        "name",
        "role",
        "from",
        "to",
        "share",
        title="relations",
        title_justify="left",
    )
    for r in p.relations:
        t.add_row(
            r.kind,
            r.uid,
            r.name or "",
            r.role or "",
            str(r.start or ""),
            str(r.end or ""),
            f"{r.ratio:.2%}" if r.ratio is not None else "",
        )
    out.print(t)


@credit.command("lists")
@click.option(
    "--dept",
    required=True,
    callback=department_code,
    help="Implementing department code (AMR, FIN, PRT, TRANS…).",
)
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Day (default today).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@graph_options
def lists_cmd(
    dept: str,
    day: dt.datetime | None,
    fmt: str,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
) -> None:
    """Every entity DEPT must apply joint measures to on a day, with basis and period."""
    from credit.service import joint_supervision_list

    with _store(uri, data_dir, password_file) as store:
        entries = joint_supervision_list(store, dept.upper(), _day(day))
    rows = [e.as_dict() for e in entries]
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    cols = [
        "dept",
        "entity_id",
        "entity_type",
        "name",
        "list_type",
        "kind",
        "measure",
        "basis_decisions",
        "from",
        "until",
        "via",
    ]
    if fmt == "csv":
        buf = io.StringIO()
        w = safe_writer(buf)
        w.writerow(cols)
        for r in rows:
            w.writerow(
                [
                    "; ".join(r[c]) if isinstance(r[c], list) else ("" if r[c] is None else r[c])
                    for c in cols
                ]
            )
        click.echo(buf.getvalue(), nl=False)
        return
    out = _out()
    t = Table(
        *cols[1:],
        title=f"{dept.upper()}: {plural(len(rows), 'measure')} to apply",
        title_justify="left",
    )
    for r in rows:
        t.add_row(
            *("; ".join(r[c]) if isinstance(r[c], list) else str(r[c] or "") for c in cols[1:])
        )
    out.print(t)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, "utf-8")
        console.print(f"written to {out}")


def _fact(value: Any) -> str:
    """A registration fact for the terminal: yes/no, amounts with separators, text as is."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


#: The longest line `credit check` takes: longer than any enterprise name or identifier.
MAX_INPUT = 200


def _read_inputs(path: Path) -> list[str]:
    data = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise click.ClickException(f"{path}: neither UTF-8 nor GB18030")
    inputs = []
    for n, line in enumerate(text.splitlines(), start=1):
        if len(line.strip()) > MAX_INPUT:
            raise click.ClickException(
                f"{path} line {n}: {len(line.strip()):,} characters is neither a USCC nor a "
                f"name (at most {MAX_INPUT}); write one USCC or name a line"
            )
        if line.strip():
            inputs.append(line.strip())
    if not inputs:
        raise click.ClickException(f"{path}: no USCC or name to check (write one a line)")
    return inputs


@credit.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@AS_OF_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_file,
    default=None,
    help="Write the csv/json result to this file instead of standard output.",
)
@graph_options
def check_cmd(
    file: Path,
    as_of: dt.datetime | None,
    fmt: str,
    out: Path | None,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
) -> None:
    """Check suppliers/bidders (one USCC or name a line) against the lists: one result a line."""
    from credit.service import credit_check

    inputs = _read_inputs(file)
    with (
        _store(uri, data_dir, password_file) as store,
        console.status(f"checking {len(inputs):,} lines"),
    ):
        results = credit_check(store, inputs, _day(as_of))
    rows = [r.as_dict() for r in results]
    if fmt == "json":
        _emit(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", out)
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = safe_writer(buf)
        w.writerow(CHECK_COLUMNS)
        for r in rows:
            w.writerow(
                [
                    "yes"
                    if c == "hit" and r[c]
                    else "no"
                    if c == "hit"
                    else "; ".join(r[c])
                    if isinstance(r[c], list)
                    else ("" if r[c] is None else r[c])
                    for c in CHECK_COLUMNS
                ]
            )
        _emit(buf.getvalue(), out)
        return
    term = _out()
    hits = sum(1 for r in results if r.hit)
    t = Table(
        "#",
        "input",
        "entity",
        "name",
        "match",
        "hit",
        "lists",
        "measures",
        title=f"{len(rows):,} checked, {plural(hits, 'hit')}",
        title_justify="left",
    )
    for res in results:
        t.add_row(
            str(res.line),
            res.input,
            res.entity_id or "",
            res.name or ", ".join(res.candidates[:3]),
            res.match,
            "[bold red]yes[/]" if res.hit else "no",
            "\n".join(res.list_types),
            "\n".join(res.measures),
        )
    term.print(t)


@credit.command("grade")
@click.argument("key", required=False, callback=plain_text)
@AS_OF_OPTION
@click.option(
    "--refresh",
    is_flag=True,
    help="Recompute every current enterprise's grade (without credit events: the "
    "scorecard's base grade) and keep changes in the graph's history.",
)
@graph_options
def grade_cmd(
    key: str | None,
    as_of: dt.datetime | None,
    refresh: bool,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
) -> None:
    """An enterprise's grade with its explanation and history; --refresh regrades all."""
    from credit.service import credit_grade, refresh_grades

    if not key and not refresh:
        raise click.UsageError("give an enterprise KEY, or --refresh")
    with _store(uri, data_dir, password_file) as store:
        if refresh:
            graded, stored = refresh_grades(store, _day(as_of))
            click.echo(
                f"graded {plural(graded, 'enterprise')}; {plural(stored, 'new grade')} kept in "
                "the history"
            )
        if not key:
            return
        res = credit_grade(store, key, _day(as_of))
    out = _out()
    g = res.current
    out.print(f"[bold]{res.entity_id}: grade {g.grade}[/], score {g.score:g} (as of {g.as_of})")
    t = Table("points", "why")
    for line in g.lines:
        t.add_row(f"{line.points:+g}", line.reason)
    out.print(t)
    if res.history:
        h = Table("as of", "grade", "score", "computed", title="history", title_justify="left")
        for row in res.history:
            h.add_row(
                str(row["as_of"]), str(row["grade"]), f"{row['score']:g}", str(row["computed_at"])
            )
        out.print(h)
