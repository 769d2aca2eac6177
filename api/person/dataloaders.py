"""Person loaders (one statement per batch of uids)."""

from __future__ import annotations

from api.graphio import ApiGraph
from api.loaders import NodeLoader
from graph import api_queries


def persons_by_uid(graph: ApiGraph) -> NodeLoader:
    return NodeLoader(graph, api_queries.PERSONS_BY_UID, "Person")
