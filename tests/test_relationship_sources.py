"""A relationship's ``sources`` (DEPT|RECORD_ID) come with ``source_kinds``, the kind of
record that asserted each (an enterprise row's legal representative, a role row, a
shareholding row): the same ``DEPT|RECORD_ID`` names different records of different kinds
(Contract 1), so without the kind a reader cannot tell which record to look at."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from graph.load import load_run
from graph.lookup import entity_view
from graph.store import FalkorStore, open_store


@pytest.fixture()
def run(sample_run: Path) -> Path:
    """The session's linked sample batch (tests/conftest.py ``sample_run``)."""
    return sample_run


@pytest.mark.parametrize("bulk", [False, True])
def test_every_source_carries_its_kind(graph_uri: str, run: Path, bulk: bool) -> None:
    want: dict[tuple[str, str, str], Counter[tuple[str, str]]] = defaultdict(Counter)
    for line in (run / "edges.jsonl").read_text("utf-8").splitlines():
        e = json.loads(line)
        if e.get("from") and e.get("to"):
            src = e["source"]
            want[(e["type"], e["from"], e["to"])][
                (f"{src['dept']}|{src['record_id']}", src["kind"])
            ] += 1
    store = open_store(f"{graph_uri}_{'bulk' if bulk else 'merge'}")
    assert isinstance(store, FalkorStore)
    try:
        assert load_run(store, run, bulk=bulk).path == ("bulk" if bulk else "merge")
        rows = store.read(
            "MATCH (a)-[r:LEGAL_REP_OF|SERVES_AS|HOLDS_SHARES|BRANCH_OF]->(b) "
            "RETURN type(r) AS t, a.uid AS a, b.uid AS b, r.sources AS s, r.source_kinds AS k"
        )
        got = {(r["t"], r["a"], r["b"]): Counter(zip(r["s"], r["k"], strict=True)) for r in rows}
        assert got == want
        kinds = Counter(k for c in got.values() for _, k in c)
        assert kinds["role"] and kinds["shareholding"] and kinds["enterprise"]
        # `show` (graph.lookup) hands them on, one kind per source
        firm = next(b for (t, _a, b), c in got.items() if t == "HOLDS_SHARES")
        view = entity_view(store, firm)
        assert view.shareholders and all(
            len(r.source_kinds) == len(r.sources) and set(r.source_kinds) == {"shareholding"}
            for r in view.shareholders
        )
    finally:
        store.close()
