"""``credgraph show KEY``: one golden entity as the graph knows it, without Cypher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from credgraph.common import STATE_OPTION, no_state_text, plain_text
from credgraph.graphconn import graph_options, open_graph, query_failed


@click.command("show")
@click.argument("key", callback=plain_text)
@graph_options
@STATE_OPTION
@click.option(
    "--pick", type=click.IntRange(1), default=None, help="Show hit N of a name-fragment list."
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=200,
    show_default=True,
    help="At most this many rows in each list of the view (member records, officers, …).",
)
def show(
    key: str,
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
    state_dir: Path | None,
    pick: int | None,
    limit: int,
) -> None:
    """Show an entity: KEY is a golden ID, USCC, organisation code, registration number,
    ID number, DEPT:RECORD_ID or part of a name (several hits print a numbered list)."""
    from graph.lookup import LookupFailed, NotFound, entity_view, key_needs_salt, resolve_key
    from graph.store import GraphStoreError

    salt = _id_salt(state_dir) if key_needs_salt(key) else None
    store = open_graph(uri, data_dir, password_file, require_graph=True)
    try:
        res = resolve_key(store, key, salt=salt, limit=10)
        uid = res.uid
        if uid is None and pick is not None:
            if pick > len(res.candidates):
                raise click.ClickException(
                    f"--pick {pick}: {key!r} has only {len(res.candidates)} hits"
                )
            uid = res.candidates[pick - 1].uid
        if uid is None:
            _print_candidates(key, res.candidates, res.total)
            return
        view = entity_view(store, uid, limit=limit)
    except LookupFailed as exc:
        hint = (
            ": give the state the loaded run was linked with (--state STATE_DIR)"
            if isinstance(exc, NotFound) and salt is not None and state_dir is None
            else ""
        )
        raise click.ClickException(str(exc) + hint) from exc
    except GraphStoreError as exc:
        raise query_failed(exc) from exc
    finally:
        store.close()
    history = _state_history(state_dir, view.uid)
    _print_view(view, res.redirects, history)


def _out() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    return console


def _state(state_dir: Path | None) -> Any:
    """The resolution state when there is one (never created here)."""
    from resolver.state.sealing import StateKeyError
    from resolver.state.store import State, StateError, default_state_dir

    path = state_dir or default_state_dir()
    if not (path / "state.db").exists():
        if state_dir is not None:
            raise click.ClickException(no_state_text(state_dir))
        return None
    try:
        return State(path)
    except (StateError, StateKeyError) as exc:
        if state_dir is not None:
            raise click.ClickException(str(exc)) from exc
        return None  # the default state is only used when it can be opened


def _id_salt(state_dir: Path | None) -> str:
    """The salt ID numbers were hashed with: the state's, else that of one-shot runs."""
    state = _state(state_dir)
    if state is not None:
        with state:
            return str(state.salt)  # kept sealed in the state (resolver/state/sealing.py)
    from resolver.state.sealing import installation_salt

    return installation_salt()


def _state_history(state_dir: Path | None, uid: str) -> list[dict[str, Any]]:
    state = _state(state_dir)
    if state is None:
        return []
    with state:
        if state.entity_status(uid) is None:
            return []
        events: list[dict[str, Any]] = state.history(uid)
        return events


def _print_candidates(key: str, cands: tuple[Any, ...], total: int | None = None) -> None:
    out = _out()
    total = max(total or 0, len(cands))
    shown = (
        f" ({len(cands)} of {total:,} shown; a longer fragment narrows it)"
        if total > len(cands)
        else ""
    )
    out.print(
        f"{key!r} matches {total:,} entities{shown}; show one with `credgraph show ID` "
        f"or `credgraph show {key} --pick N`:"
    )
    for i, c in enumerate(cands, 1):
        out.print(f"{i:>3}. {c.uid}  {c.name or '-'}  ({c.label.lower()}, {c.match})")


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _print_view(view: Any, redirects: tuple[str, ...], history: list[dict[str, Any]]) -> None:
    out = _out()
    path = redirects or view.redirects
    if path:
        out.print(f"{path[0]} was merged: now {' -> '.join(path)}")
    state = ", ".join(
        x
        for x in (
            f"lifecycle {view.lifecycle}" if view.lifecycle else "",
            f"registration status {view.registration_status}" if view.registration_status else "",
        )
        if x
    )
    out.print(f"[bold]{view.name or '-'}[/]  {view.uid}  ({view.label.lower()}; {state or '-'})")
    facts = Table(title="registration facts", title_justify="left", show_header=False)
    facts.add_column("field")
    facts.add_column("value")
    for k, v in view.facts.items():
        facts.add_row(k, _fmt(v))
    out.print(facts)
    by_dept = view.members_by_dept()
    out.print(f"member records ({len(view.members)}, by department):")
    for dept, recs in sorted(by_dept.items()):
        out.print(
            f"  {dept}: "
            + ", ".join(
                f"{r.record_id} ({r.decision or '-'}"
                + (f" {r.score:.2f}" if isinstance(r.score, float) else "")
                + ")"
                for r in recs
            )
        )
    if view.member_limit_hit:
        out.print("  … more records (raise --limit)")
    if view.label == "Enterprise":
        if view.legal_reps:
            for r in view.legal_reps:
                out.print(
                    f"legal representative: {r.name or '-'} {r.uid}"
                    + (f" since {r.start}" if r.start else "")
                )
        elif view.legal_rep_unlinked:
            out.print(f"legal representative: {view.legal_rep_unlinked} (no person linked)")
        else:
            out.print("legal representative: -")
        _related_table(out, "officers", view.officers, role=True)
        _related_table(out, "shareholders", view.shareholders, shares=True)
        _related_table(out, "branches", view.branches)
        _related_table(out, "branch of", view.parents)
    else:
        _related_table(out, "roles", view.roles, role=True)
    _related_table(out, "holdings", view.holdings, shares=True)
    counts = view.event_counts
    out.print(
        f"credit events: {counts.get('CreditEvent', 0)}; facts: {counts.get('Fact', 0)}; "
        f"tax declarations: {counts.get('TaxDeclaration', 0)}"
    )
    if view.events:
        t = Table(show_header=True)
        for col in ("date", "type", "decision", "authority", "severity", "public until", "record"):
            t.add_column(col)
        for e in view.events:
            t.add_row(
                e.date or "-",
                e.kind or "-",
                e.decision_no or "-",
                e.authority or "-",
                e.severity or "-",
                e.publicity_until or "-",
                f"{e.dept}:{e.record_id}",
            )
        out.print(t)
    out.print("lifecycle history:")
    if view.merged_from:
        out.print(f"  merged into this entity: {', '.join(view.merged_from)}")
    if history:
        for h in history:
            detail = h.get("detail") or {}
            extra = ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(detail.items()))
            out.print(
                f"  {h['at']}  {h['event']:<8} {h['entity_id']}  batch {h['batch_id'] or '-'}"
                + (f"  ({extra})" if extra else "")
            )
    elif not view.merged_from:
        out.print(f"  {view.lifecycle or 'unknown'} (no state history available: pass --state)")


def _related_table(
    out: Console, title: str, rows: tuple[Any, ...], *, role: bool = False, shares: bool = False
) -> None:
    if not rows:
        out.print(f"{title}: -")
        return
    t = Table(title=f"{title} ({len(rows)})", title_justify="left")
    t.add_column("name")
    t.add_column("id")
    if role:
        t.add_column("role")
        t.add_column("since")
    if shares:
        t.add_column("share", justify="right")
        t.add_column("amount", justify="right")
    t.add_column("source records")
    for r in rows:
        cells = [r.name or "-", r.uid]
        if role:
            cells += [r.role or ("法定代表人" if r.rel == "LEGAL_REP_OF" else "-"), r.start or "-"]
        if shares:
            cells += [
                f"{r.ratio:.2%}" if isinstance(r.ratio, float) else "-",
                f"{r.amount:,.0f}" if isinstance(r.amount, float) else "-",
            ]
        cells.append(_sources(r.sources, r.source_kinds))
        t.add_row(*cells)
    out.print(t)


def _sources(sources: tuple[str, ...], kinds: tuple[str, ...]) -> str:
    """``AMR:AMR000001586 (enterprise), AMR:R12 (role)``: DEPT:RECORD_ID as `show` takes it,
    with the kind of record (graphs loaded before kinds were kept show none)."""
    if len(kinds) != len(sources):
        kinds = ("",) * len(sources)
    return (
        ", ".join(
            s.replace("|", ":", 1) + (f" ({k})" if k else "")
            for s, k in zip(sources, kinds, strict=True)
        )
        or "-"
    )
