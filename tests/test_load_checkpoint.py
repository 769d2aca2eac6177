"""A load checkpoint cut short (a load killed while writing it) does not stop the next load:
it starts over and the graph equals that of one clean load; checkpoints are replaced whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.load import checkpoint_path, load_run
from graph.store import FalkorStore, open_store
from tests.test_bulk_payload import _run as awkward_run
from tests.test_graph import graph_digest


@pytest.mark.parametrize(
    "damage", [b"", b'{"target": "falkordb://127.0.0.1', b"\xff\xfe[]", b"[1]"]
)
def test_a_damaged_checkpoint_starts_the_load_over(
    graph_uri: str, tmp_path: Path, damage: bytes
) -> None:
    run = awkward_run(tmp_path)
    clean = open_store(graph_uri + "_clean")
    store = open_store(graph_uri)
    assert isinstance(clean, FalkorStore) and isinstance(store, FalkorStore)
    try:
        load_run(clean, run, bulk=False)
        ckpt = checkpoint_path(run, store)
        ckpt.write_bytes(damage)
        ckpt.with_name(ckpt.name + ".tmp-1").write_bytes(damage)  # a save cut short
        summary = load_run(store, run, bulk=False)
        assert summary.steps_skipped == 0 and summary.steps_done > 0
        assert graph_digest(store) == graph_digest(clean)
        assert not ckpt.exists()
        assert sorted(p.name for p in run.iterdir() if p.name.startswith(".graph-load-")) == []
    finally:
        clean.close()
        store.close()
