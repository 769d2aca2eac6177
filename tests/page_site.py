"""The public page served for real: a batch generated like ``make fixtures`` (with its planted
truth), linked, loaded into a graph on a real server, and the HTTP app under uvicorn on a free
loopback port. Used by tests/test_page_browser.py and bench/page_screenshots.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from api.app import create_app
from api.settings import ApiSettings, Limits
from fixtures.generate import GenerateConfig, generate
from graph.load import load_run
from graph.store import open_store
from resolver.linkage.link import run_link

#: The committed sample's generator settings (Makefile `fixtures`).
SAMPLE_CONFIG = {"enterprises": 240, "persons": 320, "departments": 32, "seed": 2026}


@dataclass(frozen=True)
class Batch:
    batch: Path
    truth: Path
    run: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_batch(root: Path) -> Batch:
    """Generate the sample batch with its truth and link it."""
    out = root / "sample"
    generate(GenerateConfig(out=out, batch_id="sample-2026-11", **SAMPLE_CONFIG))
    run = root / "run"
    run_link(out / "batch", run)
    return Batch(out / "batch", out / "truth", run)


def load(run: Path, uri: str) -> None:
    store = open_store(uri)
    try:
        load_run(store, run)
    finally:
        store.close()


@contextmanager
def serve(graph_uri: str, data_dir: Path) -> Iterator[str]:
    """The app on a free loopback port; yields its base URL."""
    settings = ApiSettings(
        graph_uri=graph_uri,
        data_dir=data_dir,
        limits=Limits(rate_signed_in="100000/second", rate_public="100000/second"),
    )
    settings.prepare()
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        ws="none",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the app did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
