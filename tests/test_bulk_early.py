"""The bulk path begun while the run is read: golden.jsonl's nodes go to the server before
the links, edges and events are read (node IDs then follow that order), and the graph is
the MERGE path's all the same; a run refused after its golden nodes were sent (its
checksums checked beside the reading) leaves the graph as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph import bulk
from graph.load import RelKey, begin_bulk, load_run, read_run
from graph.store import FalkorStore, open_store
from graph.tables import NodeTable, RelTable
from resolver.state.run_files import IncompleteRunError, verify
from tests.test_graph import graph_digest


@pytest.fixture()
def batch_run(sample_run: Path) -> Path:
    """The session's linked sample batch (tests/conftest.py ``sample_run``)."""
    return sample_run


def _store(uri: str) -> FalkorStore:
    store = open_store(uri)
    assert isinstance(store, FalkorStore)
    return store


@pytest.mark.parametrize("chunk", [bulk.CHUNK, 7])
def test_early_golden_nodes(  # (short: graph names keep 60 characters of it)
    graph_uri: str, batch_run: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(bulk, "CHUNK", chunk)  # 7: every table over several calls
    merge, fast = _store(graph_uri + "_merge"), _store(graph_uri + "_bulk")
    try:
        a = load_run(merge, batch_run, bulk=False)
        begun: list[bulk.EarlyBulk] = []
        seen: list[list[str]] = []

        def begin(nodes: dict[str, NodeTable], rels: dict[RelKey, RelTable]) -> None:
            seen.append(sorted(nodes))
            if begun:
                begun[0].more(nodes, rels)
                return
            made = begin_bulk(fast, batch_run, None, nodes, rels)
            assert made is not None
            begun.append(made)

        tables = read_run(batch_run, early=begin)
        # golden.jsonl's tables first, then the links'
        assert seen == [["Address", "Enterprise", "Person", "Phone"], ["SourceRecord"]]
        early = begun[0]
        early.packed()
        assert list(early.sent) == [*seen[0], *seen[1]]
        assert sorted(k[0] for k in early.sent_rels) == [
            "LOCATED_AT", "RESOLVED_TO", "RESOLVED_TO", "USES_PHONE"
        ]  # fmt: skip
        golden_nodes = sum(len(tables.nodes[lab]) for lab in seen[0])
        sent = golden_nodes + len(tables.nodes["SourceRecord"])
        assert early.rows == sent + sum(map(len, early.sent_rels.values()))
        assert early.sender.calls >= 1  # sent (or on their way) before the load below
        b = load_run(fast, batch_run, tables=tables, early=early)
        assert (a.path, b.path) == ("merge", "bulk")
        assert b.nodes == a.nodes and b.relationships == a.relationships
        assert b.counts == a.counts
        assert graph_digest(merge) == graph_digest(fast)
        # the golden labels took the first node IDs
        first = fast.read(
            "MATCH (n) WHERE id(n) < $n RETURN DISTINCT labels(n)[0] AS l", {"n": golden_nodes}
        )
        assert sorted(r["l"] for r in first) == seen[0]
        # a load_run that reads the run itself begins the same way
        again = _store(graph_uri + "_again")
        try:
            assert load_run(again, batch_run).path == "bulk"
            assert graph_digest(again) == graph_digest(merge)
        finally:
            again.close()
    finally:
        merge.close()
        fast.close()


def test_early_refused_run_leaves_no_graph(graph_uri: str, batch_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    subprocess.run(["cp", "-r", str(batch_run), str(copy)], check=True)
    edges = copy / "edges.jsonl"
    text = edges.read_text("utf-8")
    assert '"line":' in text
    edges.write_text(text.replace('"line":', '"line": ', 1), "utf-8")  # valid JSON, changed
    name = graph_uri.rsplit("/", 1)[1]
    proc = subprocess.run(
        [sys.executable, "-m", "credgraph.cli", "load", str(copy)],
        env={**os.environ, "CREDGRAPH_GRAPH_URI": graph_uri},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "edges.jsonl does not match run.json" in proc.stderr
    assert "Traceback" not in proc.stderr
    store = _store(graph_uri)
    try:
        assert not store.command("EXISTS", name)
    finally:
        store.close()


def test_early_abort_drops_what_was_sent(graph_uri: str, batch_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    subprocess.run(["cp", "-r", str(batch_run), str(copy)], check=True)
    edges = copy / "edges.jsonl"
    edges.write_text(edges.read_text("utf-8").replace('"line":', '"line": ', 1), "utf-8")
    store = _store(graph_uri)
    begun: list[bulk.EarlyBulk] = []

    def begin(nodes: dict[str, NodeTable], rels: dict[RelKey, RelTable]) -> None:
        if not begun:
            made = begin_bulk(store, copy, None, nodes, rels)
            assert made is not None
            begun.append(made)

    try:
        with pytest.raises(IncompleteRunError, match=r"edges\.jsonl does not match run\.json"):
            read_run(copy, check=lambda: verify(copy), early=begin)
        early = begun[0]
        early.packed()
        early.sender.wait()
        assert early.sender.calls >= 1
        sent = sum(map(len, early.sent.values()))
        assert store.read("MATCH (n) RETURN count(n) AS n")[0]["n"] == sent > 0
        early.abort()
        assert not store.command("EXISTS", graph_uri.rsplit("/", 1)[1])
    finally:
        store.close()
