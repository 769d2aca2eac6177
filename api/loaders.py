"""DataLoader building blocks: one graph statement per batch of keys, never one per row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiodataloader import DataLoader

from api.graphio import ApiGraph

Node = dict[str, Any]


def node(props: Node, label: str) -> Node:
    """A graph node as the API passes it around: its properties and its label."""
    return {**props, "_label": label}


class NodeLoader(DataLoader[str, Node | None]):
    """uid → node (or None) through one ``WHERE x.uid IN $uids`` statement per batch."""

    def __init__(self, graph: ApiGraph, query: str, label: str) -> None:
        super().__init__(max_batch_size=500)
        self.graph, self.query, self.label = graph, query, label

    async def batch_load_fn(self, keys: list[str]) -> list[Node | None]:
        rows = await self.graph.read(self.query, {"uids": list(keys)})
        found = {r["node"]["uid"]: node(r["node"], self.label) for r in rows}
        return [found.get(k) for k in keys]


class GroupLoader(DataLoader[str, list[Node]]):
    """uid → the rows a statement returns for it (``key`` column), in statement order."""

    def __init__(
        self, graph: ApiGraph, query: str, shape: Callable[[dict[str, Any]], Node]
    ) -> None:
        super().__init__(max_batch_size=500)
        self.graph, self.query, self.shape = graph, query, shape

    async def batch_load_fn(self, keys: list[str]) -> list[list[Node]]:
        rows = await self.graph.read(self.query, {"uids": list(keys)})
        groups: dict[str, list[Node]] = {k: [] for k in keys}
        for r in rows:
            groups.setdefault(r["key"], []).append(self.shape(r))
        return [groups[k] for k in keys]
