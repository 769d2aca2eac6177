"""Commands over the resolution state: links, resolve-id, history."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from credgraph.common import STATE_OPTION, open_state, resolve_or_fail


@click.command("links")
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
    from resolver.csvsafe import safe_writer
    from resolver.state import export_links

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
@click.argument("entity_id")
@STATE_OPTION
def resolve_id(entity_id: str, state_dir: Path | None) -> None:
    """Print where a (possibly old) golden ID points now."""
    with open_state(state_dir) as state:
        current, path = resolve_or_fail(state, entity_id)
        status = state.entity_status(current)
    if len(path) > 1:
        click.echo(" -> ".join(path) + f"  ({status})")
    else:
        click.echo(f"{current}  ({status})")


@click.command("history")
@click.argument("entity_id")
@STATE_OPTION
def history_cmd(entity_id: str, state_dir: Path | None) -> None:
    """Show the create/merge/split/retire events of an entity (and of IDs merged into it)."""
    import json as _json

    with open_state(state_dir) as state:
        current, path = resolve_or_fail(state, entity_id)
        events = state.history(current)
    if len(path) > 1:
        click.echo(f"{entity_id} now resolves to {current} (" + " -> ".join(path) + ")")
    for e in events:
        click.echo(
            f"{e['at']}  {e['batch_id'] or '-':<24} {e['entity_id']}  {e['event']:<12} "
            f"{_json.dumps(e['detail'], ensure_ascii=False)}"
        )
