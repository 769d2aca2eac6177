"""The few places where Neo4j 5 and FalkorDB Cypher differ (docs in README, graph section).

Everything else the project runs is written in the subset both accept: no ``=~``, no
``EXISTS {}``/``COUNT {}``, no ``CALL (x) {}``, no ``IN TRANSACTIONS``, dates as ISO strings,
nodes addressed by ``uid`` (never ``id()``/``elementId()``), always DETACH DELETE.
"""

from __future__ import annotations

from typing import Any

#: Labels and properties that get an exact-match index (identifiers, formatted into DDL from
#: this fixed list only — never from data).
INDEXES: tuple[tuple[str, str], ...] = (
    ("Enterprise", "uid"),
    ("Enterprise", "uscc"),
    ("Enterprise", "org_code"),
    ("Enterprise", "reg_no"),
    ("Enterprise", "name"),
    ("Enterprise", "merged_into"),
    ("Person", "uid"),
    ("Person", "id_hash"),
    ("Person", "name"),
    ("Person", "merged_into"),
    ("SourceRecord", "uid"),
    ("CreditEvent", "uid"),
    ("Fact", "uid"),
    ("TaxDeclaration", "uid"),
    ("Address", "uid"),
    ("Phone", "uid"),
    ("Grade", "uid"),  # credit grade history (credit/)
    ("Finding", "uid"),
    ("Finding", "rule"),
    ("LoadedState", "uid"),  # how far along each resolution state the graph is (graph/load.py)
)
LABELS = frozenset(label for label, _ in INDEXES)


def index_statements(backend: str) -> list[str]:
    """DDL creating every index; idempotent on Neo4j (IF NOT EXISTS), and on FalkorDB the
    caller ignores 'already indexed' errors (FalkorDB has no IF NOT EXISTS)."""
    out = []
    for label, prop in INDEXES:
        if backend == "neo4j":
            out.append(
                f"CREATE INDEX {label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
            )
        else:
            out.append(f"CREATE INDEX FOR (n:{label}) ON (n.{prop})")
    return out


def ensure_schema(store: Any) -> int:
    """Create the indexes that are missing; returns how many statements were run."""
    from graph.store import GraphStoreError

    n = 0
    for stmt in index_statements(store.backend):
        try:
            store.run(stmt)
            n += 1
        except GraphStoreError as exc:
            if "already indexed" not in str(exc):
                raise
    return n


def label(name: str) -> str:
    """A label vetted against the schema: the only way a label enters query text."""
    if name not in LABELS:
        raise ValueError(f"unknown label {name!r}")
    return name
