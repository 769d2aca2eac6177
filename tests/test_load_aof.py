"""A load defers the server's automatic AOF rewrites (each a fork serialising the whole
graph) and puts the setting back afterwards, also when the load fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from graph.load import AOF_REWRITE, aof_rewrites_deferred, load_run
from graph.store import FalkorStore, GraphStoreError, open_store
from tests.test_bulk_payload import _run as awkward_run


def _setting(store: FalkorStore) -> str:
    reply = store.command("CONFIG", "GET", AOF_REWRITE)
    value = reply.get(AOF_REWRITE) if isinstance(reply, dict) else reply[1]
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize("bulk", [False, True])
def test_rewrites_deferred_during_a_load_and_restored(
    graph_uri: str, tmp_path: Path, bulk: bool
) -> None:
    run = awkward_run(tmp_path)
    store = open_store(graph_uri)
    watcher = open_store(graph_uri)
    assert isinstance(store, FalkorStore) and isinstance(watcher, FalkorStore)
    seen: list[str] = []
    original = _setting(watcher)
    try:
        store.command("CONFIG", "SET", AOF_REWRITE, "150")
        load_run(store, run, bulk=bulk, progress=lambda step, n: seen.append(_setting(watcher)))
        assert seen and set(seen) == {"0"}
        assert _setting(watcher) == "150"

        def failing(step: str, n: int) -> None:
            raise GraphStoreError("interrupted")

        with pytest.raises(GraphStoreError, match="interrupted"):
            load_run(store, run, bulk=False, progress=failing)
        assert _setting(watcher) == "150"
        # set to 0 by its owner: left alone
        store.command("CONFIG", "SET", AOF_REWRITE, "0")
        load_run(store, run, bulk=False)
        assert _setting(watcher) == "0"
    finally:
        store.command("CONFIG", "SET", AOF_REWRITE, original)
        store.close()
        watcher.close()


def test_a_load_killed_half_way_leaves_the_setting_to_the_next_load(
    graph_uri: str, tmp_path: Path
) -> None:
    """SIGKILL leaves no time to put the setting back: the 0 the killed load left is not
    taken for its owner's choice — the next load puts the setting back when it ends."""
    run = awkward_run(tmp_path)
    store = open_store(graph_uri)
    assert isinstance(store, FalkorStore)
    original = _setting(store)
    code = (
        "import os, sys; from pathlib import Path; from graph.load import load_run; "
        "from graph.store import open_store; "
        "load_run(open_store(os.environ['CREDGRAPH_GRAPH_URI']), Path(sys.argv[1]), "
        "batch_size=1, bulk=False)"
    )
    env = {
        **os.environ,
        "CREDGRAPH_GRAPH_URI": graph_uri,
        "CREDGRAPH_FAULT_AT": "load:nodes:Enterprise",
    }
    try:
        store.command("CONFIG", "SET", AOF_REWRITE, "150")
        proc = subprocess.run(
            [sys.executable, "-c", code, str(run)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert _setting(store) == "0"  # what the killed load left
        summary = load_run(store, run, bulk=False)  # resumes the killed load
        golden = (run / "golden.jsonl").read_text("utf-8").splitlines()
        assert summary.nodes["Enterprise"] == sum('"Enterprise"' in line for line in golden)
        assert _setting(store) == "150"
        # and a load after that one finds the setting as its owner left it
        load_run(store, run, bulk=False)
        assert _setting(store) == "150"
    finally:
        store.command("CONFIG", "SET", AOF_REWRITE, original)
        store.close()


def test_the_last_of_two_overlapping_loads_puts_the_setting_back(graph_uri: str) -> None:
    first, second = open_store(graph_uri), open_store(graph_uri)
    assert isinstance(first, FalkorStore) and isinstance(second, FalkorStore)
    original = _setting(first)
    try:
        first.command("CONFIG", "SET", AOF_REWRITE, "150")
        with ExitStack() as loads:
            one = ExitStack()
            one.enter_context(aof_rewrites_deferred(first))
            assert _setting(second) == "0"
            loads.enter_context(aof_rewrites_deferred(second))
            one.close()  # the first load ends while the second still writes
            assert _setting(second) == "0"
        assert _setting(first) == "150"
    finally:
        first.command("CONFIG", "SET", AOF_REWRITE, original)
        first.close()
        second.close()
