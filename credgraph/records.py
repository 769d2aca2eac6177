"""Commands over the resolution state: links, resolve-id, history."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from credgraph.common import (
    STATE_OPTION,
    open_state,
    output_file,
    plain_text,
    record_ref,
    resolve_or_fail,
)


@click.command("links")
@STATE_OPTION
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_file,
    default=None,
    help="Write to this file instead of standard output.",
)
def links_cmd(state_dir: Path | None, out: Path | None) -> None:
    """Export links.csv for every record in the state, with current golden IDs."""
    from resolver.csvsafe import safe_writer
    from resolver.state.store import export_links

    with open_state(state_dir) as state:
        fh = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            w = safe_writer(fh)
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


@click.command("resolve-id")
@click.argument("key", callback=plain_text)
@STATE_OPTION
def resolve_id(key: str, state_dir: Path | None) -> None:
    """Print where a (possibly old) golden ID, a USCC or a DEPT:RECORD_ID points now."""
    with open_state(state_dir) as state:
        for entity_id in _entity_ids(state, key):
            current, path = resolve_or_fail(state, entity_id)
            status = state.entity_status(current)
            label = f"{key}: " if entity_id != key else ""
            if len(path) > 1:
                click.echo(label + " -> ".join(path) + f"  ({status})")
            else:
                click.echo(f"{label}{current}  ({status})")


def _entity_ids(state: Any, key: str) -> list[str]:
    """The golden IDs a key names in the state: an ID itself, the entity a record belongs
    to, or the entities holding a USCC (the state's ``U|`` identifier key)."""
    from resolver.standardize.identifiers import check_resident_id, check_uscc, normalise_identifier
    from resolver.standardize.records import mask_identifier

    text = key.strip()
    if ":" in text:
        dept, rid = record_ref(text)
        # One DEPT:RECORD_ID may name an enterprise and a person record: both are listed.
        keys = [
            k
            for k in state.keys_named(dept.upper(), rid, ("enterprise", "person"))
            if not state.stored_hashes([k])[k][2]  # withdrawn records resolve to nothing
        ]
        found = state.entity_of(keys)
        if not found:
            withdrawn = state.keys_named(dept.upper(), rid, ("enterprise", "person"))
            raise click.ClickException(
                f"no record {dept.upper()}:{rid} with an entity in the state "
                + (
                    "(it was withdrawn)"
                    if withdrawn
                    else "(only enterprise and person records resolve to one)"
                )
            )
        return sorted(set(found.values()))
    value = normalise_identifier(text) or ""
    if len(value) == 18 and not value.startswith(("E", "P")):
        check = check_uscc(value)
        if not check.valid:
            if check_resident_id(value).valid or value[:17].isdigit():
                # an ID number (or what may be one) is never echoed in clear
                raise click.ClickException(
                    f"{mask_identifier(value)} is not a valid USCC ({check.reason}); KEY is a "
                    "golden ID, a USCC or DEPT:RECORD_ID (`credgraph show` finds a person by "
                    "ID number)"
                )
            raise click.ClickException(f"USCC {value} is not valid ({check.reason})")
        records = state.records_by_key([f"U|{value}"], max_per_key=10_000)
        found = state.entity_of(sorted(records))
        if not found:
            raise click.ClickException(f"no enterprise with USCC {value} in the state")
        return sorted(set(found.values()))
    return [text]


def _detail(detail: Any) -> str:
    """An event's detail as words (``records 5, from E000000007``), not JSON."""
    from credgraph.show import _fmt

    if isinstance(detail, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(detail.items()))
    return "" if detail is None else _fmt(detail)


@click.command("history")
@click.argument("entity_id", callback=plain_text)
@STATE_OPTION
def history_cmd(entity_id: str, state_dir: Path | None) -> None:
    """Show the create/merge/split/adopt/retire/withdraw events of an entity (and of IDs merged
    into it)."""
    with open_state(state_dir) as state:
        current, path = resolve_or_fail(state, entity_id)
        events = state.history(current)
    if len(path) > 1:
        click.echo(f"{entity_id} now resolves to {current} (" + " -> ".join(path) + ")")
    for e in events:
        click.echo(
            f"{e['at']}  {e['batch_id'] or '-':<24} {e['entity_id']}  {e['event']:<12} "
            + _detail(e["detail"])
        )
