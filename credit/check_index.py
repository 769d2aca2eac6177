"""The credit check's index of every current enterprise, built once per graph version.

Building it reads every enterprise's keys and standardises 100,000 names (seconds); the API
answered each ``creditCheck`` with a fresh one. :class:`CheckIndexCache` keeps one index per
graph, keyed by the graph's change marker (:mod:`graph.marker`, bumped by every load), so a
load is seen at the next check. A graph that was never marked has no version to key on: its
index is built for every check, as before."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from credit import queries as q
from credit.matching import CheckIndex
from graph import marker
from graph.store import AsyncGraphStore, GraphStore


def target_of(store: Any) -> tuple[Any, ...]:
    """Which graph a store (or the API's wrapper of one) talks to."""
    inner = getattr(store, "store", store)
    uri = getattr(inner, "uri", None)
    if uri is None:
        return ("store", id(inner))
    return (uri.scheme, uri.host, uri.port, uri.database)


class CheckIndexCache:
    """Indexes by (graph, version); ``builds`` counts the indexes built (tests read it)."""

    def __init__(self, max_graphs: int = 4) -> None:
        self.max_graphs = max_graphs
        self.builds = 0
        self._entries: dict[tuple[Any, ...], tuple[str, CheckIndex]] = {}
        self._mutex = threading.Lock()

    def _cached(self, target: tuple[Any, ...], version: str | None) -> CheckIndex | None:
        with self._mutex:
            found = self._entries.get(target)
        return found[1] if found and version is not None and found[0] == version else None

    def _keep(self, target: tuple[Any, ...], version: str | None, index: CheckIndex) -> None:
        with self._mutex:
            self.builds += 1
            if version is None:
                return
            self._entries.pop(target, None)
            self._entries[target] = (version, index)
            while len(self._entries) > self.max_graphs:
                self._entries.pop(next(iter(self._entries)))

    def get(self, store: GraphStore) -> CheckIndex:
        target, version = target_of(store), marker.read_version(store)
        index = self._cached(target, version)
        if index is None:
            rows = store.read(q.ENTERPRISE_KEYS)
            index = CheckIndex.build((r["k"] for r in rows), _formers(rows))
            self._keep(target, version, index)
        return index

    async def get_async(self, store: AsyncGraphStore) -> CheckIndex:
        target, version = target_of(store), await marker.read_version_async(store)
        index = self._cached(target, version)
        if index is None:
            rows = await store.read(q.ENTERPRISE_KEYS)
            keys = [r["k"] for r in rows]
            # CPU: off the event loop
            index = await asyncio.to_thread(CheckIndex.build, keys, _formers(rows))
            self._keep(target, version, index)
        return index


#: The process's cache: the API's ``creditCheck`` and ``credgraph credit check`` share it.
CHECK_INDEXES = CheckIndexCache()


def _formers(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """uid -> former names, from :data:`credit.queries.ENTERPRISE_KEYS` rows' ``fs`` column."""
    out: dict[str, list[str]] = {}
    for r in rows:
        fs = r.get("fs")
        if fs:
            out[r["k"].split(q.KEY_SEPARATOR, 1)[0]] = [str(f) for f in fs if f]
    return out
