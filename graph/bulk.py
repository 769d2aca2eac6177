"""Bulk paths for initial loads: the same node and relationship tables as the MERGE path
(:func:`graph.load.read_run`).

- FalkorDB: the ``GRAPH.BULK`` binary payload packed in this process straight from the
  tables and sent over the store's own connection (no CSV, no child process). Wire format
  (as FalkorDB's bulk loader sends it): ``GRAPH.BULK graph [BEGIN] nodes rels
  label_tokens reltype_tokens token…``; a token is a header (name NUL, uint32 property
  count, property names NUL-terminated) and then one entry per node — or, for a
  relationship, uint64 source and destination node IDs first — holding one typed value per
  property: a type byte (0 none, 1 bool, 2 double, 3 string, 4 int64, 5 array) and the value
  (NUL-terminated UTF-8 for strings; int64 count then the elements for arrays). Nodes of an
  empty graph get IDs 0, 1, 2, … in the order they are sent, so relationships name their
  ends by position. Every value carries its own type, so a property whose values differ in
  type (a quantity one department writes as text) needs no second pass.
- Neo4j: CSV files in the layout ``neo4j-admin database import full`` reads, and the command
  line to run (docs/graph-compat.md).

The tables hold trimmed, non-blank values without control characters other than newline
and tab (graph.load._Cleaner), so both paths give the same graph.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import queue
import struct
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from itertools import chain, compress, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from graph import bulkpack
from graph.bulkpack import BulkError as BulkError
from graph.dialect import ensure_schema
from graph.store import GraphStore
from graph.tables import NodeTable, RelTable, last_of_each
from resolver.gcpause import paused_gc
from resolver.workers import die_with_parent

if TYPE_CHECKING:
    from graph.load import LoadProgress, RunGraph

_NEO4J_TYPES = {bool: "boolean", int: "long", float: "double", str: "string", list: "string[]"}
ARRAY_DELIMITER = "\x1f"  # never in a value: control characters are escaped
#: Entries per GRAPH.BULK token (one call each): small enough to keep a call's payload to a
#: few megabytes, large enough that the calls' overhead does not count.
CHUNK = 50_000
#: Seconds a GRAPH.BULK call refused with BUSY (the server preparing a fork for an AOF
#: rewrite or snapshot, which a bulk load's own writes trigger) is tried again.
BUSY_WAIT = 60.0


def available(store: GraphStore) -> bool:
    """The bulk path exists for the FalkorDB backend."""
    return store.backend == "falkordb"


def graph_is_empty(store: GraphStore) -> bool:
    """True when the graph holds no node; an empty graph key (indexes only) is dropped so
    that GRAPH.BULK, which refuses an existing key, can build it."""
    name = store.uri.database  # type: ignore[attr-defined]
    if not store.command("EXISTS", name):  # type: ignore[attr-defined]
        return True
    if store.read("MATCH (n) RETURN count(n) AS n")[0]["n"]:
        return False
    store.command("GRAPH.DELETE", name)  # type: ignore[attr-defined]
    return True


# -- GRAPH.BULK payload ----------------------------------------------------------------------
def _token(
    name: str,
    keys: list[str],
    cols: dict[str, list[Any]],
    n: int,
    ends: bulkpack.Column | None = None,
) -> bytes:
    """Header and entries: for each of the ``n`` rows its ends (relationships) and its
    values, in the order of ``keys`` (packed column by column, graph/bulkpack.py)."""
    head = [name.encode() + b"\x00", struct.pack("=I", len(keys))]
    head += [k.encode() + b"\x00" for k in keys]
    columns = [ends] if ends is not None else []
    columns += [bulkpack.column(cols[k]) for k in keys]
    return b"".join(head) + bulkpack.entries(columns, n)


def _both(src: int | None, dst: int | None) -> bool:
    return src is not None and dst is not None


def _nodes(graph: RunGraph) -> Iterator[tuple[str, NodeTable]]:
    for lab, rows in graph.nodes.items():
        yield lab, NodeTable.from_rows(rows)


def _rels(graph: RunGraph) -> Iterator[tuple[tuple[str, str, str], RelTable]]:
    for key, rows in graph.rels.items():
        yield key, RelTable.from_rows(rows)


def node_ids(graph: RunGraph) -> dict[str, dict[str, int]]:
    """Each node's ID in the new graph: its position in the order the nodes are sent."""
    ids: dict[str, dict[str, int]] = {}
    next_id = 0
    for lab, table in _nodes(graph):
        n = len(table)
        ids[lab] = dict(zip(table.uids, range(next_id, next_id + n), strict=True))
        next_id += n
    return ids


def payloads(graph: RunGraph) -> Iterator[tuple[int, int, bytes, int]]:
    """(nodes, relationships, token, rows) per GRAPH.BULK call, nodes first; relationships
    whose end node is not in the tables are left out."""
    yield from _node_payloads(graph)
    yield from _rel_payloads(graph, node_ids(graph))


def _chunk(cols: dict[str, list[Any]], keys: list[str], i: int) -> dict[str, list[Any]]:
    return {k: cols[k][i : i + CHUNK] for k in keys}


def _node_payloads(graph: RunGraph) -> Iterator[tuple[int, int, bytes, int]]:
    for lab, table in _nodes(graph):
        keys = table.names()
        for i in range(0, len(table), CHUNK):
            n = min(CHUNK, len(table) - i)
            yield n, 0, _token(lab, keys, _chunk(table.cols, keys, i), n), n


def _rel_payloads(
    graph: RunGraph, ids: dict[str, dict[str, int]], written: Counter[str] | None = None
) -> Iterator[tuple[int, int, bytes, int]]:
    """The relationship tokens; ``written``: where the source rows per relationship step
    whose both end nodes are in the tables are counted."""
    for (rel, a, b), table in _rels(graph):
        # each end's node ID looked up once (None: not in the tables, the row left out)
        src = list(map(ids.get(a, {}).get, table.src))
        dst = list(map(ids.get(b, {}).get, table.dst))
        if None in src or None in dst:
            keep = list(map(_both, src, dst))
            table = table.where(keep)
            src, dst = list(compress(src, keep)), list(compress(dst, keep))
        src_ids, dst_ids = cast(list[int], src), cast(list[int], dst)  # no None left
        if written is not None:
            written[f"rels:{rel}:{a}:{b}"] = sum(table.w)
        if not table.distinct and (once := _once_per_pair(src_ids, dst_ids)) is not None:
            # rows naming the same two nodes make one relationship, as MERGE makes it:
            # the last row's properties (each row still counts as written)
            table = table.take(once)
            src_ids, dst_ids = (
                list(map(src_ids.__getitem__, once)),
                list(map(dst_ids.__getitem__, once)),
            )
        keys = table.names()
        for i in range(0, len(table), CHUNK):
            ends = bulkpack.ends(src_ids[i : i + CHUNK], dst_ids[i : i + CHUNK])
            n = min(CHUNK, len(table) - i)
            yield 0, n, _token(rel, keys, _chunk(table.cols, keys, i), n, ends), n


def _once_per_pair(src: list[int], dst: list[int]) -> list[int] | None:
    """One row per (source, destination) pair: at its first row's place, its last row
    (see :func:`graph.tables.last_of_each`); None when no pair repeats."""
    if len(src) < 2:
        return None
    pairs = np.array(src, dtype=np.uint64) << np.uint64(32) | np.array(dst, dtype=np.uint64)
    if len(np.unique(pairs)) == len(pairs):
        return None
    return last_of_each(list(zip(src, dst, strict=True)))


def _pack_rels(graph: RunGraph, ids: dict[str, dict[str, int]], out: Any, parent_pid: int) -> None:
    """In the packing process: every relationship token, the written rows per step (a
    dict), then None (or the error's text). It dies with the loading process, however that
    dies: orphaned, it would wait forever on a full queue that nobody reads (it holds the
    queue's reading end itself)."""
    die_with_parent(parent_pid)
    try:
        written: Counter[str] = Counter()
        for item in _rel_payloads(graph, ids, written):
            out.put(item)
        out.put(dict(written))
        out.put(None)
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")


class _RelPacker:
    """The relationship tokens, packed by a forked process (it shares the tables without
    copying them) while this one packs and sends the nodes: Python packing is the slow part
    of a bulk load, and the machine's second core takes half of it. Started on creation;
    in-process where ``fork`` does not exist or this process may not have children."""

    def __init__(self, graph: RunGraph, ids: dict[str, dict[str, int]]) -> None:
        self.graph, self.ids = graph, ids
        self.proc: Any = None
        #: source rows per relationship step whose both end nodes are in the tables (once
        #: every token is through)
        self.written: Counter[str] = Counter()
        # (a daemonic process may not have children: it packs them itself)
        if (
            "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon
        ):
            ctx = multiprocessing.get_context("fork")
            self.results: Any = ctx.Queue()
            self.proc = ctx.Process(target=_pack_rels, args=(graph, ids, self.results, os.getpid()))
            self.proc.daemon = True
            self.proc.start()

    def __iter__(self) -> Iterator[tuple[int, int, bytes, int]]:
        if self.proc is None:
            yield from _rel_payloads(self.graph, self.ids, self.written)
            return
        while True:
            try:
                item = self.results.get(timeout=1.0)
            except queue.Empty:
                if self.proc.is_alive():
                    continue
                raise BulkError(
                    f"the packing process stopped (exit code {self.proc.exitcode})"
                ) from None
            if item is None:
                return
            if isinstance(item, str):
                raise BulkError(f"packing the relationships failed: {item}")
            if isinstance(item, dict):
                self.written.update(item)
                continue
            yield item

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.terminate()
            self.proc.join()
            self.results.close()
            self.proc = None


@dataclass(slots=True)
class BulkResult:
    """What a bulk load wrote: source rows per relationship step (as the MERGE path counts
    them), and nodes per label and relationships per type as the server's replies said."""

    written: Counter[str] = field(default_factory=Counter)
    nodes: Counter[str] = field(default_factory=Counter)
    relationships: Counter[str] = field(default_factory=Counter)


#: Where the indexes are created among the calls (see :func:`load`).
_INDEXES: tuple[int, int, bytes, int] = (0, 0, b"indexes", 0)


def load(store: GraphStore, graph: RunGraph, progress: LoadProgress | None = None) -> BulkResult:
    """Build the (empty) target graph with GRAPH.BULK, its indexes created right after the
    first call (the calls after it fill them as they go). The next call's payload is
    packed while the server works on the previous one, the relationships' by another
    process."""
    name = store.uri.database  # type: ignore[attr-defined]
    command = store.command  # type: ignore[attr-defined]
    result = BulkResult()

    def send(first: bool, nodes: int, rels: int, token: bytes) -> None:
        args: list[Any] = ["BEGIN"] if first else []
        args += [nodes, rels, 1 if nodes else 0, 0 if nodes else 1, token]
        deadline, pause = time.monotonic() + BUSY_WAIT, 0.05
        while True:
            try:
                reply = command("GRAPH.BULK", name, *args)
                break
            except Exception as e:  # the server's reply, said in one line
                said = (str(e).splitlines() or [type(e).__name__])[0]
                # "BUSY preparing to fork": the server is starting a background AOF rewrite
                # or snapshot and refused (did not run) the call; it is sent again.
                if said.startswith("BUSY") and time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(pause * 2, 1.0)
                    continue
                raise BulkError(f"bulk load failed: {said}") from e
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        made = [int(part.split()[0]) for part in text.split(", ")[:2]]
        what = token[: token.index(b"\x00")].decode()  # the token's label or type
        if made[0]:
            result.nodes[what] += made[0]
        if made[1]:
            result.relationships[what] += made[1]

    ids = node_ids(graph)
    # the packing process is forked first, before the sender thread exists
    packer = _RelPacker(graph, ids)
    with paused_gc(), closing(packer), ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[Any] | None = None
        first = True
        node_tokens = _node_payloads(graph)
        for item in chain(islice(node_tokens, 1), [_INDEXES], node_tokens, packer):
            if pending is not None:
                pending.result()
            if item is _INDEXES:
                # the first call made the graph: its indexes are created now, nearly
                # empty, and GRAPH.BULK keeps them up to date node by node — cheaper
                # for the server than building them over the finished graph (measured:
                # 7.8 -> 5.6 s server CPU on the 1M run)
                if not first:
                    pending = pool.submit(ensure_schema, store)
                continue
            nodes, rels, token, rows = item
            pending = pool.submit(send, first, nodes, rels, token)
            first = False
            if progress:
                progress("bulk", rows)
        if pending is not None:
            pending.result()
    if first:  # nothing to send: the graph stays empty, as the MERGE path would leave it
        return result
    expected_nodes = sum(len(r) for r in graph.nodes.values())
    if sum(result.nodes.values()) != expected_nodes:
        raise BulkError(
            f"bulk load created {sum(result.nodes.values())} nodes, expected {expected_nodes}"
        )
    result.written = packer.written
    return result


def wait_for_indexes(store: GraphStore, timeout: float = 600.0) -> None:
    """Return once the graph's indexes are built. FalkorDB builds an index created over
    existing nodes in the background; until it is done, look-ups by ``uid`` scan their
    label — so a bulk load is finished when its indexes are."""
    deadline, pause = time.monotonic() + timeout, 0.05
    while True:
        rows = store.read("CALL db.indexes()")
        # e.g. "[Indexing] 0/0: UNDER CONSTRUCTION", then "OPERATIONAL"
        building = [r for r in rows if "CONSTRUCTION" in str(r.get("status", "")).upper()]
        if not building:
            return
        if time.monotonic() > deadline:
            raise BulkError(f"{len(building)} indexes still being built after {timeout:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


# -- Neo4j import files ------------------------------------------------------------------------
def _columns(rows: Iterable[dict[str, Any]]) -> list[tuple[str, type]]:
    """Each property's column type: the type most of its values have. A CSV column holds one
    type; values of another type (a quantity written as text by one department) are left
    out and set by the MERGE load that follows the import."""
    seen: dict[str, Counter[type]] = {}
    for r in rows:
        for k, v in r["props"].items():
            if k != "uid":
                seen.setdefault(k, Counter())[type(v)] += 1
    return sorted((k, c.most_common(1)[0][0]) for k, c in seen.items())


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ARRAY_DELIMITER.join(v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_csv(graph: RunGraph, out: Path) -> tuple[list[Any], list[Any], int]:
    """Node and relationship CSV files for ``neo4j-admin database import full``; returns
    ([(label, path)], [(type, path)], values left out because their type is not their
    column's)."""
    out.mkdir(parents=True, exist_ok=True)
    node_files: list[tuple[str, Path]] = []
    rel_files: list[tuple[str, Path]] = []
    ids: dict[str, set[str]] = {}
    left_out = 0
    for lab, table in graph.nodes.items():
        rows = list(table)
        ids[lab] = {r["uid"] for r in rows}
        cols = _columns(rows)
        path = out / f"nodes_{lab}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow([f"uid:ID({lab})", *(f"{k}:{_NEO4J_TYPES[t]}" for k, t in cols), ":LABEL"])
            for r in rows:
                cells = [r["uid"]]
                for k, t in cols:
                    v = r["props"].get(k)
                    if v is not None and type(v) is not t:
                        left_out += 1
                        v = None
                    cells.append(_cell(v))
                w.writerow([*cells, lab])
        node_files.append((lab, path))
    for (rel, a, b), rel_table in graph.rels.items():
        present = [
            r for r in rel_table if r["src"] in ids.get(a, ()) and r["dst"] in ids.get(b, ())
        ]
        if not present:
            continue
        cols = _columns(present)
        path = out / f"rels_{rel}_{a}_{b}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            head = [f":START_ID({a})", f":END_ID({b})"]
            w.writerow([*head, *(f"{k}:{_NEO4J_TYPES[t]}" for k, t in cols), ":TYPE"])
            for r in present:
                cells = [r["src"], r["dst"]]
                for k, t in cols:
                    v = r["props"].get(k)
                    if v is not None and type(v) is not t:
                        raise BulkError(f"{rel} property {k} mixes types; use the MERGE path")
                    cells.append(_cell(v))
                w.writerow([*cells, rel])
        rel_files.append((rel, path))
    return node_files, rel_files, left_out


def export_neo4j(graph: RunGraph, out: Path, database: str = "neo4j") -> tuple[str, int]:
    """CSV files for ``neo4j-admin database import full``; returns the command to run and
    how many values differ in type from their column (left out of the CSV: the MERGE load
    that follows the import sets them, see docs/graph-compat.md)."""
    nodes, rels, left_out = write_csv(graph, out)
    parts = ["neo4j-admin database import full"]
    parts += [f"--nodes={lab}={path.name}" for lab, path in nodes]
    parts += [f"--relationships={rel}={path.name}" for rel, path in rels]
    parts += ["--array-delimiter=U+001F", "--multiline-fields=true", database]
    command = " \\\n  ".join(parts)
    (out / "import.sh").write_text(
        f'#!/bin/sh\n# run in this directory, Neo4j stopped\ncd "$(dirname "$0")"\n{command}\n',
        "utf-8",
    )
    return command, left_out
