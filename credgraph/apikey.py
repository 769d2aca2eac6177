"""``credgraph apikey create|list|revoke``: API keys for the GraphQL API (stored hashed)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from credgraph.common import plain_text

DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The API's data directory (default: the user data directory).",
)


def _store(data_dir: Path | None) -> object:
    from api.keys import KeyStore
    from api.settings import ApiSettings, default_api_dir

    settings = ApiSettings(graph_uri="", data_dir=data_dir or default_api_dir())
    settings.prepare()
    return KeyStore(settings.keys_db)


@click.group()
def apikey() -> None:
    """Create, list and revoke API keys (roles: regulator, tax_officer, admin)."""


@apikey.command("create")
@click.option(
    "--role",
    type=click.Choice(["regulator", "tax_officer", "admin"]),
    required=True,
    help="What the key may see and do (docs/authorisation.md).",
)
@click.option("--name", required=True, callback=plain_text, help="Who or what uses the key.")
@DATA_DIR_OPTION
def create(role: str, name: str, data_dir: Path | None) -> None:
    """A new key; its token is printed once (only its hash is kept)."""
    from api.keys import ApiKeyError, KeyStore

    store = _store(data_dir)
    assert isinstance(store, KeyStore)
    try:
        key, token = store.create(role, name)
    except ApiKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"key {key.key_id} ({key.role}) for {key.name}; the token is shown only now:", err=True
    )
    click.echo(token)


@apikey.command("list")
@DATA_DIR_OPTION
def list_keys(data_dir: Path | None) -> None:
    """Every key: id, role, name, created, revoked."""
    from api.keys import KeyStore

    store = _store(data_dir)
    assert isinstance(store, KeyStore)
    keys = store.list()
    if not keys:
        click.echo("no API keys")
        return
    # rich measures Chinese names by their terminal cells (two per character), so the
    # columns line up; the names are plain text (checked when the key was made)
    table = Table("id", "role", "name", "created", "state", box=None, pad_edge=False)
    for k in keys:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        table.add_row(k.key_id, k.role, k.name, k.created_at, state)
    Console(file=sys.stdout, width=200, highlight=False).print(table)


@apikey.command("revoke")
@click.argument("key_id", callback=plain_text)
@DATA_DIR_OPTION
def revoke(key_id: str, data_dir: Path | None) -> None:
    """Revoke a key by its id; it stops working at once."""
    from api.keys import ApiKeyError, KeyStore

    store = _store(data_dir)
    assert isinstance(store, KeyStore)
    try:
        key = store.revoke(key_id)
    except ApiKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"key {key.key_id} ({key.role}, {key.name}) revoked {key.revoked_at}")
