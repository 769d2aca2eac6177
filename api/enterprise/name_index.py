"""An in-memory bigram index over enterprise names and former names.

``CONTAINS`` over the graph scans every enterprise (≈100 ms at 100,000 on the bench machine)
and FalkorDB's full-text index misses Chinese words its segmenter does not know; Chinese
names are short, so a bigram posting list per character pair narrows a query to a few
candidates, which are then checked for the whole substring. Entries are numbered in search
order (name length, uid), so matches come out sorted. Every time-to-live the holder reads
the graph's change marker (graph/marker.py, one small query) and rebuilds the index in the
background — off the event loop — only when a load changed the graph (a graph without a
marker is rebuilt every time-to-live): new loads show up in search within that time.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from api.graphio import ApiGraph
from graph import api_queries
from graph.marker import read_version_async


def _grams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


@dataclass(frozen=True, slots=True)
class Entry:
    uid: str
    name: str
    texts: tuple[str, ...]  # name and former names


class NameIndex:
    def __init__(self, rows: Iterable[tuple[str, str, list[str]]]) -> None:
        entries = [Entry(uid, name, (name, *formers)) for uid, name, formers in rows if name]
        entries.sort(key=lambda e: (len(e.name), e.uid))
        self.entries = entries
        self.keys = [(len(e.name), e.uid) for e in entries]
        postings: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            for g in set().union(*(_grams(t) for t in e.texts)):
                postings.setdefault(g, []).append(i)
        self.postings = {g: array("i", ids) for g, ids in postings.items()}

    def search(self, text: str) -> list[int]:
        """Entry numbers whose name or a former name contains ``text`` (len ≥ 2), in order."""
        lists = [self.postings.get(g) for g in _grams(text)]
        if not lists or any(p is None for p in lists):
            return []
        present = [p for p in lists if p is not None]
        present.sort(key=len)
        candidates = set(present[0])
        for p in present[1:]:
            candidates.intersection_update(p)
            if not candidates:
                return []
        return sorted(i for i in candidates if any(text in t for t in self.entries[i].texts))

    def after(self, matches: list[int], key: tuple[int, str]) -> int:
        """Position in ``matches`` of the first entry after the keyset ``key``."""
        return bisect.bisect_right([self.keys[i] for i in matches], key)


class NameIndexHolder:
    """The app's indexes (enterprises, persons): built on first use; after ``ttl`` s a
    background check rebuilds them if the graph's version changed since."""

    def __init__(self, graph: ApiGraph, ttl: float) -> None:
        self.graph, self.ttl = graph, ttl
        self.index: NameIndex | None = None
        self.persons: NameIndex | None = None
        self.built_at = 0.0
        self.version: str | None = None
        self.builds = 0
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None

    async def _build(self, version: str | None) -> None:
        rows = await self.graph.read(api_queries.ENTERPRISE_NAMES, timeout=120.0)
        people = await self.graph.read(api_queries.PERSON_NAMES, timeout=120.0)
        ents = [(r["uid"], r["name"], r["former_names"] or []) for r in rows]
        names: list[tuple[str, str, list[str]]] = [(r["uid"], r["name"], []) for r in people]
        # building takes seconds at 100,000 names: in a thread, so requests keep being served
        self.index, self.persons = await asyncio.to_thread(
            lambda: (NameIndex(ents), NameIndex(names))
        )
        self.version = version
        self.built_at = time.monotonic()
        self.builds += 1

    async def get_persons(self) -> NameIndex:
        await self.get()
        assert self.persons is not None
        return self.persons

    async def get(self) -> NameIndex:
        if self.index is None:
            async with self._lock:
                if self.index is None:
                    await self._build(await read_version_async(self.graph))
        elif time.monotonic() - self.built_at > self.ttl and self._refresh is None:
            self._refresh = asyncio.create_task(self._rebuild())
        assert self.index is not None
        return self.index

    async def _rebuild(self) -> None:
        try:
            with contextlib.suppress(Exception):  # the old index serves; the next one retries
                version = await read_version_async(self.graph)
                if version is None or version != self.version:
                    await self._build(version)
                else:
                    self.built_at = time.monotonic()  # still current: check again after ttl
        finally:
            self._refresh = None
