"""The ``credgraph`` command line: a thin layer that composes the parts.

Each command group lives in its own module; this one only registers them.
"""

from __future__ import annotations

import click

from credgraph import __version__
from credgraph.apikey import apikey
from credgraph.batch import check, evaluate, generate, link
from credgraph.credit import credit
from credgraph.graphdb import graph, load
from credgraph.records import history_cmd, links_cmd, resolve_id
from credgraph.review import review
from credgraph.serve import serve
from credgraph.show import show
from credgraph.tax import tax


@click.group()
@click.version_option(__version__, prog_name="credgraph")
def main() -> None:
    """credgraph: link department records into golden legal-person entities."""


for command in (
    generate,
    check,
    link,
    evaluate,
    links_cmd,
    resolve_id,
    history_cmd,
    review,
    graph,
    load,
    serve,
    apikey,
    show,
    credit,
    tax,
):
    main.add_command(command)


def run() -> None:
    """The ``credgraph`` console script: :func:`main` as the whole life of the process."""
    from resolver.gcpause import owns_process

    owns_process()
    main()


if __name__ == "__main__":
    run()
