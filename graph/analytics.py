"""Legal-person analytics over the graph, in networkx where Cypher does not do them well.

- Equity penetration: the effective share a holder has in a company is the sum over all
  ownership paths of the product of the ratios along the path (cycle-safe: a path never
  visits a node twice), with the paths kept as the explanation.
- Ultimate beneficial owners / controllers: persons (or top holders) whose effective share
  reaches a threshold (default 25 %).
- Related-party groups: connected components over shareholding, legal-representative and
  branch edges.
- Shared contacts: enterprises sharing an address or phone (shell-company signals).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graph import queries
from graph.store import GraphStore


@dataclass(frozen=True, slots=True)
class Ownership:
    holder: str
    company: str
    share: float
    paths: list[list[str]] = field(default_factory=list)  # each path: holder … company


def ownership_graph(store: GraphStore) -> nx.DiGraph:
    """Holder → company edges weighted by ratio, and each node's label."""
    g = nx.DiGraph()
    for row in store.read(queries.SHAREHOLDINGS):
        if row["ratio"] is None:
            continue
        g.add_node(row["holder"], label=row["holder_label"])
        g.add_node(row["company"], label="Enterprise")
        g.add_edge(row["holder"], row["company"], ratio=float(row["ratio"]))
    return g


def effective_shares(
    g: nx.DiGraph, company: str, max_depth: int = 10, min_share: float = 1e-6
) -> list[Ownership]:
    """Every holder's effective share in ``company`` through all simple ownership paths."""
    shares: dict[str, float] = defaultdict(float)
    paths: dict[str, list[list[str]]] = defaultdict(list)

    def walk(node: str, product: float, path: list[str]) -> None:
        for holder in g.predecessors(node):
            if holder in path:  # cycle: never revisit
                continue
            p = product * g[holder][node]["ratio"]
            if p < min_share:
                continue
            full = [holder, *path]
            shares[holder] += p
            paths[holder].append(full)
            if len(full) <= max_depth:
                walk(holder, p, full)

    if company in g:
        walk(company, 1.0, [company])
    return sorted(
        (Ownership(h, company, round(s, 10), paths[h]) for h, s in shares.items()),
        key=lambda o: (-o.share, o.holder),
    )


def beneficial_owners(g: nx.DiGraph, company: str, threshold: float = 0.25) -> list[Ownership]:
    """Holders at the top of the chains (no holder above them in the data) — natural persons
    above all — whose effective share reaches the threshold."""
    return [
        o
        for o in effective_shares(g, company)
        if o.share >= threshold - 1e-12 and g.in_degree(o.holder) == 0
    ]


def related_party_groups(store: GraphStore, min_size: int = 2) -> list[list[str]]:
    """Connected components over shareholding, legal-representative and branch edges."""
    g = nx.Graph()
    for row in store.read(queries.CONTROL_EDGES):
        g.add_edge(row["src"], row["dst"])
    groups = [sorted(c) for c in nx.connected_components(g) if len(c) >= min_size]
    return sorted(groups, key=lambda c: (-len(c), c[0]))


def shared_contacts(store: GraphStore, min_size: int = 3) -> list[dict[str, Any]]:
    """Addresses and phones used by at least ``min_size`` enterprises."""
    out: list[dict[str, Any]] = []
    for rel, lab in (("LOCATED_AT", "Address"), ("USES_PHONE", "Phone")):
        for row in store.read(
            queries.SHARED_CONTACT.format(rel=rel, label=lab), {"min_size": min_size}
        ):
            out.append(
                {"kind": lab, "contact": row["contact"], "enterprises": sorted(row["companies"])}
            )
    return out
