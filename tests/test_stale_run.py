"""An older run of a resolution state is refused once the graph holds a newer one: loading
it would silently put the graph back (retired entities active again, moved records back)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.split import split_batch
from graph.load import StaleRunError, load_run
from graph.store import FalkorStore, open_store
from resolver.state.incremental import run_link_stateful
from tests.conftest import SAMPLE
from tests.test_graph import graph_digest


def test_an_older_run_is_refused_and_changes_nothing(graph_uri: str, tmp_path: Path) -> None:
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 2)
    state = tmp_path / "state"
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    run_link_stateful(parts[0], r1, state)
    run_link_stateful(parts[1], r2, state)
    first = json.loads((r1 / "changes.json").read_text("utf-8"))["state"]
    second = json.loads((r2 / "changes.json").read_text("utf-8"))["state"]
    assert first["id"] == second["id"]
    assert (first["batch_seq"], second["batch_seq"]) == (1, 2)

    store = open_store(graph_uri)
    assert isinstance(store, FalkorStore)
    try:
        load_run(store, r1)
        load_run(store, r2, bulk=False)
        newest = graph_digest(store)
        with pytest.raises(StaleRunError) as err:
            load_run(store, r1, bulk=False)
        assert str(err.value) == (
            f"{r1} is batch 1 ({first['batch_id']}) of its resolution state, but the graph "
            f"already holds batch 2 ({second['batch_id']}); loading it would roll the graph "
            "back: load the newest run"
        )
        assert graph_digest(store) == newest
        # The newest run again is fine (idempotent), and says where the graph stands.
        load_run(store, r2, bulk=False)
        assert graph_digest(store) == newest
        mark = store.read("MATCH (m:LoadedState) RETURN m.uid AS id, m.batch_seq AS seq")
        assert mark == [{"id": first["id"], "seq": 2}]
    finally:
        store.close()

    # From the command line: one line, non-zero exit, no traceback.
    proc = subprocess.run(
        [sys.executable, "-m", "credgraph.cli", "load", str(r1)],
        env={**os.environ, "CREDGRAPH_GRAPH_URI": graph_uri},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "already holds batch 2" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
