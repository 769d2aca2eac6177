"""Bulk paths for initial loads: the same node and relationship tables as the MERGE path
(:func:`graph.load.read_run`), written as CSV.

- FalkorDB: ``falkordb-bulk-insert`` (PyPI ``falkordb-bulk-loader``, GRAPH.BULK) builds the
  graph from typed CSV (``uid:ID(Label)``, ``name:STRING``, …) in a child process that gets
  its arguments on stdin (the password never on a command line) and reads UTF-8.
- Neo4j: CSV files in the layout ``neo4j-admin database import full`` reads, and the command
  line to run (docs/graph-compat.md).

The loader trims strings and reads a blank field as no property; the tables already hold
trimmed, non-blank values (graph.load._Cleaner), so both paths give the same graph.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.store import GraphStore, GraphStoreError

if TYPE_CHECKING:
    from graph.load import LoadProgress, RunGraph

_FALKOR_TYPES = {bool: "BOOLEAN", int: "INT", float: "DOUBLE", str: "STRING", list: "ARRAY"}
_NEO4J_TYPES = {bool: "boolean", int: "long", float: "double", str: "string", list: "string[]"}
ARRAY_DELIMITER = "\x1f"  # never in a value: control characters are escaped


class BulkError(GraphStoreError):
    """The bulk path cannot be used or failed."""


def available(store: GraphStore) -> bool:
    """The bulk path exists for the FalkorDB backend (with falkordb-bulk-loader installed)."""
    if store.backend != "falkordb":
        return False
    try:
        import falkordb_bulk_loader  # noqa: F401
    except ImportError:
        return False
    return True


def graph_is_empty(store: GraphStore) -> bool:
    """True when the graph holds no node; an empty graph key (indexes only) is dropped so
    that the bulk loader, which refuses an existing key, can build it."""
    name = store.uri.database  # type: ignore[attr-defined]
    if not store.command("EXISTS", name):  # type: ignore[attr-defined]
        return True
    if store.read("MATCH (n) RETURN count(n) AS n")[0]["n"]:
        return False
    store.command("GRAPH.DELETE", name)  # type: ignore[attr-defined]
    return True


def _columns(rows: list[dict[str, Any]]) -> list[tuple[str, type]]:
    """Each property's column type: the type most of its values have. A CSV column holds one
    type; values of another type (a quantity written as text by one department) are set
    after the bulk load, one by one (:func:`_patches`)."""
    seen: dict[str, Counter[type]] = {}
    for r in rows:
        for k, v in r["props"].items():
            if k != "uid":
                seen.setdefault(k, Counter())[type(v)] += 1
    return sorted((k, c.most_common(1)[0][0]) for k, c in seen.items())


def _fits(v: Any, t: type) -> bool:
    return v is None or type(v) is t


def _cell(v: Any, array: str) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return repr([str(x) for x in v]) if array == "repr" else ARRAY_DELIMITER.join(v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_csv(
    graph: RunGraph, out: Path, flavour: str
) -> tuple[list[Any], list[Any], list[tuple[str, str, str, Any]]]:
    """Node and relationship CSV files for ``falkordb`` or ``neo4j``; returns
    ([(label, path)], [(type, path)], [(label, uid, property, value)] left to set)."""
    out.mkdir(parents=True, exist_ok=True)
    types = _FALKOR_TYPES if flavour == "falkordb" else _NEO4J_TYPES
    array = "repr" if flavour == "falkordb" else "delimited"
    node_files: list[tuple[str, Path]] = []
    rel_files: list[tuple[str, Path]] = []
    ids: dict[str, set[str]] = {}
    patches: list[tuple[str, str, str, Any]] = []
    for lab, rows in graph.nodes.items():
        ids[lab] = {r["uid"] for r in rows}
        cols = _columns(rows)
        path = out / f"nodes_{lab}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            head = [f"uid:ID({lab})", *(f"{k}:{types[t]}" for k, t in cols)]
            w.writerow(head + ([":LABEL"] if flavour == "neo4j" else []))
            for r in rows:
                cells = [r["uid"]]
                for k, t in cols:
                    v = r["props"].get(k)
                    if not _fits(v, t):
                        patches.append((lab, r["uid"], k, v))
                        v = None
                    cells.append(_cell(v, array))
                w.writerow(cells + ([lab] if flavour == "neo4j" else []))
        node_files.append((lab, path))
    for (rel, a, b), rows in graph.rels.items():
        present = [r for r in rows if r["src"] in ids.get(a, ()) and r["dst"] in ids.get(b, ())]
        if not present:
            continue
        cols = _columns(present)
        path = out / f"rels_{rel}_{a}_{b}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            head = [f":START_ID({a})", f":END_ID({b})", *(f"{k}:{types[t]}" for k, t in cols)]
            w.writerow(head + ([":TYPE"] if flavour == "neo4j" else []))
            for r in present:
                cells = [r["src"], r["dst"]]
                for k, t in cols:
                    v = r["props"].get(k)
                    if not _fits(v, t):
                        raise BulkError(f"{rel} property {k} mixes types; use the MERGE path")
                    cells.append(_cell(v, array))
                w.writerow(cells + ([rel] if flavour == "neo4j" else []))
        rel_files.append((rel, path))
    return node_files, rel_files, patches


def written_counts(graph: RunGraph) -> Counter[str]:
    """Source rows per relationship step whose both end nodes are in the tables."""
    ids = {lab: {r["uid"] for r in rows} for lab, rows in graph.nodes.items()}
    out: Counter[str] = Counter()
    for (rel, a, b), rows in graph.rels.items():
        out[f"rels:{rel}:{a}:{b}"] = sum(
            r["w"] for r in rows if r["src"] in ids.get(a, ()) and r["dst"] in ids.get(b, ())
        )
    return out


_CHILD = (
    "import json, sys\n"
    "from falkordb_bulk_loader.bulk_insert import bulk_insert\n"
    "bulk_insert.main(args=json.loads(sys.stdin.read()), standalone_mode=True)\n"
)


def load(store: GraphStore, graph: RunGraph, progress: LoadProgress | None = None) -> Counter[str]:
    """Build the (empty) target graph with GRAPH.BULK; returns rows written per step."""
    uri = store.uri  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="credgraph-bulk-") as tmp:
        nodes, rels, patches = write_csv(graph, Path(tmp), "falkordb")
        if progress:
            progress("bulk: CSV written", 0)
        auth = f":{uri.password}@" if uri.password else ""
        args = [uri.database, "-u", f"redis://{auth}{uri.host}:{uri.port}", "-d", "-j", "STRING"]
        args += ["-q", "0", "-x", "none"]
        for lab, path in nodes:
            args += ["-N", lab, str(path)]
        for rel, path in rels:
            args += ["-R", rel, str(path)]
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps(args),
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONUTF8": "1"},
            check=False,
        )
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise BulkError(f"bulk load failed: {lines[-1] if lines else proc.returncode}")
    from graph import queries
    from graph.dialect import label

    by_prop: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for lab, uid, prop, value in patches:
        by_prop.setdefault((lab, prop), []).append({"uid": uid, "props": {prop: value}})
    for (lab, _prop), rows in sorted(by_prop.items()):
        store.write_batch(queries.SET_PROPS.format(label=label(lab)), rows)
    if progress:
        progress("bulk: graph built", sum(len(r) for r in graph.nodes.values()))
    return written_counts(graph)


def export_neo4j(graph: RunGraph, out: Path, database: str = "neo4j") -> tuple[str, int]:
    """CSV files for ``neo4j-admin database import full``; returns the command to run and
    how many values differ in type from their column (left out of the CSV: the MERGE load
    that follows the import sets them, see docs/graph-compat.md)."""
    nodes, rels, patches = write_csv(graph, out, "neo4j")
    parts = ["neo4j-admin database import full"]
    parts += [f"--nodes={lab}={path.name}" for lab, path in nodes]
    parts += [f"--relationships={rel}={path.name}" for rel, path in rels]
    parts += ["--array-delimiter=U+001F", "--multiline-fields=true", database]
    command = " \\\n  ".join(parts)
    (out / "import.sh").write_text(
        f'#!/bin/sh\n# run in this directory, Neo4j stopped\ncd "$(dirname "$0")"\n{command}\n',
        "utf-8",
    )
    return command, len(patches)
