"""``credgraph serve``: the GraphQL API under uvicorn (see api/ and DESIGN.md Contract 4)."""

from __future__ import annotations

from pathlib import Path

import click

from credgraph.common import STATE_OPTION
from credgraph.graphconn import uri_with_password


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to bind."
)
@click.option(
    "--uri", default=None, help="Graph URI (default: CREDGRAPH_GRAPH_URI or the embedded server)."
)
@STATE_OPTION
@click.option(
    "--inbox",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory linkage jobs may read batches from (jobs are off without it).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="API keys, audit log and jobs (default: the user data directory).",
)
@click.option(
    "--graph-data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory of the embedded graph server (its address and password), as "
    "--data-dir of the graph commands (here --data-dir is the API's own directory).",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the graph password (else CREDGRAPH_GRAPH_PASSWORD or the graph data "
    "directory).",
)
@click.option(
    "--rate-limit",
    default=None,
    help="Requests allowed per API key, as `limits` writes it (default 50/second).",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also append the JSON log lines to this file (they always go to stderr).",
)
@click.option(
    "--allowed-origin",
    default=None,
    help="The one origin CORS allows (default: this server's own address).",
)
def serve(
    host: str,
    port: int,
    uri: str | None,
    state_dir: Path | None,
    inbox: Path | None,
    data_dir: Path | None,
    log_file: Path | None,
    allowed_origin: str | None,
    rate_limit: str | None,
    graph_data_dir: Path | None,
    password_file: Path | None,
) -> None:
    """Serve /graphql (GraphiQL for signed-in roles), the public lookup page at /,
    /healthz and /readyz."""
    import uvicorn
    from limits import parse as parse_rate

    from api import logs
    from api.app import create_app
    from api.settings import ApiSettings, Limits, default_api_dir

    limits = Limits()
    if rate_limit:
        try:
            parse_rate(rate_limit)
        except ValueError as exc:
            raise click.BadParameter(f"{rate_limit!r}: write it like 50/second") from exc
        limits = Limits(rate_signed_in=rate_limit)

    settings = ApiSettings(
        graph_uri=uri_with_password(
            uri, graph_data_dir, password_file, data_dir_option="--graph-data-dir"
        ),
        data_dir=data_dir or default_api_dir(),
        state_dir=state_dir,
        inbox_dir=inbox,
        allowed_origin=allowed_origin or f"http://{host}:{port}",
        limits=limits,
    )
    logs.configure(log_file)
    click.echo(
        f"credgraph API on http://{host}:{port}/graphql, public page on http://{host}:{port}/ "
        "(Ctrl-C stops it)",
        err=True,
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
