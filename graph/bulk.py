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
import struct
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.store import GraphStore, GraphStoreError

if TYPE_CHECKING:
    from graph.load import LoadProgress, Row, RunGraph

_NEO4J_TYPES = {bool: "boolean", int: "long", float: "double", str: "string", list: "string[]"}
ARRAY_DELIMITER = "\x1f"  # never in a value: control characters are escaped
#: Entries per GRAPH.BULK token (one call each): small enough to keep a call's payload to a
#: few megabytes, large enough that the calls' overhead does not count.
CHUNK = 50_000


class BulkError(GraphStoreError):
    """The bulk path cannot be used or failed."""


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
_NONE = b"\x00"
_TRUE, _FALSE = b"\x01\x01", b"\x01\x00"
_DOUBLE = struct.Struct("=Bd").pack
_LONG = struct.Struct("=Bq").pack
_ARRAY = struct.Struct("=Bq").pack
_ENDS = struct.Struct("=QQ").pack


def _string(v: str) -> bytes:
    return b"\x03" + v.encode() + b"\x00"


def _value(v: Any) -> bytes:
    """One typed property value (see the module docstring)."""
    t = type(v)
    if isinstance(v, str):
        return _string(v)
    if v is None:
        return _NONE
    if t is bool:
        return _TRUE if v else _FALSE
    if t is int:
        return _LONG(4, v)
    if t is float:
        return _DOUBLE(2, v)
    if t is list:
        return _ARRAY(5, len(v)) + b"".join(_string(str(x)) for x in v)
    raise BulkError(f"cannot store a {t.__name__} value")


def _column(rows: list[Row], key: str) -> list[bytes]:
    """One property's values for these rows, packed: all-string columns (most of them) take
    a short path."""
    values = [r["props"].get(key) for r in rows]
    if all(type(v) is str or v is None for v in values):
        return [_NONE if v is None else b"\x03" + v.encode() + b"\x00" for v in values]
    return [_value(v) for v in values]


def _token(name: str, keys: list[str], columns: list[list[bytes]]) -> bytes:
    """Header and entries: the entries' values interleaved row by row."""
    head = [name.encode() + b"\x00", struct.pack("=I", len(keys))]
    head += [k.encode() + b"\x00" for k in keys]
    body = b"".join([b for row in zip(*columns, strict=True) for b in row])
    return b"".join(head) + body


def _keys(rows: list[Row]) -> list[str]:
    return sorted({k for r in rows for k in r["props"]})


def payloads(graph: RunGraph) -> Iterator[tuple[int, int, bytes, int]]:
    """(nodes, relationships, token, rows) per GRAPH.BULK call, nodes first; relationships
    whose end node is not in the tables are left out (counted by :func:`written_counts`)."""
    ids: dict[str, dict[str, int]] = {}
    next_id = 0
    for lab, rows in graph.nodes.items():
        ids[lab] = {r["uid"]: next_id + i for i, r in enumerate(rows)}
        next_id += len(rows)
        keys = _keys(rows)
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i : i + CHUNK]
            yield len(chunk), 0, _token(lab, keys, [_column(chunk, k) for k in keys]), len(chunk)
    for (rel, a, b), rows in graph.rels.items():
        src_ids, dst_ids = ids.get(a, {}), ids.get(b, {})
        present = [r for r in rows if r["src"] in src_ids and r["dst"] in dst_ids]
        keys = _keys(present)
        for i in range(0, len(present), CHUNK):
            chunk = present[i : i + CHUNK]
            ends = [_ENDS(src_ids[r["src"]], dst_ids[r["dst"]]) for r in chunk]
            token = _token(rel, keys, [ends, *(_column(chunk, k) for k in keys)])
            yield 0, len(chunk), token, len(chunk)


def written_counts(graph: RunGraph) -> Counter[str]:
    """Source rows per relationship step whose both end nodes are in the tables."""
    ids = {lab: {r["uid"] for r in rows} for lab, rows in graph.nodes.items()}
    out: Counter[str] = Counter()
    for (rel, a, b), rows in graph.rels.items():
        out[f"rels:{rel}:{a}:{b}"] = sum(
            r["w"] for r in rows if r["src"] in ids.get(a, ()) and r["dst"] in ids.get(b, ())
        )
    return out


def load(store: GraphStore, graph: RunGraph, progress: LoadProgress | None = None) -> Counter[str]:
    """Build the (empty) target graph with GRAPH.BULK; returns rows written per step. The
    next call's payload is packed while the server works on the previous one."""
    name = store.uri.database  # type: ignore[attr-defined]
    command = store.command  # type: ignore[attr-defined]
    sent = {"nodes": 0, "rels": 0}

    def send(first: bool, nodes: int, rels: int, token: bytes) -> None:
        args: list[Any] = ["BEGIN"] if first else []
        args += [nodes, rels, 1 if nodes else 0, 0 if nodes else 1, token]
        try:
            reply = command("GRAPH.BULK", name, *args)
        except Exception as e:  # the server's reply, said in one line
            raise BulkError(f"bulk load failed: {str(e).splitlines()[0]}") from e
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        made = [int(part.split()[0]) for part in text.split(", ")[:2]]
        sent["nodes"] += made[0]
        sent["rels"] += made[1]

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[None] | None = None
        first = True
        for nodes, rels, token, rows in payloads(graph):
            if pending is not None:
                pending.result()
            pending = pool.submit(send, first, nodes, rels, token)
            first = False
            if progress:
                progress("bulk", rows)
        if pending is not None:
            pending.result()
    if first:  # nothing to send: the graph stays empty, as the MERGE path would leave it
        return Counter()
    expected_nodes = sum(len(r) for r in graph.nodes.values())
    if sent["nodes"] != expected_nodes:
        raise BulkError(f"bulk load created {sent['nodes']} nodes, expected {expected_nodes}")
    return written_counts(graph)


# -- Neo4j import files ------------------------------------------------------------------------
def _columns(rows: list[dict[str, Any]]) -> list[tuple[str, type]]:
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
    for lab, rows in graph.nodes.items():
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
    for (rel, a, b), rows in graph.rels.items():
        present = [r for r in rows if r["src"] in ids.get(a, ()) and r["dst"] in ids.get(b, ())]
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
