"""Enterprise loaders (one statement per batch of uids)."""

from __future__ import annotations

from typing import Any

from api.graphio import ApiGraph
from api.loaders import GroupLoader, NodeLoader, node
from graph import api_queries


def enterprises_by_uid(graph: ApiGraph) -> NodeLoader:
    return NodeLoader(graph, api_queries.ENTERPRISES_BY_UID, "Enterprise")


def legal_reps(graph: ApiGraph) -> GroupLoader:
    return GroupLoader(graph, api_queries.LEGAL_REPS, lambda r: node(r["node"], "Person"))


def _holder(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": row["uid"],
        "label": row["label"],
        "name": row["name"],
        "ratio": row["ratio"],
    }


def shareholders(graph: ApiGraph) -> GroupLoader:
    return GroupLoader(graph, api_queries.SHAREHOLDERS, _holder)


def branches(graph: ApiGraph) -> GroupLoader:
    return GroupLoader(graph, api_queries.BRANCHES, lambda r: node(r["node"], "Enterprise"))


def parents(graph: ApiGraph) -> GroupLoader:
    return GroupLoader(graph, api_queries.PARENTS, lambda r: node(r["node"], "Enterprise"))


def _declaration(row: dict[str, Any]) -> dict[str, Any]:
    return node(row["node"], "TaxDeclaration")


def tax_declarations(graph: ApiGraph) -> GroupLoader:
    return GroupLoader(graph, api_queries.TAX_DECLARATIONS, _declaration)
