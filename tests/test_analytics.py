"""Legal-person analytics on hand-made structures with known answers, in the real graph."""

from __future__ import annotations

import pytest

from graph import queries
from graph.analytics import (
    beneficial_owners,
    effective_shares,
    ownership_graph,
    related_party_groups,
    shared_contacts,
)
from graph.dialect import ensure_schema
from graph.store import FalkorStore, open_store


def _build(
    uri: str, holdings: list[tuple[str, str, float]], extra: list[tuple[str, str, str]] = ()
) -> FalkorStore:  # type: ignore[assignment]
    store = open_store(uri)
    assert isinstance(store, FalkorStore)
    ensure_schema(store)
    ents = {c for _, c, _ in holdings} | {h for h, _, _ in holdings if h.startswith("E")}
    persons = {h for h, _, _ in holdings if h.startswith("P")}
    store.run(
        queries.MERGE_NODES.format(label="Enterprise"),
        {"rows": [{"uid": e, "props": {"name": e}} for e in sorted(ents)]},
    )
    store.run(
        queries.MERGE_NODES.format(label="Person"),
        {"rows": [{"uid": p, "props": {"name": p}} for p in sorted(persons)]},
    )
    for src_label in ("Person", "Enterprise"):
        rows = [
            {"src": h, "dst": c, "props": {"ratio": r}}
            for h, c, r in holdings
            if (h[0] == "P") == (src_label == "Person")
        ]
        store.run(
            queries.MERGE_REL.format(
                from_label=src_label, to_label="Enterprise", rel="HOLDS_SHARES"
            ),
            {"rows": rows},
        )
    for kind, contact, company in extra:
        store.run(queries.MERGE_NODES.format(label=kind), {"rows": [{"uid": contact, "props": {}}]})
        rel = "LOCATED_AT" if kind == "Address" else "USES_PHONE"
        store.run(
            queries.MERGE_REL.format(from_label="Enterprise", to_label=kind, rel=rel),
            {"rows": [{"src": company, "dst": contact, "props": {}}]},
        )
    return store


def _share(ownerships: list, holder: str) -> float:  # type: ignore[type-arg]
    return next(o.share for o in ownerships if o.holder == holder)


def test_chain(graph_uri: str) -> None:
    store = _build(graph_uri, [("P1", "EA", 0.6), ("EA", "EB", 0.5), ("EB", "EC", 0.8)])
    g = ownership_graph(store)
    shares = effective_shares(g, "EC")
    assert _share(shares, "EB") == pytest.approx(0.8)
    assert _share(shares, "EA") == pytest.approx(0.4)
    assert _share(shares, "P1") == pytest.approx(0.24)
    assert next(o for o in shares if o.holder == "P1").paths == [["P1", "EA", "EB", "EC"]]
    assert [o.holder for o in beneficial_owners(g, "EC", 0.2)] == ["P1"]
    assert beneficial_owners(g, "EC") == []  # 24 % < 25 %
    store.close()


def test_diamond_sums_paths(graph_uri: str) -> None:
    store = _build(
        graph_uri,
        [
            ("P1", "EA", 1.0),
            ("P1", "EB", 1.0),
            ("EA", "EC", 0.3),
            ("EB", "EC", 0.2),
            ("P2", "EC", 0.5),
        ],
    )
    g = ownership_graph(store)
    shares = effective_shares(g, "EC")
    p1 = next(o for o in shares if o.holder == "P1")
    assert p1.share == pytest.approx(0.5) and len(p1.paths) == 2
    assert {o.holder for o in beneficial_owners(g, "EC")} == {"P1", "P2"}
    store.close()


def test_cycle_is_safe(graph_uri: str) -> None:
    store = _build(
        graph_uri, [("P1", "EA", 0.5), ("EA", "EB", 0.6), ("EB", "EA", 0.4), ("EB", "EC", 1.0)]
    )
    g = ownership_graph(store)
    shares = effective_shares(g, "EC")
    assert _share(shares, "EB") == pytest.approx(1.0)
    assert _share(shares, "EA") == pytest.approx(0.6)
    assert _share(shares, "P1") == pytest.approx(0.3)
    store.close()


def test_groups_and_shared_contacts(graph_uri: str) -> None:
    store = _build(
        graph_uri,
        [
            ("P1", "EA", 1.0),
            ("EA", "EB", 0.5),
            ("P2", "EX", 1.0),
            ("P3", "EY", 1.0),
            ("P4", "EZ", 1.0),
        ],
        [
            ("Address", "某大厦1201室", "EX"),
            ("Address", "某大厦1201室", "EY"),
            ("Address", "某大厦1201室", "EZ"),
            ("Phone", "+8675512345678", "EX"),
        ],
    )
    groups = related_party_groups(store)
    assert ["EA", "EB", "P1"] in groups and ["EX", "P2"] in groups
    shared = shared_contacts(store, min_size=3)
    assert shared == [
        {"kind": "Address", "contact": "某大厦1201室", "enterprises": ["EX", "EY", "EZ"]}
    ]
    store.close()
