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
from graph.store import FalkorStore, GraphStoreError, open_store
from resolver.state.graphsync import export_run
from resolver.state.incremental import run_link_stateful
from tests.conftest import SAMPLE
from tests.test_graph import graph_contents, graph_digest


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


def _two_runs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A state with two batches of the sample applied: (state, run 1, run 2)."""
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 2)
    state, r1, r2 = tmp_path / "state", tmp_path / "r1", tmp_path / "r2"
    run_link_stateful(parts[0], r1, state)
    run_link_stateful(parts[1], r2, state)
    return state, r1, r2


def _cli_load(graph_uri: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credgraph.cli", "load", str(path)],
        env={**os.environ, "CREDGRAPH_GRAPH_URI": graph_uri},
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_later_batch_into_a_graph_without_its_earlier_ones_is_refused(
    graph_uri: str, tmp_path: Path
) -> None:
    """Run 2 carries only what batch 2 changed: alone in an empty graph it would be a partial
    graph (relationships without their ends), so it is refused and the graph stays empty."""
    _state, _r1, r2 = _two_runs(tmp_path)
    second = json.loads((r2 / "changes.json").read_text("utf-8"))["state"]
    proc = _cli_load(graph_uri, r2)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"Error: {r2} is batch 2 ({second['batch_id']}) of its resolution state, and the "
        "graph holds none of that state: a run carries only what its batch changed, so load "
        "the state's runs from its first batch on, or load the whole state into an empty "
        "graph instead: `credgraph load STATE_DIR`"
    )
    store = open_store(graph_uri)
    try:
        with pytest.raises(StaleRunError):  # (the library refuses it too)
            load_run(store, r2)
        with pytest.raises(GraphStoreError, match="empty key"):  # no graph was made
            store.read("MATCH (n) RETURN count(n) AS n")
    finally:
        store.close()


def test_a_gap_in_the_batches_is_refused(graph_uri: str, tmp_path: Path) -> None:
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 3)
    state = tmp_path / "state"
    runs = [tmp_path / f"r{k}" for k in (1, 2, 3)]
    for part, run in zip(parts, runs, strict=True):
        run_link_stateful(part, run, state)
    store = open_store(graph_uri)
    try:
        load_run(store, runs[0])
        before = graph_digest(store)
        with pytest.raises(StaleRunError, match=r"holds batch 1 .*: load the runs of batches 2–2"):
            load_run(store, runs[2], bulk=False)
        assert graph_digest(store) == before
        load_run(store, runs[1], bulk=False)
        load_run(store, runs[2], bulk=False)  # in order: accepted
    finally:
        store.close()


def test_loading_a_state_directory_gives_the_graph_of_its_runs_in_order(
    graph_uri: str, tmp_path: Path
) -> None:
    """`credgraph load STATE_DIR` loads the whole state as one run: the same graph as its
    runs loaded one after the other; a later run of that state is then accepted, and the
    export leaves nothing behind in the state directory."""
    state, r1, r2 = _two_runs(tmp_path)
    in_order = open_store(graph_uri + "_in_order")
    try:
        load_run(in_order, r1)
        load_run(in_order, r2, bulk=False)
        want = graph_contents(in_order)
    finally:
        in_order.close()
    before = sorted(p.name for p in state.iterdir())
    proc = _cli_load(graph_uri, state)
    assert proc.returncode == 0, proc.stderr
    assert "is a resolution state: exporting it as one run" in proc.stderr
    assert "by the bulk path" in proc.stdout
    assert sorted(p.name for p in state.iterdir()) == before
    store = open_store(graph_uri)
    try:
        assert graph_contents(store) == want
        mark = store.read("MATCH (m:LoadedState) RETURN m.batch_seq AS seq")
        assert mark == [{"seq": 2}]
    finally:
        store.close()
    again = _cli_load(graph_uri, r2)  # the newest run again: idempotent
    assert again.returncode == 0, again.stderr


def test_a_whole_state_export_into_a_graph_holding_an_earlier_batch_is_refused(
    graph_uri: str, tmp_path: Path
) -> None:
    """The export replaces no relationship of what the graph holds (it names no affected
    entities): over batch 1 it would leave batch 1's stale relationships."""
    state, r1, _r2 = _two_runs(tmp_path)
    export_run(state, tmp_path / "whole")
    store = open_store(graph_uri)
    try:
        load_run(store, r1)
        with pytest.raises(StaleRunError, match="holds the whole resolution state at batch 2"):
            load_run(store, tmp_path / "whole", bulk=False)
    finally:
        store.close()


def test_a_damaged_state_directory_is_one_line(graph_uri: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.db").write_bytes(b"not a database at all" * 100)
    proc = _cli_load(graph_uri, state)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    # (named once: the state's own message names its file)
    assert proc.stderr.strip().splitlines()[-1] == (
        f"Error: {state / 'state.db'}: cannot open the state database: file is not a database"
    )
    assert not list(state.glob(".credgraph-export-*"))
