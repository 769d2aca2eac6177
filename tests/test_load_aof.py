"""A load defers the server's automatic AOF rewrites (each a fork serialising the whole
graph) and puts the setting back afterwards, also when the load fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.load import AOF_REWRITE, load_run
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
