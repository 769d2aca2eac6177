"""Relations (variable-length, depth ≤ 3) and ultimate controllers (graph.analytics)."""

from __future__ import annotations

from typing import Any

import networkx as nx
from graphql import GraphQLError

from api.context import RequestContext
from api.enterprise.resolvers import current_uid
from graph import analytics, api_queries

ALL_TYPES = ("LEGAL_REP_OF", "SERVES_AS", "HOLDS_SHARES", "BRANCH_OF")
MAX_RELATIONS = 500


async def relations(
    c: RequestContext, uid: str, depth: int, types: list[str] | None
) -> list[dict[str, Any]]:
    if not 1 <= depth <= 3:
        raise GraphQLError("depth must be 1, 2 or 3")
    chosen = [t for t in ALL_TYPES if t in (types or ALL_TYPES)]  # whitelist, fixed order
    if not chosen:
        raise GraphQLError("types must name at least one relation type")
    target = await current_uid(c, uid)
    text = api_queries.RELATIONS.format(types="|".join(chosen), depth=int(depth))
    rows = await c.graph.read(text, {"uid": target, "limit": MAX_RELATIONS})
    for r in rows:
        c.returned_ids.update(x for x in (r["from_uid"], r["to_uid"]) if x)
    return rows


async def ultimate_controllers(
    c: RequestContext, uid: str, threshold: float
) -> list[dict[str, Any]]:
    if not 0 < threshold <= 1:
        raise GraphQLError("threshold must be in (0, 1]")
    target = await current_uid(c, uid)
    rows = await c.graph.read(api_queries.UPSTREAM_SHARES, {"uid": target})
    g = nx.DiGraph()
    names: dict[str, tuple[str, str | None]] = {}
    for r in rows:
        if r["ratio"] is None:
            continue
        g.add_node(r["holder"], label=r["holder_label"])
        g.add_node(r["company"], label="Enterprise")
        g.add_edge(r["holder"], r["company"], ratio=float(r["ratio"]))
        names[r["holder"]] = (r["holder_label"], r["holder_name"])
    owners = analytics.beneficial_owners(g, target, threshold)
    c.returned_ids.update(o.holder for o in owners)
    return [
        {
            "uid": o.holder,
            "label": names.get(o.holder, ("", None))[0],
            "name": names.get(o.holder, ("", None))[1],
            "share": o.share,
            "paths": o.paths,
        }
        for o in owners
    ]
