"""The graph's change marker: one ``GraphMarker`` node whose ``version`` changes whenever a
load brings a run the graph did not hold yet (at its start and at its end, so an interrupted
load leaves a version of its own). What is derived from the graph and kept in memory — the
credit check's index of every enterprise — is keyed by this version and rebuilt after a load.

Reloading the run the graph already holds changes nothing (loads stay idempotent)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from graph.store import AsyncGraphStore, GraphStore, GraphStoreError

LABEL = "GraphMarker"
READ = f"MATCH (m:{LABEL} {{uid: 'graph'}}) RETURN m.version AS version, m.run AS run"
WRITE = (
    f"MERGE (m:{LABEL} {{uid: 'graph'}}) SET m.version = $version, m.run = $run, m.changed_at = $at"
)
#: The files of a run (Contract 2) whose content a token stands for, when it has no run.json.
RUN_FILES = ("golden.jsonl", "edges.jsonl", "events.jsonl", "links.csv", "changes.json")


def run_token(run_dir: Path) -> str:
    """A short digest naming a run's content: its completion marker (run.json, which holds
    every file's digest) or, for a run without one, its files' names, sizes and times."""
    h = hashlib.sha256()
    marker = run_dir / "run.json"
    if marker.exists():
        h.update(marker.read_bytes())
    else:
        for name in RUN_FILES:
            p = run_dir / name
            if p.exists():
                st = p.stat()
                h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:20]


def _read(rows: list[dict[str, object]]) -> tuple[str | None, str | None]:
    if not rows:
        return None, None
    v, r = rows[0].get("version"), rows[0].get("run")
    return (str(v) if v is not None else None), (str(r) if r is not None else None)


def read_version(store: GraphStore) -> str | None:
    """The graph's current version (None: never marked)."""
    try:
        return _read(store.read(READ))[0]
    except GraphStoreError as exc:
        if "empty key" in str(exc):  # FalkorDB: nothing was ever written to this graph
            return None
        raise


async def read_version_async(store: AsyncGraphStore) -> str | None:
    try:
        return _read(await store.read(READ))[0]
    except GraphStoreError as exc:
        if "empty key" in str(exc):
            return None
        raise


def mark(store: GraphStore, run: str, *, unless: tuple[str, ...] = ()) -> str:
    """Record that the graph now holds ``run`` (a token, or any name of a change): a new
    version unless the graph already says ``run`` (or one of ``unless``). Returns the
    current version."""
    try:
        version, current = _read(store.read(READ))
    except GraphStoreError as exc:
        if "empty key" not in str(exc):
            raise
        version, current = None, None
    if version is not None and (current == run or current in unless):
        return version
    new = hashlib.sha256(f"{version}|{run}".encode()).hexdigest()[:20]
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    store.run(WRITE, {"version": new, "run": run, "at": at})
    return new
