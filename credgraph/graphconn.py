"""How graph commands find their server and password without a password on the command line.

The server: ``--uri`` (or ``CREDGRAPH_GRAPH_URI``), else the embedded server of ``--data-dir``
(the same default as ``graph start``). The password, first found: ``--password-file``,
``CREDGRAPH_GRAPH_PASSWORD``, the password inside ``CREDGRAPH_GRAPH_URI``, the data
directory's owner-only password file. A password written into ``--uri`` is refused: it
would show in ``ps`` and in the shell history.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from credgraph.common import console, graph_data_dir

F = TypeVar("F", bound=Callable[..., Any])
PASSWORD_ENV = "CREDGRAPH_GRAPH_PASSWORD"
URI_ENV = "CREDGRAPH_GRAPH_URI"


class OptionRefused(click.ClickException):
    """A refused option value: one line, exit code 2 like click's usage errors."""

    exit_code = 2


def graph_options(func: F) -> F:
    """``--uri``, ``--data-dir`` and ``--password-file``: every command that opens the graph."""
    func = click.option(
        "--password-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help=f"File holding the graph password (else {PASSWORD_ENV} or the data directory).",
    )(func)
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory of the embedded server (default: as `graph start`).",
    )(func)
    func = click.option(
        "--uri",
        default=None,
        help=f"Graph URI without a password (default: {URI_ENV}, else the embedded server).",
    )(func)
    return func


def _read_password_file(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & 0o077:
        console.print(
            f"[yellow]warning:[/] {path} is readable by other users: chmod 600 {path}",
            highlight=False,
        )
    return path.read_text("utf-8").strip()


def resolve_target(
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
    *,
    refuse_password_in_uri: bool = True,
    data_dir_option: str = "--data-dir",
) -> tuple[Any, str | None]:
    """(parsed GraphURI, password or None) for the options; click errors for bad input.
    The server: --uri, else an explicit --data-dir, else CREDGRAPH_GRAPH_URI, else the
    default data directory. ``data_dir_option``: what the command calls its graph data
    directory option (`serve`: --graph-data-dir), for the messages."""
    from graph import server
    from graph.store import GraphStoreError, parse_uri

    env_uri = (os.environ.get(URI_ENV) or None) if data_dir is None else None
    if uri is not None:
        try:
            parsed = parse_uri(uri)
        except GraphStoreError as exc:
            raise click.ClickException(str(exc)) from exc
        if parsed.password and not refuse_password_in_uri:
            console.print(
                "[yellow]warning:[/] --uri carries a password, visible in `ps` and the shell "
                f"history: use --password-file FILE or {PASSWORD_ENV} instead",
                highlight=False,
            )
        elif parsed.password:
            raise OptionRefused(
                "--uri must not carry a password (it would show in `ps` and the shell history): "
                f"remove it and pass --password-file FILE, set {PASSWORD_ENV}, or omit --uri "
                "and pass --data-dir for the embedded server"
            )
    elif env_uri is not None:
        try:
            parsed = parse_uri(env_uri)
        except GraphStoreError as exc:
            raise click.ClickException(f"{URI_ENV}: {exc}") from exc
    else:
        ddir = graph_data_dir(data_dir)
        info = server.status(ddir)
        if info is None:
            stale = " (stale pid file removed)" if server.clear_stale(ddir) else ""
            others = [str(d) for d in server.running_data_dirs()]
            more = f" and {len(others) - 3} more" if len(others) > 3 else ""
            hint = (
                f" (servers run with {data_dir_option} {', '.join(others[:3])}{more})"
                if others
                else ""
            )
            raise click.ClickException(
                f"the graph server of {ddir} is not running{stale}: start it with "
                f"`credgraph graph start --data-dir {ddir}`, or pass {data_dir_option} or "
                f"--uri{hint}"
            )
        parsed = parse_uri(info.public_uri)
        return parsed, (
            _read_password_file(password_file) if password_file is not None else info.password
        )
    if password_file is not None:
        return parsed, _read_password_file(password_file)
    if os.environ.get(PASSWORD_ENV):
        return parsed, os.environ[PASSWORD_ENV]
    if parsed.password:
        return parsed, parsed.password
    # A loopback URI of the embedded server of the data directory: its password file.
    if parsed.scheme == "falkordb" and parsed.host in ("127.0.0.1", "localhost"):
        info = server.status(graph_data_dir(data_dir))
        if info is not None and info.port == parsed.port:
            return parsed, info.password
    return parsed, None


def uri_with_password(
    uri: str | None,
    data_dir: Path | None = None,
    password_file: Path | None = None,
    data_dir_option: str = "--data-dir",
) -> str:
    """The graph URI with its password inside, for :func:`graph.store.open_store` (never to
    be printed). A password already in ``--uri`` is accepted with a warning here."""
    from urllib.parse import quote

    parsed, password = resolve_target(
        uri, data_dir, password_file, refuse_password_in_uri=False, data_dir_option=data_dir_option
    )
    user = quote(parsed.user or "", safe="")
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    return f"{parsed.scheme}://{auth}{parsed.host}:{parsed.port}/{parsed.database}"


def open_graph(
    uri: str | None,
    data_dir: Path | None,
    password_file: Path | None,
    *,
    require_graph: bool = True,
) -> Any:
    """The store for a command's options, or a one-line click error saying what to do."""
    from graph.connect import open_checked
    from graph.store import GraphStoreError

    parsed, password = resolve_target(uri, data_dir, password_file)
    # The Neo4j driver logs its own line for a failed connection; the one-line error says it.
    logging.getLogger("neo4j").setLevel(logging.CRITICAL)
    try:
        return open_checked(parsed, password=password, require_graph=require_graph)
    except GraphStoreError as exc:
        raise click.ClickException(str(exc)) from exc


def query_failed(exc: Exception) -> click.ClickException:
    """A failed query as a one-line click error (limits and lost servers explained)."""
    from graph.connect import explain_query_error
    from graph.store import GraphStoreError

    if "RO_QUERY" in str(exc):  # FalkorDB's own words for a write sent as a read
        return click.ClickException(
            "graph query runs read-only statements: writes (CREATE, MERGE, SET, DELETE, "
            "REMOVE) are refused"
        )
    if isinstance(exc, GraphStoreError):
        return click.ClickException(str(explain_query_error(exc)))
    return click.ClickException(str(exc))
