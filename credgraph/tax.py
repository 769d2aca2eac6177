"""``credgraph tax …``: run the tax-coordination rules, list findings, move them through the
workflow, and summarise (the same functions the API calls, in ``tax.service``)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from credgraph.common import console, plain_text, plural
from credgraph.graphconn import graph_options, uri_with_password
from resolver.csvsafe import safe_writer

#: tax.findings.STATUSES, written out so that the CLI starts without the tax engine (a test
#: keeps the two equal).
STATUSES = ("open", "assigned", "under_review", "confirmed", "dismissed")


def _store(uri: str | None, data_dir: Path | None, password_file: Path | None) -> Any:
    from graph.store import GraphStoreError, open_store

    target = uri_with_password(uri, data_dir, password_file)
    try:
        return open_store(target)
    except GraphStoreError as exc:
        raise click.ClickException(f"graph: {exc}") from exc
    except Exception as exc:  # the client's own connection errors (redis, neo4j, OS)
        raise click.ClickException(f"graph: cannot connect to the graph ({exc})") from exc


def _graph_errors(fn: Callable[..., None]) -> Callable[..., None]:
    """A graph that cannot be reached or refuses a query is a one-line error, not a trace."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from graph.store import GraphStoreError

        try:
            fn(*args, **kwargs)
        except GraphStoreError as exc:
            raise click.ClickException(f"graph: {exc}") from exc

    return wrapper


def _one_quarter(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A findings filter names one quarter as findings do (2026Q3)."""
    from tax.periods import PeriodError, parse_period

    if value is None:
        return None
    try:
        quarters = parse_period(value)
    except PeriodError as exc:
        raise click.BadParameter(str(exc)) from exc
    if len(quarters) != 1:
        raise click.BadParameter(f"{value!r}: findings are per quarter; write one like {value}Q3")
    return quarters[0].label


def _amount(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A recovered amount is refused before the graph is opened, as the workflow refuses it."""
    from tax.workflow import WorkflowError, check_amount

    if value is not None:
        try:
            check_amount(value)
        except WorkflowError as exc:
            raise click.BadParameter(str(exc)) from exc
    return value


@click.group("tax")
def tax() -> None:
    """Tax coordination (综合治税): rules, findings and their workflow."""


@tax.command("run")
@click.option("--period", "periods", multiple=True, help="A quarter (2026Q3) or a year (2026).")
@click.option("--from", "start", default=None, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", default=None, help="Last day (YYYY-MM-DD).")
@click.option(
    "--rule", "rules", multiple=True, callback=plain_text, help="Only these rules (default: all)."
)
@graph_options
@_graph_errors
def run_cmd(
    periods: tuple[str, ...],
    start: str | None,
    end: str | None,
    rules: tuple[str, ...],
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
) -> None:
    """Evaluate the rules for whole quarters and store the findings (re-running is safe)."""
    from rich.progress import Progress

    from tax import service
    from tax.catalog import CatalogError
    from tax.periods import PeriodError, parse_date, parse_period, quarters_between

    try:
        if periods and (start or end):
            raise PeriodError("give --period or --from/--to, not both")
        if periods:
            quarters = sorted({q for p in periods for q in parse_period(p)})
        elif start and end:
            quarters = quarters_between(parse_date(start, "--from"), parse_date(end, "--to"))
        else:
            raise PeriodError("give --period 2026Q3 (or a year), or --from and --to dates")
    except PeriodError as exc:
        raise click.ClickException(str(exc)) from exc
    except (ValueError, OverflowError) as exc:  # a quarter past 9999-12-31
        raise click.ClickException(
            f"--to {end}: the last quarter must end by 9999-12-31 ({exc})"
        ) from exc
    store = _store(uri, data_dir, password_file)
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("tax rules", total=None)

            def step(name: str, n: int) -> None:
                bar.update(task, description=f"tax rules: {name}", advance=1)

            report = service.run(store, quarters, list(rules) or None, progress=step)
    except (CatalogError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    table = Table(title=f"tax run {', '.join(report.periods)}")
    table.add_column("rule")
    table.add_column("findings", justify="right")
    for rule, n in report.by_rule.items():
        table.add_row(rule, str(n))
    console.print(table)
    s = report.saved
    console.print(
        f"{s.created} new, {s.unchanged} unchanged, {s.flagged} flagged for re-review "
        f"(evidence changed), {s.no_longer_firing} no longer firing; "
        f"{plural(report.records_read, 'record')} read in {report.seconds_export:.1f} s, "
        f"rules {report.seconds_rules:.1f} s, store {report.seconds_store:.1f} s",
        soft_wrap=True,  # one line, not broken at 80 columns when piped
    )


@tax.command("findings")
@click.option("--rule", default=None, callback=plain_text, help="Only this rule (T07).")
@click.option(
    "--status", type=click.Choice(STATUSES), default=None, help="Only findings in this status."
)
@click.option("--period", default=None, callback=_one_quarter, help="A quarter (2026Q3).")
@click.option("--entity", default=None, callback=plain_text, help="A golden entity ID.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@graph_options
@_graph_errors
def findings_cmd(
    rule: str | None,
    status: str | None,
    period: str | None,
    entity: str | None,
    fmt: str,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
) -> None:
    """List findings (CSV/JSON to stdout; JSON includes evidence and history)."""
    from tax import service

    store = _store(uri, data_dir, password_file)
    try:
        found = service.list_findings(store, rule=rule, status=status, period=period, entity=entity)
    finally:
        store.close()
    if fmt == "json":
        for f in found:
            sys.stdout.write(json.dumps(f.as_dict(), ensure_ascii=False) + "\n")
        return
    rows = [f.as_row() for f in found]
    if fmt == "csv":
        from tax.findings import Finding

        header = list(Finding.CSV_COLUMNS)
        w = safe_writer(sys.stdout)
        w.writerow(header)
        w.writerows([r[c] for c in header] for r in rows)
        return
    table = Table(title=plural(len(rows), "finding"))
    cols = ("finding_id", "uscc", "entity_name", "estimated_gap", "status", "review_flag")
    for col in cols:
        # the finding ID is what `tax set-status` takes: never cut, whatever the width
        table.add_column(
            col,
            justify="right" if col == "estimated_gap" else "left",
            no_wrap=col == "finding_id",
            min_width=max((len(r["finding_id"]) for r in rows), default=10)
            if col == "finding_id"
            else None,
        )
    for r in rows:
        table.add_row(*(str(r[c]) for c in cols))
    console.print(table)


@tax.command("set-status")
@click.argument("finding_id", callback=plain_text)
@click.argument("status", callback=plain_text)
@click.option("--by", "by", required=True, callback=plain_text, help="Who makes the change.")
@click.option(
    "--amount",
    type=float,
    default=None,
    callback=_amount,
    help="Recovered amount in 元 (confirmed).",
)
@click.option("--reason", default=None, callback=plain_text, help="Why (dismissed).")
@click.option(
    "--officer", default=None, callback=plain_text, help="Assignee (assigned; default: --by)."
)
@graph_options
@_graph_errors
def set_status_cmd(
    finding_id: str,
    status: str,
    by: str,
    amount: float | None,
    reason: str | None,
    officer: str | None,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
) -> None:
    """Move a finding: open → assigned → under_review → confirmed | dismissed."""
    from tax import service

    store = _store(uri, data_dir, password_file)
    try:
        f = service.set_status(store, finding_id, status, by, amount, reason, officer)
    except service.WorkflowError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    console.print(f"{f.finding_id}: {f.status} (by {by})")


@tax.command("summary")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@graph_options
@_graph_errors
def summary_cmd(
    fmt: str, uri: str | None, data_dir: Path | None, password_file: Path | None
) -> None:
    """Counts and estimated / recovered amounts by rule, department, region and period."""
    from tax import service

    store = _store(uri, data_dir, password_file)
    try:
        rows = [r.as_dict() for r in service.summary(store)]
    finally:
        store.close()
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    if fmt == "csv":
        header = list(rows[0]) if rows else ["dimension", "key", "findings"]
        w = safe_writer(sys.stdout)
        w.writerow(header)
        w.writerows([r[c] for c in header] for r in rows)
        return
    table = Table(title="tax findings summary")
    for col in ("dimension", "key", "findings", "estimated_gap", "recovered", "open", "confirmed"):
        table.add_column(col, justify="left" if col in ("dimension", "key") else "right")
    for r in rows:
        table.add_row(
            str(r["dimension"]),
            str(r["key"]),
            str(r["findings"]),
            f"{r['estimated_gap']:,.2f}",
            f"{r['recovered']:,.2f}",
            str(r["open"]),
            str(r["confirmed"]),
        )
    console.print(table)
