"""Shared fixtures: generated batches in temporary directories."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from fixtures.generate import GenerateConfig, Summary, generate
from graph import server
from graph.server import ServerInfo

# One state key for the session (subprocesses inherit it): no test writes a key into the
# user's data directory; tests of the key file unset it.
os.environ.setdefault("CREDGRAPH_STATE_KEY", Fernet.generate_key().decode())

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "fixtures" / "sample"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary]:
    """A mid-sized batch (all 32 departments) generated once per test session."""
    out = tmp_path_factory.mktemp("gen")
    summary = generate(
        GenerateConfig(out=out, enterprises=1500, persons=2000, departments=32, seed=11)
    )
    return out, summary


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sample batch linked once per session (one-shot). Shared: a test that
    changes run files works on a copy."""
    from resolver.linkage.link import run_link

    run = tmp_path_factory.mktemp("sample-run")
    run_link(SAMPLE / "batch", run)
    return run


@pytest.fixture(scope="session")
def graph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerInfo]:
    """A throwaway FalkorDB server for the whole test session, on a free loopback port."""
    data = tmp_path_factory.mktemp("graph")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    info = server.start(data, port)
    yield info
    server.stop(data)


@pytest.fixture()
def graph_uri(graph_server: ServerInfo, request: pytest.FixtureRequest) -> str:
    """A fresh graph (own name) on the session's server for one test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60]
    return graph_server.uri.rsplit("/", 1)[0] + "/" + name
