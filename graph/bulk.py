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
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass, field
from itertools import compress
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


def node_ids(graph: RunGraph, order: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Each node's ID in the new graph: its position in the order the nodes are sent
    (``order``: of the labels, else the tables' own)."""
    labels = order if order is not None else list(graph.nodes)
    return _ids([(lab, NodeTable.from_rows(graph.nodes[lab])) for lab in labels])


def _ids(tables: Iterable[tuple[str, NodeTable]]) -> dict[str, dict[str, int]]:
    ids: dict[str, dict[str, int]] = {}
    next_id = 0
    for lab, table in tables:
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
    yield from _table_payloads(_nodes(graph))


def _rel_payloads(
    graph: RunGraph | list[tuple[tuple[str, str, str], RelTable]],
    ids: dict[str, dict[str, int]],
    written: Counter[str] | None = None,
    skip: frozenset[tuple[str, str, str]] = frozenset(),
) -> Iterator[tuple[int, int, bytes, int]]:
    """The relationship tokens (of a run's tables, or of the tables given), but those of
    ``skip`` (sent already); ``written``: where the source rows per relationship step
    whose both end nodes are in the tables are counted."""
    tables = graph if isinstance(graph, list) else _rels(graph)
    for (rel, a, b), table in tables:
        if (rel, a, b) in skip:
            continue
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


def _pack_rels(
    graph: RunGraph,
    ids: dict[str, dict[str, int]],
    out: Any,
    parent_pid: int,
    skip: frozenset[tuple[str, str, str]] = frozenset(),
) -> None:
    """In the packing process: every relationship token, the written rows per step (a
    dict), then None (or the error's text). It dies with the loading process, however that
    dies: orphaned, it would wait forever on a full queue that nobody reads (it holds the
    queue's reading end itself)."""
    die_with_parent(parent_pid)
    try:
        written: Counter[str] = Counter()
        for item in _rel_payloads(graph, ids, written, skip):
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

    def __init__(
        self,
        graph: RunGraph,
        ids: dict[str, dict[str, int]],
        skip: frozenset[tuple[str, str, str]] = frozenset(),
    ) -> None:
        self.graph, self.ids, self.skip = graph, ids, skip
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
            self.proc = ctx.Process(
                target=_pack_rels, args=(graph, ids, self.results, os.getpid(), skip)
            )
            self.proc.daemon = True
            self.proc.start()

    def __iter__(self) -> Iterator[tuple[int, int, bytes, int]]:
        if self.proc is None:
            yield from _rel_payloads(self.graph, self.ids, self.written, self.skip)
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


class _Sender:
    """GRAPH.BULK calls, one in flight: a thread sends each while the caller packs the next
    (the server takes calls one at a time, so more in flight would not help). The graph's
    indexes are created right after the first call, nearly empty: GRAPH.BULK keeps them up
    to date node by node, cheaper for the server than building them over the finished graph
    (measured: 7.8 -> 5.6 s server CPU on the 1M run)."""

    def __init__(self, store: GraphStore, result: BulkResult) -> None:
        self.store, self.result = store, result
        self.name = store.uri.database  # type: ignore[attr-defined]
        self.command = store.command  # type: ignore[attr-defined]
        self.pool: ThreadPoolExecutor | None = None
        self.pending: Future[Any] | None = None
        self.calls = 0  # calls sent (or on their way)

    def put(self, item: tuple[int, int, bytes, int]) -> None:
        """Send a call once the previous one is through (its error raised here)."""
        self.wait()
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=1)
        nodes, rels, token, _ = item
        if self.calls == 1:
            self.pending = self.pool.submit(self._indexes_then_send, nodes, rels, token)
        else:
            self.pending = self.pool.submit(self._send, self.calls == 0, nodes, rels, token)
        self.calls += 1

    def wait(self) -> None:
        """The call in flight is through."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def stop(self) -> None:
        """The call in flight through and the sending thread gone (before a fork)."""
        try:
            self.wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown()
                self.pool = None

    def _indexes_then_send(self, nodes: int, rels: int, token: bytes) -> None:
        ensure_schema(self.store)
        self._send(False, nodes, rels, token)

    def _send(self, first: bool, nodes: int, rels: int, token: bytes) -> None:
        args: list[Any] = ["BEGIN"] if first else []
        args += [nodes, rels, 1 if nodes else 0, 0 if nodes else 1, token]
        deadline, pause = time.monotonic() + BUSY_WAIT, 0.05
        while True:
            try:
                reply = self.command("GRAPH.BULK", self.name, *args)
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
            self.result.nodes[what] += made[0]
        if made[1]:
            self.result.relationships[what] += made[1]


class EarlyBulk:
    """A bulk load begun while the run is still read: golden.jsonl's node tables are sent
    as soon as they are read (a thread packs them, another sends them), so the server builds
    them while this process reads the links and the second reader the edges and events.
    Node IDs follow the order nodes are sent: these labels first, then the others.
    :meth:`abort` drops what was sent when the load does not go on (a run refused after its
    reading, an error): the graph was empty."""

    def __init__(self, store: GraphStore, lease: ExitStack | None = None) -> None:
        self.store = store
        self.lease = lease  # AOF rewrites deferred until the load is through
        self.result = BulkResult()
        self.sender = _Sender(store, self.result)
        self.sent: dict[str, NodeTable] = {}  # in the order sent
        self.sent_rels: dict[tuple[str, str, str], RelTable] = {}
        self.written: Counter[str] = Counter()  # of the relationships sent
        self.rows = 0  # nodes and relationships packed so far
        self._packer: ThreadPoolExecutor | None = None
        self._packing: Future[None] | None = None
        self.finished = False

    def more(self, nodes: dict[str, NodeTable], rels: dict[tuple[str, str, str], RelTable]) -> None:
        """Send these nodes, then those relationships whose both ends' labels are sent."""
        new = sorted((lab, t) for lab, t in nodes.items() if lab not in self.sent)
        self.sent.update(new)
        ends = [
            (key, t)
            for key, t in sorted(rels.items())
            if key[1] in self.sent and key[2] in self.sent and key not in self.sent_rels
        ]
        self.sent_rels.update(ends)
        if self._packer is None:
            self._packer = ThreadPoolExecutor(max_workers=1)
        previous = self._packing
        order = list(self.sent.items())
        self._packing = self._packer.submit(self._pack, previous, new, ends, order)

    def _pack(
        self,
        previous: Future[None] | None,
        nodes: list[tuple[str, NodeTable]],
        rels: list[tuple[tuple[str, str, str], RelTable]],
        order: list[tuple[str, NodeTable]],
    ) -> None:
        if previous is not None:
            previous.result()  # (its error raised here too)
        for item in _table_payloads(nodes):
            self.sender.put(item)
            self.rows += item[3]
        if rels:
            for item in _rel_payloads(rels, _ids(order), self.written):
                self.sender.put(item)
                self.rows += item[3]

    def packed(self) -> None:
        """Every early token handed to the sender, the packing thread gone."""
        try:
            if self._packing is not None:
                self._packing.result()
        finally:
            if self._packer is not None:
                self._packer.shutdown()
            self._packer, self._packing = None, None

    def abort(self) -> None:
        """Stop; an unfinished load's graph is deleted (it was empty before)."""
        try:
            if not self.finished:
                self._undo()
        finally:
            if self.lease is not None:
                self.lease.close()
                self.lease = None

    def _undo(self) -> None:
        self.finished = True
        with suppress(Exception):
            self.packed()
        with suppress(Exception):
            self.sender.stop()
        if self.sender.calls:
            self.store.command("GRAPH.DELETE", self.sender.name)  # type: ignore[attr-defined]


def _table_payloads(
    tables: Iterable[tuple[str, NodeTable]],
) -> Iterator[tuple[int, int, bytes, int]]:
    for lab, table in tables:
        keys = table.names()
        for i in range(0, len(table), CHUNK):
            n = min(CHUNK, len(table) - i)
            yield n, 0, _token(lab, keys, _chunk(table.cols, keys, i), n), n


def load(
    store: GraphStore,
    graph: RunGraph,
    progress: LoadProgress | None = None,
    early: EarlyBulk | None = None,
) -> BulkResult:
    """Build the (empty) target graph with GRAPH.BULK (``early``: begun while the run was
    read, its node tables sent first). The next call's payload is packed while the server
    works on the previous one, the relationships' by another process."""
    if early is None:
        early = EarlyBulk(store)
    early.packed()
    for lab, table in early.sent.items():
        if graph.nodes.get(lab) is not table:
            raise BulkError(f"the {lab} nodes changed after they were sent")
    for key, rels in early.sent_rels.items():
        if graph.rels.get(key) is not rels:
            raise BulkError(f"the {key[0]} relationships changed after they were sent")
    if progress and early.rows:
        progress("bulk", early.rows)
    sender, result = early.sender, early.result
    rest = [(lab, t) for lab, t in _nodes(graph) if lab not in early.sent]
    ids = node_ids(graph, [*early.sent, *(lab for lab, _ in rest)])
    with paused_gc():
        for item in _table_payloads(rest):
            sender.put(item)
            if progress:
                progress("bulk", item[3])
        # the packing process is forked while no other thread runs
        sender.stop()
        packer = _RelPacker(graph, ids, frozenset(early.sent_rels))
        with closing(packer):
            for item in packer:
                sender.put(item)
                if progress:
                    progress("bulk", item[3])
            sender.stop()
    early.finished = True
    if not sender.calls:  # nothing to send: the graph stays empty, as MERGE would leave it
        return result
    expected_nodes = sum(len(r) for r in graph.nodes.values())
    if sum(result.nodes.values()) != expected_nodes:
        raise BulkError(
            f"bulk load created {sum(result.nodes.values())} nodes, expected {expected_nodes}"
        )
    result.written = packer.written + early.written
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
