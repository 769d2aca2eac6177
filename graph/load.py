"""``credgraph load RUN_DIR``: a resolution run (Contract 2 files) into the graph (Contract 3).

The run is first read into node and relationship tables (:func:`read_run`, shared by every
way of writing them): one row per node and per relationship, properties named as DESIGN.md
Contract 3 lists them. Two ways to write them:

- the MERGE path (:func:`plan`): idempotent (MERGE on ``uid``, node properties replaced by
  the run's), batched (UNWIND) and resumable — a checkpoint beside the run, keyed by the
  target graph, records each completed step, so a load killed half-way continues where it
  stopped, and a load into another graph starts from the beginning;
- the bulk path (:mod:`graph.bulk`) for a run loaded into an empty graph.

A stateful run (``changes.json``, see resolver/state/graphsync.py) also says what goes: the
relationships of its affected entities are replaced by the run's, RESOLVED_TO of its records
by the state's, withdrawn records' nodes are deleted, addresses and phones nobody uses any
more are removed. Only ``graph/`` touches the store; this module reads the run's files,
never resolver code.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import multiprocessing
import os
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate, chain, compress, pairwise, repeat
from operator import attrgetter, is_not
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import msgspec
import msgspec.inspect
import numpy as np

from graph import marker, queries
from graph.dialect import ensure_schema, label
from graph.store import GraphStore, GraphStoreError, Neo4jStore
from graph.tables import NodeTable, RelTable, last_of_each, partition
from resolver.csvsafe import restore
from resolver.gcpause import paused_gc, without_gc
from resolver.workers import die_with_parent

if TYPE_CHECKING:
    from graph.bulk import EarlyBulk

CHECKPOINT_PREFIX = ".graph-load-"
EVENT_LABELS = {"credit_event": "CreditEvent", "fact": "Fact", "tax_declaration": "TaxDeclaration"}
#: The properties an event node carries: its standardised facts (the subject's identifiers
#: live on the subject; raw rows stay in the run's events.jsonl).
EVENT_PROPERTIES = (
    "event_type",
    "decision_no",
    "authority",
    "date",
    "severity",
    "amount",
    "publicity_until",
    "description",
    "fact_type",
    "period",
    "period_start",
    "period_end",
    "quantity",
    "unit",
    "reference",
    "tax_type",
    "taxable_amount",
    "tax_paid",
)
#: (_EventValues names the same fields, and "name".)
#: Golden attributes stored under another name in the graph (DESIGN.md Contract 3).
ATTRIBUTE_NAMES = {"status": "registration_status"}
#: Relationship properties taken from edges.jsonl.
EDGE_PROPERTIES = ("role", "ratio", "amount", "start", "end")
#: Relationships of an entity that a stateful run replaces (RESOLVED_TO is per record).
MENTION_RELS = "LEGAL_REP_OF|SERVES_AS|HOLDS_SHARES|BRANCH_OF|SUBJECT_OF"
#: What a row of the run is, per relationship type, for the load summary.
REPORTED = ("RESOLVED_TO", "LEGAL_REP_OF", "SERVES_AS", "HOLDS_SHARES", "BRANCH_OF", "SUBJECT_OF")
RELATIONSHIP_TYPES = frozenset({*REPORTED, "LOCATED_AT", "USES_PHONE", "CONCERNS", "EVIDENCED_BY"})
#: Characters no property value keeps (escaped as ``\\uXXXX`` text): control characters
#: other than newline and tab, and lone surrogates (no UTF-8 can carry them).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
LoadProgress = Callable[[str, int], None]
Row = dict[str, Any]
_Rels = dict[tuple[str, str, str], list[Row]]
RelKey = tuple[str, str, str]


@dataclass(slots=True)
class RelCount:
    """Rows of the run for one relationship type: written, or skipped with a reason."""

    rows: int = 0
    written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class RunGraph:
    """A run as node and relationship tables (what every write path writes)."""

    nodes: dict[str, NodeTable] = field(default_factory=dict)  # label -> its nodes
    rels: dict[RelKey, RelTable] = field(default_factory=dict)
    counts: dict[str, RelCount] = field(default_factory=lambda: defaultdict(RelCount))
    affected: list[str] = field(default_factory=list)  # stateful: entities to re-wire
    withdrawn: dict[str, list[str]] = field(default_factory=dict)  # label -> uids
    resolved_sources: list[Row] = field(default_factory=list)  # stateful: {src, dst}
    golden_ids: list[str] = field(default_factory=list)
    escaped: int = 0  # values whose control characters were escaped
    state: dict[str, Any] | None = None  # stateful: {id, batch_seq, batch_id} of the state

    @property
    def stateful(self) -> bool:
        return bool(self.affected or self.withdrawn or self.resolved_sources)


@dataclass(slots=True)
class Step:
    name: str
    query: str
    rows: Sequence[Any]
    rel: str | None = None  # counted relationship type (the query returns the rows written)


class StaleRunError(GraphStoreError):
    """The run is older than what the graph already holds from the same state, or a later
    batch's run whose earlier batches the graph does not hold."""


def check_not_stale(store: GraphStore, run_dir: Path, position: dict[str, Any] | None) -> None:
    """Refuse a run of a state that would leave the graph unequal to that state: an older
    batch than the graph holds (it would roll the graph back), or a batch whose earlier
    batches the graph does not hold (a stateful run carries only what its batch changed).
    A whole-state export (``whole``) goes into a graph holding none of its state."""
    if not position:
        return
    try:
        rows = store.read(queries.LOADED_STATE, {"id": position["id"]})
    except GraphStoreError as exc:
        if "empty key" not in str(exc):  # FalkorDB: the graph does not exist yet
            raise
        rows = []
    held = int(rows[0]["seq"]) if rows and rows[0]["seq"] is not None else None
    seq = int(position["batch_seq"])
    this = f"{run_dir} is batch {seq} ({position.get('batch_id')}) of its resolution state"
    if held is not None and held > seq:
        raise StaleRunError(
            f"{this}, but the graph already holds batch {held} ({rows[0]['batch']}); loading "
            "it would roll the graph back: load the newest run"
        )
    whole = "load the whole state into an empty graph instead: `credgraph load STATE_DIR`"
    if position.get("whole"):
        if held is not None and held < seq:
            raise StaleRunError(
                f"{run_dir} holds the whole resolution state at batch {seq}, but the graph "
                f"holds batch {held} of it: load the runs of the batches after {held}, or "
                "load the whole state into an empty graph"
            )
        return
    if held is None and seq > 1:
        raise StaleRunError(
            f"{this}, and the graph holds none of that state: a run carries only what its "
            f"batch changed, so load the state's runs from its first batch on, or {whole}"
        )
    if held is not None and held < seq - 1:
        raise StaleRunError(
            f"{this}, but the graph holds batch {held} ({rows[0]['batch']}): load the runs "
            f"of batches {held + 1}–{seq - 1} first, or {whole}"
        )


@dataclass(slots=True)
class LoadSummary:
    steps_done: int = 0
    steps_skipped: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    counts: dict[str, RelCount] = field(default_factory=dict)
    escaped: int = 0
    path: str = "merge"
    #: Enterprises whose credit standing the run may change: subjects of its credit events
    #: and (stateful runs) the enterprises it re-wires — what the grades are recomputed for.
    credit_subjects: list[str] = field(default_factory=list)
    #: The bulk path wrote ``derived``'s nodes and relationships with the run's (see
    #: :func:`load_run`); the caller need not write them again.
    derived: bool = False


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for obj, _plain in _jsonl_plain(path):
        yield obj


#: Escapes (and DEL) whose absence from a line means its decoded strings hold no control
#: character and no lone surrogate (see :class:`_Cleaner`).
_UNPLAIN = (b"\\u00", b"\\b", b"\\f", b"\x7f", b"\\ud", b"\\uD")


def _jsonl_plain(path: Path, kind: type | None = None) -> Iterator[tuple[Any, bool]]:
    """Objects of a JSON-lines file, each with ``plain``: True when its line cannot hold a
    control character once decoded (no ``\\u00…``, ``\\b``, ``\\f`` escape, no DEL), so its
    strings need trimming only (see :class:`_Cleaner`). ``kind``: a msgspec Struct naming
    the fields wanted (the others are skipped unread), else plain dicts.

    The whole file is decoded by msgspec in one call when no line holds such an escape
    (the common case: several times faster than line by line); otherwise, or when msgspec
    refuses a line (NaN), line by line, a refused line by ``json``."""
    if not path.exists():
        return
    buf = path.read_bytes()
    objs = _plain_lines(buf, kind)
    if objs is not None:
        del buf
        for obj in objs:
            yield obj, True
        return
    yield from _lines_one_by_one(buf, kind, path.name)


def _plain_objects(path: Path, kind: type) -> tuple[list[Any] | None, bytes]:
    """All objects of a JSON-lines file when none of its lines can hold a control character
    once decoded (see :func:`_jsonl_plain`), else None and the file's bytes (for the line by
    line reading)."""
    if not path.exists():
        return [], b""
    buf = path.read_bytes()
    objs = _plain_lines(buf, kind)
    return (objs, b"") if objs is not None else (None, buf)


def _plain_lines(buf: bytes, kind: type | None) -> list[Any] | None:
    """The file decoded in one call, when no line holds an escape that could carry a
    control character and msgspec takes every line; else None."""
    if (b"\\" not in buf and b"\x7f" not in buf) or not any(mark in buf for mark in _UNPLAIN):
        try:
            return _decoder(kind).decode_lines(buf)
        except msgspec.DecodeError:
            return None
    return None


def _lines_one_by_one(
    buf: bytes, kind: type | None, name: str = "run file"
) -> Iterator[tuple[Any, bool]]:
    """Objects line by line, each with ``plain`` (see :func:`_jsonl_plain`); a line neither
    msgspec nor ``json`` takes (a lone surrogate is taken by ``json`` only) is refused with a
    :class:`RunFileError` naming ``name`` and the line."""
    decoder = _decoder(kind)
    for n, raw in enumerate(buf.splitlines(), 1):
        if raw.strip():
            plain = not any(mark in raw for mark in _UNPLAIN)
            try:
                obj = decoder.decode(raw)
            except msgspec.DecodeError:
                try:
                    obj = json.loads(raw)
                    if kind is not None:
                        obj = _converted(obj, kind)
                except (ValueError, msgspec.ValidationError) as exc:
                    raise RunFileError(f"{name}: line {n}: {exc}") from None
            yield obj, plain


class RunFileError(ValueError):
    """A run file the graph cannot take (names the file and the line)."""


def _converted(obj: Any, kind: type) -> Any:
    """``obj`` (decoded by ``json``) as ``kind``: its ``msgspec.Raw`` list fields (values
    kept undecoded) re-encoded first, ASCII-escaped (a lone surrogate stays an escape)."""
    if isinstance(obj, dict):
        for field in _raw_lists(kind):
            if isinstance(items := obj.get(field), list):
                obj[field] = [msgspec.Raw(json.dumps(v).encode()) for v in items]
    return msgspec.convert(obj, kind)


@functools.cache
def _raw_lists(kind: type) -> tuple[str, ...]:
    info = msgspec.inspect.type_info(kind)
    if not isinstance(info, msgspec.inspect.StructType):
        return ()
    return tuple(
        f.encode_name
        for f in info.fields
        if isinstance(f.type, msgspec.inspect.ListType)
        and isinstance(f.type.item_type, msgspec.inspect.RawType)
    )


_DECODERS: dict[type | None, msgspec.json.Decoder[Any]] = {}


def _decoder(kind: type | None) -> msgspec.json.Decoder[Any]:
    if kind not in _DECODERS:
        _DECODERS[kind] = msgspec.json.Decoder(kind) if kind else msgspec.json.Decoder()
    return _DECODERS[kind]


class _GoldenLine(msgspec.Struct):
    """What the graph takes from a golden.jsonl line (members only counted)."""

    id: str
    type: str
    attributes: dict[str, Any] = {}
    lifecycle: str = "active"
    merged_into: str | None = None
    known_from: str | None = None
    id_hash: str | None = None
    id_masked: str | None = None
    members: list[msgspec.Raw] = []

    def props(self, clean: _Cleaner, plain: bool) -> dict[str, Any]:
        """The properties of a golden entity's node (DESIGN.md Contract 3)."""
        props: dict[str, Any] = {"uid": self.id}
        for k, v in self.attributes.items():
            props[ATTRIBUTE_NAMES.get(k, k)] = v
        props["lifecycle"] = self.lifecycle
        props["merged_into"] = self.merged_into
        props["known_from"] = self.known_from
        props["id_hash"] = self.id_hash
        props["id_masked"] = self.id_masked
        props["members"] = len(self.members)
        return clean.props(props, plain)


def _fault(point: str) -> None:
    if os.environ.get("CREDGRAPH_FAULT_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def entity_label(uid: str) -> str:
    """Golden IDs say what they are: ``E…`` enterprises, ``P…`` persons."""
    return "Person" if uid.startswith("P") else "Enterprise"


#: The credit event fields credit/ reads back from the graph (credit/queries.py EVENT_FIELDS).
CREDIT_EVENT_FIELDS = (
    "uid",
    "event_type",
    "dept",
    "record_id",
    "decision_no",
    "date",
    "severity",
    "authority",
    "amount",
    "description",
)


def enterprise_credit_events(graph: RunGraph) -> dict[str, list[Row]]:
    """The credit events each enterprise of the run's tables will have in the graph after
    the bulk path, as credit/queries.py EVENTS_OF_MANY returns them from it (a field the
    event lacks is None): from the SUBJECT_OF relationships whose both end nodes are in the
    tables, one per pair of nodes. Subjects in sorted order, events in the tables' order."""
    about = graph.rels.get(("SUBJECT_OF", "Enterprise", "CreditEvent"))
    events = graph.nodes.get("CreditEvent")
    firms = graph.nodes.get("Enterprise")
    if about is None or events is None or firms is None:
        return {}
    at = dict(zip(events.uids, range(len(events)), strict=True))  # a repeated uid: its last
    cols = [(k, events.cols.get(k)) for k in CREDIT_EVENT_FIELDS]
    known = set(firms.uids)
    out: dict[str, list[Row]] = {}
    seen: set[tuple[str, str]] = set()
    for src, dst in zip(about.src, about.dst, strict=True):
        i = at.get(dst)
        if i is None or src not in known or (src, dst) in seen:
            continue
        seen.add((src, dst))
        row = {k: (None if c is None else c[i]) for k, c in cols}
        out.setdefault(src, []).append(row)
    return dict(sorted(out.items()))


class _Cleaner:
    """Property values as both backends store them: primitives or lists of strings, no
    blanks (None, "", []), strings trimmed, control characters escaped as ``\\uXXXX`` text
    (counted: a value the graph cannot read is that value's problem, not the run's)."""

    def __init__(self) -> None:
        self.escaped = 0

    def text(self, s: str) -> str:
        if _CONTROL.search(s) is None:
            return s.strip()
        self.escaped += 1
        return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", s).strip()

    def value(self, v: Any, plain: bool = False) -> Any:
        if isinstance(v, str):
            return self.text(v) or None
        if isinstance(v, (bool, int, float)):
            return v
        if type(v) is list and v and set(map(type, v)) == {str}:  # the common case
            items = list(map(str.strip, v)) if plain else list(map(self.text, v))
            return items if all(items) else None
        if isinstance(v, list) and v and all(isinstance(x, (str, int, float)) for x in v):
            if plain:
                items = [x.strip() if type(x) is str else str(x).strip() for x in v]
            else:
                items = [self.text(str(x)) for x in v]
            return items if all(items) else None
        return None

    def props(self, d: dict[str, Any], plain: bool = False) -> dict[str, Any]:
        """``plain``: the values are known to hold no control character (trim only)."""
        out = {}
        for k, v in d.items():
            t = type(v)
            if t is str:
                v = v.strip() if plain else self.text(v)
                if v:
                    out[k] = v
            elif t is int or t is float or t is bool:
                out[k] = v
            elif v is not None and (clean := self.value(v, plain)) is not None:
                out[k] = clean
        return out


#: Bytes of edges.jsonl and events.jsonl from which a second process reads them (below,
#: forking costs more than it saves).
SPLIT_READ_BYTES = 8 << 20


def read_run(
    run_dir: Path,
    check: Callable[[], object] | None = None,
    early: Early | None = None,
) -> RunGraph:
    """The run's node and relationship tables (see the module docstring). ``check``: run
    in a thread beside the reading (e.g. the run's checksums, whose hashing releases the
    GIL); its exception is raised once the reading is over, before the reading's own.
    ``early``: given golden.jsonl's tables as soon as they are read (by columns), then the
    links' (SourceRecord, RESOLVED_TO), while the rest is still read (see
    :class:`EarlyStart`)."""
    with paused_gc():
        # the second reader is forked before the check's thread exists
        mentions = _MentionReader(run_dir)
        with ThreadPoolExecutor(max_workers=1) as pool:
            checked = pool.submit(check) if check is not None else None
            try:
                return _read_run(run_dir, mentions, early)
            finally:
                mentions.close()
                if checked is not None:
                    checked.result()


def _read_mentions(
    run_dir: Path,
) -> tuple[RunGraph, dict[str, NodeTable], dict[RelKey, RelTable], int]:
    """edges.jsonl and events.jsonl: their counts, nodes (a table per label),
    relationships, escaped values."""
    out = RunGraph()
    clean = _Cleaner()
    nodes: dict[str, NodeTable] = {}
    tables: dict[RelKey, RelTable] = {}
    edge_lines, buf = _plain_objects(run_dir / "edges.jsonl", _EdgeLine)
    if edge_lines is not None:
        tables.update(_edge_tables(edge_lines, out, clean))
    else:
        rels: _Rels = defaultdict(list)
        _read_edges(run_dir, out, rels, clean, _lines_one_by_one(buf, _EdgeLine, "edges.jsonl"))
        tables.update({k: RelTable.from_rows(v) for k, v in rels.items()})
    del edge_lines, buf
    event_lines, buf = _plain_objects(run_dir / "events.jsonl", _EventLine)
    if event_lines is not None:
        more_nodes, more_rels = _event_tables(event_lines, out, clean)
        nodes.update(more_nodes)
        tables.update(more_rels)
    else:
        row_nodes: dict[str, dict[str, Row]] = defaultdict(dict)
        rels = defaultdict(list)
        _read_events(
            run_dir, out, row_nodes, rels, clean, _lines_one_by_one(buf, _EventLine, "events.jsonl")
        )
        nodes.update({lab: NodeTable.from_rows(list(r.values())) for lab, r in row_nodes.items()})
        tables.update({k: RelTable.from_rows(v) for k, v in rels.items()})
    return out, nodes, tables, clean.escaped


def _send_mentions(run_dir: Path, conn: Any, parent_pid: int) -> None:
    """In the second reader: :func:`_read_mentions` as MessagePack (b"" if it failed: the
    first reader then reads them itself). It dies with the first reader, however that dies
    (a ``credgraph load`` killed with SIGKILL leaves no reader behind)."""
    die_with_parent(parent_pid)
    try:
        out, nodes, rels, escaped = _read_mentions(run_dir)
        counts = {k: [c.rows, dict(c.skipped)] for k, c in out.counts.items()}
        payload = msgspec.msgpack.encode(
            [
                [[lab, t.uids, t.cols] for lab, t in nodes.items()],
                [[list(key), t.src, t.dst, t.w, t.cols, t.distinct] for key, t in rels.items()],
                counts,
                escaped,
            ]
        )
    except Exception:
        payload = b""
    conn.send_bytes(payload)
    conn.close()


class _MentionReader:
    """edges.jsonl and events.jsonl read by a forked process while this one reads
    golden.jsonl and the links (the two halves take about as long); its tables come back
    as MessagePack. Inline for small runs, where ``fork`` does not exist, or in a process
    that may not have children."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.proc: Any = None
        size = sum(
            p.stat().st_size
            for p in (run_dir / "edges.jsonl", run_dir / "events.jsonl")
            if p.exists()
        )
        if (
            size >= SPLIT_READ_BYTES
            and "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon
        ):
            ctx = multiprocessing.get_context("fork")
            self.conn, child = ctx.Pipe(duplex=False)
            self.proc = ctx.Process(target=_send_mentions, args=(run_dir, child, os.getpid()))
            self.proc.daemon = True
            self.proc.start()
            child.close()

    def result(self) -> tuple[RunGraph, dict[str, NodeTable], dict[RelKey, RelTable], int]:
        if self.proc is not None:
            try:
                payload = self.conn.recv_bytes()
            except (EOFError, OSError):
                payload = b""
            self.close()
            if payload:
                node_list, rel_list, counts, escaped = msgspec.msgpack.decode(payload)
                out = RunGraph()
                for k, (n, skipped) in counts.items():
                    out.counts[k] = RelCount(rows=n, skipped=Counter(skipped))
                nodes = {lab: NodeTable(uids, cols) for lab, uids, cols in node_list}
                rels = {
                    (k[0], k[1], k[2]): RelTable(src, dst, w, cols, distinct)
                    for k, src, dst, w, cols, distinct in rel_list
                }
                return out, nodes, rels, escaped
        return _read_mentions(self.run_dir)

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.terminate()
            self.proc.join()
            self.conn.close()
            self.proc = None


def _read_run(
    run_dir: Path,
    mentions: _MentionReader,
    early: Early | None = None,
) -> RunGraph:
    out = RunGraph()
    clean = _Cleaner()
    nodes: dict[str, dict[str, Row]] = defaultdict(dict)
    rels: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    tables: dict[str, NodeTable] = {}
    rel_tables: dict[RelKey, RelTable] = {}
    changes_path = run_dir / "changes.json"
    if changes_path.exists():
        changes = json.loads(changes_path.read_text("utf-8"))
        out.affected = [clean.text(u) for u in changes.get("entities", [])]
        for w in changes.get("withdrawn", []):
            out.withdrawn.setdefault(w["label"], []).append(clean.text(w["uid"]))
        out.state = changes.get("state")
    golden, buf = _plain_objects(run_dir / "golden.jsonl", _GoldenLine)
    made = _golden_tables(golden, clean) if golden is not None else None
    if made is not None:
        tables, rel_tables, out.golden_ids = made
        del golden, buf
        if early is not None:
            early(dict(tables), dict(rel_tables))
    else:
        lines = (
            _lines_one_by_one(buf, _GoldenLine, "golden.jsonl")
            if golden is None
            else zip(golden, repeat(True))
        )
        del buf
        _read_golden(lines, out, nodes, rels, clean)
    before = (set(tables), set(rel_tables))
    _read_sources(run_dir, out, nodes, rels, clean, tables, rel_tables)
    if early is not None and made is not None:
        new_nodes = {lab: t for lab, t in tables.items() if lab not in before[0]}
        new_rels = {k: t for k, t in rel_tables.items() if k not in before[1]}
        if new_nodes or new_rels:
            early(new_nodes, new_rels)
    # edges and events add their own labels, relationship types and counts only
    more, more_nodes, more_rels, escaped = mentions.result()
    for k, count in more.counts.items():
        out.counts[k] = count
    tables.update({lab: NodeTable.from_rows(list(rows.values())) for lab, rows in nodes.items()})
    tables.update(more_nodes)
    rel_tables.update({k: RelTable.from_rows(rows) for k, rows in rels.items()})
    rel_tables.update(more_rels)
    out.nodes = dict(sorted(tables.items()))
    out.rels = dict(sorted(rel_tables.items()))
    out.escaped = clean.escaped + escaped
    return out


def _read_golden(
    lines: Iterator[tuple[_GoldenLine, bool]],
    out: RunGraph,
    nodes: dict[str, dict[str, Row]],
    rels: dict[tuple[str, str, str], list[Row]],
    clean: _Cleaner,
) -> None:
    """Golden entities row by row (see :func:`_golden_tables` for the common case)."""
    for line, plain in lines:
        props = line.props(clean, plain)
        uid = props["uid"]
        lab = "Enterprise" if line.type == "Enterprise" else "Person"
        nodes[lab][uid] = {"uid": uid, "props": props}
        out.golden_ids.append(uid)
        if lab != "Enterprise" or props.get("lifecycle") != "active":
            continue  # merged and retired entities keep no relationships
        if address := props.get("address"):
            nodes["Address"][address] = {"uid": address, "props": {"uid": address, "text": address}}
            rels[("LOCATED_AT", "Enterprise", "Address")].append(
                {"src": uid, "dst": address, "props": {}, "w": 1}
            )
        if phone := props.get("phone"):
            nodes["Phone"][phone] = {"uid": phone, "props": {"uid": phone, "number": phone}}
            rels[("USES_PHONE", "Enterprise", "Phone")].append(
                {"src": uid, "dst": phone, "props": {}, "w": 1}
            )


def _read_sources(
    run_dir: Path,
    out: RunGraph,
    nodes: dict[str, dict[str, Row]],
    rels: dict[tuple[str, str, str], list[Row]],
    clean: _Cleaner,
    tables: dict[str, NodeTable] | None = None,
    rel_tables: dict[RelKey, RelTable] | None = None,
) -> None:
    """SourceRecord nodes and RESOLVED_TO: the state's resolution (resolved.csv) in a
    stateful run, the batch's links.csv otherwise. ``tables``, ``rel_tables``: where a
    plain file's tables go (built as columns); else row by row into ``nodes``, ``rels``."""
    resolved = run_dir / "resolved.csv"
    stateful = resolved.exists()
    path = resolved if stateful else run_dir / "links.csv"
    if not path.exists():
        return
    report_path = run_dir / "report.json"
    run_batch = (
        json.loads(report_path.read_text("utf-8")).get("batch_id") if report_path.exists() else None
    )
    count = out.counts["RESOLVED_TO"]
    text = path.read_text("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    col = {name: i for i, name in enumerate(next(reader, []))}
    i_dept, i_rec, i_kind = col["dept"], col["record_id"], col["kind"]
    i_ent, i_score, i_dec = col["entity_id"], col["score"], col["decision"]
    i_batch = col.get("batch_id")
    # No control character and no neutralised cell (resolver/csvsafe.py) in the whole file
    # (the common case): cells need trimming only.
    plain_file = _CONTROL.search(text) is None and "'" not in text
    del text
    if plain_file and tables is not None and rel_tables is not None:
        rows = list(reader)
        made = _source_tables(rows, col, run_batch, out, stateful, clean)
        if made is not None:
            tables.update(made[0])
            rel_tables.update(made[1])
            return
        reader = iter(rows)  # type: ignore[assignment]
    source_nodes = nodes["SourceRecord"]
    targets: dict[str, list[Row]] = {}
    for n, raw in enumerate(reader, 2):
        if len(raw) < len(col):
            raise RunFileError(
                f"{path.name}: row {n}: {len(raw)} fields, the header names {len(col)}"
            )
        kind = raw[i_kind]
        if kind != "enterprise" and kind != "person":
            continue
        count.rows += 1
        if not raw[i_ent]:
            count.skipped["unresolved record"] += 1
            continue
        if plain_file:
            dept, record_id, entity, decision = raw[i_dept], raw[i_rec], raw[i_ent], raw[i_dec]
            batch = (raw[i_batch] if i_batch is not None else "") or run_batch
            uid = f"{dept}|{kind}|{record_id}".strip()
            props = {"uid": uid}
            if dept := dept.strip():
                props["dept"] = dept
            props["kind"] = kind
            if record_id := record_id.strip():
                props["record_id"] = record_id
            if isinstance(batch, str):
                if batch := batch.strip():
                    props["batch_id"] = batch
            elif batch is not None:
                props.update(clean.props({"batch_id": batch}, True))
            dst = entity.strip()
            rel_props: dict[str, Any] = {"score": float(raw[i_score] or 0)}
            if decision := decision.strip():
                rel_props["decision"] = decision
        else:
            plain = _CONTROL.search("".join(raw)) is None
            dept, record_id = restore(raw[i_dept]), restore(raw[i_rec])
            batch_id = (restore(raw[i_batch]) if i_batch is not None else "") or run_batch
            # (dept, kind, record_id) is a record's key (Contract 1): an enterprise and a
            # person record of one department may share a record_id.
            key = f"{dept}|{kind}|{record_id}"
            uid = key.strip() if plain else clean.text(key)
            props = clean.props(
                {
                    "uid": uid,
                    "dept": dept,
                    "kind": kind,
                    "record_id": record_id,
                    "batch_id": batch_id,
                },
                plain,
            )
            entity = restore(raw[i_ent])
            dst = entity.strip() if plain else clean.text(entity)
            rel_props = clean.props(
                {"score": float(raw[i_score] or 0), "decision": restore(raw[i_dec])}, plain
            )
        source_nodes[uid] = {"uid": uid, "props": props}
        lab = entity_label(dst)
        if (target := targets.get(lab)) is None:
            target = targets[lab] = rels[("RESOLVED_TO", "SourceRecord", lab)]
        target.append({"src": uid, "dst": dst, "props": rel_props, "w": 1})
        if stateful:
            out.resolved_sources.append({"src": uid, "dst": dst})
    if not source_nodes:
        del nodes["SourceRecord"]  # no table for a label without nodes


_UNRESOLVED = {
    "LEGAL_REP_OF": ("unresolved person", "unresolved enterprise"),
    "SERVES_AS": ("unresolved person", "unresolved enterprise"),
    "HOLDS_SHARES": ("unresolved holder", "unresolved enterprise"),
    "BRANCH_OF": ("unresolved branch", "unresolved parent"),
}


class _Source(msgspec.Struct):
    """Where an edge or event row came from (its department's record)."""

    dept: str
    record_id: str
    kind: str = ""


class _EdgeLine(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    """What the graph takes from an edges.jsonl line."""

    type: str
    from_: str | None = None
    to: str | None = None
    role: Any = None
    ratio: Any = None
    amount: Any = None
    start: Any = None
    end: Any = None
    source: _Source

    def props(self) -> dict[str, Any]:
        """The relationship properties this row has (EDGE_PROPERTIES, in that order)."""
        pairs = (
            ("role", self.role),
            ("ratio", self.ratio),
            ("amount", self.amount),
            ("start", self.start),
            ("end", self.end),
        )
        return {k: v for k, v in pairs if v is not None}


class _EventValues(msgspec.Struct):
    """The values of an events.jsonl line that the graph takes (EVENT_PROPERTIES and the
    subject's name; the others are skipped unread)."""

    event_type: Any = None
    decision_no: Any = None
    authority: Any = None
    date: Any = None
    severity: Any = None
    amount: Any = None
    publicity_until: Any = None
    description: Any = None
    fact_type: Any = None
    period: Any = None
    period_start: Any = None
    period_end: Any = None
    quantity: Any = None
    unit: Any = None
    reference: Any = None
    tax_type: Any = None
    taxable_amount: Any = None
    tax_paid: Any = None
    name: Any = None


class _EventLine(msgspec.Struct, kw_only=True):
    """What the graph takes from an events.jsonl line."""

    kind: str
    subject: str | None = None
    values: _EventValues = msgspec.field(default_factory=_EventValues)
    source: _Source


def _read_edges(
    run_dir: Path,
    out: RunGraph,
    rels: dict[tuple[str, str, str], list[Row]],
    clean: _Cleaner,
    lines: Iterator[tuple[_EdgeLine, bool]] | None = None,
) -> None:
    """Roles, shareholdings and branches. Several departments reporting the same
    relationship make one relationship: its properties taken source by source in a fixed
    order, all sources listed — so the result does not depend on row order."""
    grouped: dict[tuple[str, str, str], list[_EdgeLine]] = defaultdict(list)
    all_plain = True
    counts = out.counts
    if lines is None:
        lines = _jsonl_plain(run_dir / "edges.jsonl", _EdgeLine)
    for e, plain in lines:
        count = counts[e.type]
        count.rows += 1
        if not e.from_ or not e.to:
            no_from, no_to = _UNRESOLVED.get(e.type, ("unresolved end", "unresolved end"))
            count.skipped[no_from if not e.from_ else no_to] += 1
            continue
        all_plain = all_plain and plain
        if plain:
            grouped[(e.type, e.from_.strip(), e.to.strip())].append(e)
        else:
            grouped[(e.type, clean.text(e.from_), clean.text(e.to))].append(e)
    for (rel, a, b), group in grouped.items():
        if len(group) == 1:
            e = group[0]
            merged = e.props()
            merged["sources"] = [f"{e.source.dept}|{e.source.record_id}"]
            merged["source_kinds"] = [e.source.kind or "unknown"]
            w = 1
        else:
            group.sort(key=lambda e: (e.source.dept, e.source.record_id, e.source.kind))
            merged = {}
            for e in group:
                for k, v in e.props().items():
                    merged.setdefault(k, v)
            merged["sources"] = [f"{e.source.dept}|{e.source.record_id}" for e in group]
            # which kind of record asserted each source (same order): a role row and an
            # enterprise row of one department may share a record_id
            merged["source_kinds"] = [e.source.kind or "unknown" for e in group]
            w = len(group)
        rels[(rel, entity_label(a), "Enterprise")].append(
            {"src": a, "dst": b, "props": clean.props(merged, all_plain), "w": w}
        )


def _read_events(
    run_dir: Path,
    out: RunGraph,
    nodes: dict[str, dict[str, Row]],
    rels: dict[tuple[str, str, str], list[Row]],
    clean: _Cleaner,
    lines: Iterator[tuple[_EventLine, bool]] | None = None,
) -> None:
    count = out.counts["SUBJECT_OF"]
    if lines is None:
        lines = _jsonl_plain(run_dir / "events.jsonl", _EventLine)
    for ev, plain in lines:
        lab = EVENT_LABELS[ev.kind]
        dept, record_id = ev.source.dept, ev.source.record_id
        uid = f"{dept}|{record_id}"
        uid = uid.strip() if plain else clean.text(uid)
        raw_values = ev.values
        values = {"uid": uid}
        for k in EVENT_PROPERTIES:
            if (v := getattr(raw_values, k)) is not None:
                values[k] = v
        if (name := raw_values.name) is not None:
            values["subject_name"] = name
        values["dept"] = dept
        values["record_id"] = record_id
        nodes[lab][uid] = {"uid": uid, "props": clean.props(values, plain)}
        count.rows += 1
        if not ev.subject:
            count.skipped["unresolved subject"] += 1
            continue
        subject = ev.subject.strip() if plain else clean.text(ev.subject)
        rels[("SUBJECT_OF", entity_label(subject), lab)].append(
            {"src": subject, "dst": uid, "props": {}, "w": 1}
        )


def plan(
    run_dir: Path, graph: RunGraph | None = None, fresh: frozenset[str] = frozenset()
) -> list[Step]:
    """The MERGE-path load as steps in dependency order: what goes, nodes, relationships.
    ``fresh``: labels that held no node when the load started — their nodes, and the
    relationships touching them, are created rather than merged (queries.CREATE_NODE_ROWS)."""
    g = graph or read_run(run_dir)
    steps: list[Step] = []
    for lab, uids in sorted(g.withdrawn.items()):
        steps.append(
            Step(
                f"delete:{lab}",
                queries.DELETE_NODES.format(label=label(lab)),
                [{"uid": u} for u in sorted(set(uids))],
            )
        )
    if g.stateful:
        for lab in ("Enterprise", "Person"):
            steps.append(
                Step(
                    f"detach:{lab}",
                    queries.DETACH_RELS.format(label=label(lab), rels=MENTION_RELS),
                    [{"uid": u} for u in g.affected if entity_label(u) == lab],
                )
            )
            steps.append(
                Step(
                    f"detach-contacts:{lab}",
                    queries.DETACH_RELS.format(label=label(lab), rels="LOCATED_AT|USES_PHONE"),
                    [{"uid": u} for u in g.golden_ids if entity_label(u) == lab],
                )
            )
    for lab, rows in g.nodes.items():
        cols = [c for c in rows.names() if c != "uid"]
        node_query = queries.CREATE_NODE_ROWS if lab in fresh else queries.MERGE_NODE_ROWS
        steps.append(
            Step(
                f"nodes:{lab}",
                node_query.format(label=label(lab), props=queries.row_map(cols, 1, uid=True)),
                _Table(rows.uids, cols=rows.cols, keys=cols),
            )
        )
    if g.resolved_sources:
        steps.append(Step("unlink:RESOLVED_TO", queries.UNLINK_RESOLVED_TO, g.resolved_sources))
    for (rel, a, b), table in g.rels.items():
        cols = table.names()
        new = (a in fresh or b in fresh) and len(
            set(zip(table.src, table.dst, strict=True))
        ) == len(table)
        steps.append(
            Step(
                f"rels:{rel}:{a}:{b}",
                (queries.CREATE_REL_ROWS if new else queries.MERGE_REL_ROWS).format(
                    from_label=label(a),
                    to_label=label(b),
                    rel=label_rel(rel),
                    props=queries.row_map(cols, 3),
                ),
                _Table(table.src, table.dst, table.w, cols=table.cols, keys=cols),
                rel,
            )
        )
    redirects: dict[str, list[Row]] = defaultdict(list)
    for r in _jsonl(run_dir / "redirects.jsonl"):
        redirects[entity_label(r["old"])].append({"old": r["old"], "new": r["new"]})
    for lab, moved in sorted(redirects.items()):
        lab = label(lab)
        bare = [{"uid": r["old"]} for r in moved]
        steps.append(Step(f"redirect:nodes:{lab}", queries.MERGE_BARE.format(label=lab), bare))
        steps.append(Step(f"redirect:detach:{lab}", queries.DETACH_MERGED.format(label=lab), moved))
        steps.append(Step(f"redirect:mark:{lab}", queries.MARK_MERGED.format(label=lab), moved))
    if g.stateful:
        for lab in ("Address", "Phone"):
            steps.append(
                Step(f"gc:{lab}", queries.DELETE_UNUSED.format(label=label(lab)), [{"uid": lab}])
            )
    return steps


class _Table(Sequence[list[Any]]):
    """Rows as lists: the ``fields`` columns (``uid``, or ``src``, ``dst``, ``w``), then
    the properties ``keys`` (None where a row has none). Built a slice at a time from the
    columns when a batch is rendered — in the thread that renders it while the server runs
    the previous batch."""

    def __init__(self, *fields: list[Any], cols: dict[str, list[Any]], keys: list[str]) -> None:
        self.fields, self.cols, self.keys = fields, cols, keys
        self.n = len(fields[0])

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> list[Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[list[Any]]: ...
    def __getitem__(self, i: int | slice) -> list[Any] | list[list[Any]]:
        if isinstance(i, slice):
            return self._build(i)
        return self._build(slice(i, i + 1))[0]

    def __iter__(self) -> Iterator[list[Any]]:
        return iter(self._build(slice(None)))

    def _build(self, part: slice) -> list[list[Any]]:
        columns = [f[part] for f in self.fields]
        n = len(columns[0])
        columns += [self.cols[c][part] if c in self.cols else [None] * n for c in self.keys]
        return list(map(list, zip(*columns, strict=True)))


def label_rel(rel: str) -> str:
    """A relationship type from the fixed list (the only way one enters query text)."""
    if rel not in RELATIONSHIP_TYPES:
        raise ValueError(f"unknown relationship type {rel!r}")
    return rel


def target_identity(store: GraphStore) -> str:
    """Which graph a store writes to (backend, host, port, graph name): checkpoints are
    kept per target, so a load interrupted on one graph never skips steps on another."""
    uri = getattr(store, "uri", None)
    if uri is None:
        return f"{store.backend}:unknown"
    return f"{store.backend}://{uri.host}:{uri.port}/{uri.database}"


def checkpoint_path(run_dir: Path, store: GraphStore) -> Path:
    digest = hashlib.sha256(target_identity(store).encode()).hexdigest()[:16]
    return run_dir / f"{CHECKPOINT_PREFIX}{digest}.json"


#: FalkorDB's setting that starts a background AOF rewrite whenever the append-only file
#: has grown by that percentage: during a load, rewrite after rewrite (each a fork that
#: serialises the whole graph, taking a core from the load).
AOF_REWRITE = "auto-aof-rewrite-percentage"
#: The loads holding the rewrites deferred: a hash on the server, one field per load (the
#: server's run ID and the client ID of the load's own connection), each holding the setting
#: found before the first of them. A load killed with SIGKILL cannot put the setting back,
#: but its field stays and its connection is gone: the next load sees that the 0 it finds
#: was a dead load's, and puts the setting back when it ends.
AOF_HOLDERS = "credgraph:aof-rewrite-deferred"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_CLIENT_ID = re.compile(r"(?:^|\s)id=(\d+)")


class _AofLease:
    """One load's hold on the deferred rewrites (see :data:`AOF_HOLDERS`), on a connection
    of its own that lives exactly as long as the holder does. Raw commands, replies parsed
    here (the client library's reply types vary with its version and protocol)."""

    def __init__(self, conn: Any, run_id: str, me: str, original: str) -> None:
        self.conn, self.run_id, self.me, self.original = conn, run_id, me, original

    @classmethod
    def take(cls, store: GraphStore) -> _AofLease | None:
        """Defer the rewrites; None where CONFIG is refused (ACL, renamed command), the store
        has no such setting, or the setting is 0 by its owner's choice (no load holds it)."""
        connect = getattr(store, "own_connection", None)
        if connect is None:
            return None
        conn: Any = None
        try:
            conn = connect()
            cmd = conn.execute_command
            server = conn.info("server")
            run_id = _text(server["run_id"])
            me = f"{run_id}:{int(cmd('CLIENT', 'ID'))}"
            reply = cmd("CONFIG", "GET", AOF_REWRITE)
            value = reply.get(AOF_REWRITE) if isinstance(reply, dict) else reply[1]
            current = _text(value)
            raw = cmd("HGETALL", AOF_HOLDERS)
            pairs = (
                list(raw.items())
                if isinstance(raw, dict)
                else list(zip(raw[::2], raw[1::2], strict=True))
            )
            holders = {_text(k): _text(v) for k, v in pairs}
            if current != "0":
                original = current
            elif holders:  # set to 0 by loads, running or killed: theirs to give back
                original = next(iter(holders.values()))
            else:
                conn.close()
                return None
            lease = cls(conn, run_id, me, original)
            cmd("HSET", AOF_HOLDERS, me, original)
            live = lease._live()
            if dead := [f for f in holders if f not in live]:
                cmd("HDEL", AOF_HOLDERS, *dead)
            if current != "0":
                cmd("CONFIG", "SET", AOF_REWRITE, "0")
            return lease
        except Exception:  # load as configured
            if conn is not None:
                with suppress(Exception):
                    conn.close()
            return None

    def _live(self) -> set[str]:
        """The holder fields whose connection the server still has."""
        listing = _text(self.conn.execute_command("CLIENT", "LIST"))
        return {f"{self.run_id}:{m}" for m in _CLIENT_ID.findall(listing)}

    def release(self) -> None:
        """Give the hold up; the last live holder puts the setting back."""
        cmd = self.conn.execute_command
        try:
            cmd("HDEL", AOF_HOLDERS, self.me)
            rest = [_text(f) for f in cmd("HKEYS", AOF_HOLDERS)]
            if not self._live().intersection(rest):
                cmd("CONFIG", "SET", AOF_REWRITE, self.original)
                if rest:
                    cmd("HDEL", AOF_HOLDERS, *rest)
        except Exception:  # the server went away: its restart resets the setting anyway
            pass
        finally:
            with suppress(Exception):
                self.conn.close()


@contextmanager
def aof_rewrites_deferred(store: GraphStore) -> Iterator[None]:
    """No automatic AOF rewrite while the block writes (FalkorDB); the setting is restored
    afterwards by the last load holding it, and the server then rewrites once. Every write
    still reaches the AOF. Left alone where CONFIG is refused, or already 0 by its owner's
    choice; a 0 left by a load killed on the way is put back (:data:`AOF_HOLDERS`)."""
    lease = _AofLease.take(store)
    try:
        yield
    finally:
        if lease is not None:
            lease.release()


@without_gc  # millions of table rows (trees, no cycles): collections would only walk them
def load_run(
    store: GraphStore,
    run_dir: Path,
    batch_size: int = 5000,
    progress: LoadProgress | None = None,
    bulk: bool | None = None,
    tables: RunGraph | None = None,
    early: EarlyBulk | None = None,
    derived: Derived | None = None,
) -> LoadSummary:
    """Load a run directory into the store (see the module docstring). ``bulk``: None
    takes the bulk path when the target graph is empty and the backend has one.
    ``tables``: the run's :func:`read_run`, when the caller has read it already;
    ``early``: the bulk load :func:`begin_bulk` began while it was read. ``derived``:
    on the bulk path, nodes and relationships computed from the run's tables (the credit
    grades, credgraph/graphdb.py), written in the same GRAPH.BULK as the run's and not
    counted among its rows (``summary.derived`` then says so); the MERGE path leaves them to
    the caller."""
    if tables is None and early is None:
        start = EarlyStart(lambda: store, run_dir, bulk)
        try:
            tables = read_run(run_dir, early=start)
        except BaseException:
            start.abort()
            raise
        early = start.bulk_load
    if early is not None:
        try:
            return _load_run(store, run_dir, batch_size, progress, bulk, tables, early, derived)
        finally:
            early.abort()  # (nothing left to undo once the load is through)
    with aof_rewrites_deferred(store):
        return _load_run(store, run_dir, batch_size, progress, bulk, tables, derived=derived)


#: :func:`read_run`'s ``early``: given node tables and relationship tables as they are read
Early = Callable[[dict[str, NodeTable], dict[RelKey, RelTable]], object]
#: :func:`load_run`'s ``derived``: given the run's tables, more node and relationship tables
Derived = Callable[["RunGraph"], tuple[dict[str, NodeTable], dict[RelKey, RelTable]]]


class EarlyStart:
    """:func:`read_run`'s ``early`` for a load into the store ``opener`` opens: the bulk
    load begun on the first tables (:func:`begin_bulk`), the later ones sent by it.
    ``lenient``: a failure to open or begin leaves it all to the load (which says what is
    wrong) instead of stopping the reading."""

    def __init__(
        self,
        opener: Callable[[], GraphStore],
        run_dir: Path,
        bulk: bool | None,
        lenient: bool = False,
    ) -> None:
        self.opener, self.run_dir, self.bulk, self.lenient = opener, run_dir, bulk, lenient
        self.store: GraphStore | None = None
        self.bulk_load: EarlyBulk | None = None
        self.tried = False

    def __call__(self, nodes: dict[str, NodeTable], rels: dict[RelKey, RelTable]) -> None:
        if self.bulk_load is not None:
            self.bulk_load.more(nodes, rels)
            return
        if self.tried:
            return
        self.tried = True
        try:
            self.store = self.opener()
            self.bulk_load = begin_bulk(self.store, self.run_dir, self.bulk, nodes, rels)
        except Exception:
            if not self.lenient:
                raise

    def abort(self) -> None:
        if self.bulk_load is not None:
            self.bulk_load.abort()


def begin_bulk(
    store: GraphStore,
    run_dir: Path,
    bulk: bool | None,
    tables: dict[str, NodeTable],
    rels: dict[RelKey, RelTable] | None = None,
) -> EarlyBulk | None:
    """The bulk load begun with golden.jsonl's node tables while the rest of the run is
    still read (for :func:`read_run`'s ``early``), where :func:`load_run` will take the
    bulk path: a batch run (no state to check) into an empty FalkorDB graph, no checkpoint.
    None where it would not; :meth:`EarlyBulk.abort` undoes it (and lets AOF rewrites run
    again)."""
    from graph import bulk as bulk_path

    if (
        bulk is False
        or not bulk_path.available(store)
        or (run_dir / "changes.json").exists()
        or checkpoint_path(run_dir, store).exists()
    ):
        return None
    lease = ExitStack()
    lease.enter_context(aof_rewrites_deferred(store))
    try:
        if not bulk_path.graph_is_empty(store):
            lease.close()
            return None
        early = bulk_path.EarlyBulk(store, lease)
    except BaseException:
        lease.close()
        raise
    early.more(tables, rels or {})
    return early


def _load_run(
    store: GraphStore,
    run_dir: Path,
    batch_size: int,
    progress: LoadProgress | None,
    bulk: bool | None,
    tables: RunGraph | None,
    early: EarlyBulk | None = None,
    derived: Derived | None = None,
) -> LoadSummary:
    t0 = time.perf_counter()
    summary = LoadSummary()
    graph = tables if tables is not None else read_run(run_dir)
    summary.escaped = graph.escaped
    check_not_stale(store, run_dir, graph.state)
    ckpt_path = checkpoint_path(run_dir, store)
    checkpoint = _read_checkpoint(ckpt_path)
    if checkpoint.get("target") not in (None, target_identity(store)):
        checkpoint = {}
    done_steps: dict[str, int] = checkpoint.get("steps", {})
    written: Counter[str] = Counter(checkpoint.get("written", {}))
    ckpt_tmp = ckpt_path.with_name(f"{ckpt_path.name}.tmp-{os.getpid()}")

    def save() -> None:
        # a new file renamed over the old: a load killed while saving leaves one whole
        ckpt_tmp.write_text(
            json.dumps({"target": target_identity(store), "steps": done_steps, "written": written}),
            "utf-8",
        )
        os.replace(ckpt_tmp, ckpt_path)

    from graph import bulk as bulk_path

    if not done_steps and bulk is not False and bulk_path.available(store):
        if early is not None or bulk_path.graph_is_empty(store):
            for lab, node_rows in graph.nodes.items():
                summary.rows[f"nodes:{lab}"] = len(node_rows)
            for (rel, a, b), rel_rows in graph.rels.items():
                summary.rows[f"rels:{rel}:{a}:{b}"] = len(rel_rows)
            whole = graph
            if derived is not None:
                more_nodes, more_rels = derived(graph)
                if clash := (more_nodes.keys() & graph.nodes.keys()) or (
                    more_rels.keys() & graph.rels.keys()
                ):
                    raise ValueError(f"derived tables would replace the run's: {sorted(clash)}")
                # (a copy: the summary below counts the run's own relationships only)
                whole = dataclasses.replace(
                    graph, nodes={**graph.nodes, **more_nodes}, rels={**graph.rels, **more_rels}
                )
                summary.derived = True
            made = bulk_path.load(store, whole, progress, early)
            written.update(made.written)
            # the graph was empty: it holds what the server's replies say they created
            summary.nodes = dict(sorted(made.nodes.items()))
            summary.relationships = dict(sorted(made.relationships.items()))
            summary.path = "bulk"
        elif bulk:
            raise bulk_path.BulkError(
                "the bulk path (--bulk) needs an empty graph and this one holds nodes: "
                "load without --bulk (the MERGE path)"
            )
    ensure_schema(store)
    if summary.path == "bulk":
        bulk_path.wait_for_indexes(store)
    token = marker.run_token(run_dir)
    if summary.path == "merge":
        fresh = frozenset(
            lab
            for lab in graph.nodes
            if not store.read(queries.LABEL_HAS_NODES.format(label=label(lab)))
        )
        # caches keyed by the version see the change (a reload of the same run is none)
        marker.mark(store, token + "|loading", unless=(token,))
        with paused_gc():
            steps = plan(run_dir, graph, fresh)
        for step in steps:
            start = done_steps.get(step.name, 0)
            if start >= len(step.rows) and step.name in done_steps:
                summary.steps_skipped += 1
                continue
            if step.rel is not None and start == 0 and isinstance(store, Neo4jStore):
                # partition-safe batches for concurrent writers (graph/rel_partition.py)
                _, _, a, b = step.name.split(":")
                written[step.name] += store.write_rels_partitioned(
                    step.query, step.rows, a, b, batch_size
                )
                done_steps[step.name] = len(step.rows)
                save()
                summary.rows[step.name] += len(step.rows)
                summary.steps_done += 1
                if progress:
                    progress(step.name, len(step.rows))
                continue
            for i, n, chunk, text in _prepared(store, step.query, step.rows, start, batch_size):
                if text is None:
                    result = store.run(step.query, {"rows": chunk})
                else:
                    result = store.run_prepared(text, step.query)  # type: ignore[attr-defined]
                if step.rel is not None:
                    written[step.name] += int(result[0]["n"] or 0) if result else 0
                done_steps[step.name] = i + n
                save()
                summary.rows[step.name] += n
                _fault(f"load:{step.name}")
                if progress:
                    progress(step.name, n)
            done_steps.setdefault(step.name, 0)
            save()
            summary.steps_done += 1
    if graph.state:
        store.run(
            queries.SET_LOADED_STATE,
            {
                "id": graph.state["id"],
                "seq": int(graph.state["batch_seq"]),
                "batch": graph.state.get("batch_id"),
            },
        )
    ckpt_path.unlink(missing_ok=True)  # a complete load needs no checkpoint
    for stray in run_dir.glob(f"{ckpt_path.name}.tmp-*"):  # of loads killed while saving
        stray.unlink(missing_ok=True)
    marker.mark(store, token)
    for (rel, a, b), table in graph.rels.items():
        count = graph.counts[rel]
        sent = sum(table.w)
        done = written.get(f"rels:{rel}:{a}:{b}", 0)
        count.written += done
        if sent > done:
            count.skipped["end node missing"] += sent - done
    summary.counts = {k: v for k, v in graph.counts.items() if k in REPORTED}
    about = graph.rels.get(("SUBJECT_OF", "Enterprise", "CreditEvent"))
    subjects = set(about.src) if about is not None else set()
    subjects.update(u for u in graph.affected if entity_label(u) == "Enterprise")
    summary.credit_subjects = sorted(subjects)
    if summary.path == "merge":
        summary.nodes = {
            r["label"]: r["n"]
            for r in store.read(queries.COUNT_NODES)
            # (the graph's own bookkeeping, which the bulk path's line does not count either)
            if r["label"] not in (marker.LABEL, "LoadedState")
        }
        summary.relationships = {r["rel"]: r["n"] for r in store.read(queries.COUNT_RELS)}
    summary.seconds = time.perf_counter() - t0
    return summary


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """A load's checkpoint; empty when there is none or it cannot be read (one cut short by
    an older credgraph killed while writing it): the load then starts over, which the MERGE
    path's idempotence makes safe."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:  # truncated or garbled (also not UTF-8)
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("steps", {}), dict):
        return {}
    return data


def _prepared(
    store: GraphStore, query: str, rows: Sequence[Any], start: int, batch_size: int
) -> Iterator[tuple[int, int, Sequence[Any] | None, str | None]]:
    """Batches (start, size, rows — or the statement text with its rows rendered in): the
    text is made one batch ahead in a helper thread (the batch's rows built there too), so
    that Python overlaps the server executing the previous batch."""
    starts = list(range(start, len(rows), batch_size))
    if not hasattr(store, "prepare"):
        for i in starts:
            chunk = rows[i : i + batch_size]
            yield i, len(chunk), chunk, None
        return
    prepare = store.prepare

    def render(i: int) -> str:
        return str(prepare(query, {"rows": rows[i : i + batch_size]}))

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(render, starts[0]) if starts else None
        for k, i in enumerate(starts):
            assert pending is not None
            text = pending.result()
            pending = pool.submit(render, starts[k + 1]) if k + 1 < len(starts) else None
            yield i, min(batch_size, len(rows) - i), None, text


def resolve_uid(store: GraphStore, uid: str) -> str:
    """Follow ``merged_into`` redirects to the current node's uid."""
    lab = entity_label(uid)
    current = uid
    for _ in range(100):
        rows = store.read(queries.ENTITY_BY_UID.format(label=label(lab)), {"uid": current})
        if not rows or not rows[0]["merged_into"]:
            return current
        current = rows[0]["merged_into"]
    return current


# -- column readers -----------------------------------------------------------------------------
# The common case (no line of the file can hold a control character, nothing unusual):
# the tables built as columns — one list per property, cleaned column by column — with no
# dict per row. They give the tables the row readers above give (tests/test_read_split.py);
# anything else (escapes, duplicate golden IDs, attribute names that collide) is read by
# the row readers.
_NONE = type(None)
_NOT_NONE = partial(is_not, None)
_STR_OR_NONE = frozenset({str, _NONE})
_PRIMITIVE = frozenset({int, float, bool, _NONE})


def _plain_value(v: Any, clean: _Cleaner) -> Any:
    t = type(v)
    if t is str:
        return v.strip() or None
    if t is int or t is float or t is bool or v is None:
        return v
    return clean.value(v, True)


def _clean_column(values: list[Any], clean: _Cleaner) -> list[Any]:
    """A column's values as :meth:`_Cleaner.props` leaves them in a plain line (None where
    the property goes)."""
    types = set(map(type, values))
    if types == {str}:
        out = list(map(str.strip, values))
        return [v or None for v in out] if "" in out else out
    if types <= _STR_OR_NONE:
        return [(v.strip() or None) if v is not None else None for v in values]
    if types <= _PRIMITIVE:
        return values
    return [_plain_value(v, clean) for v in values]


def _label_of(uids: list[str]) -> list[str]:
    return ["Person" if u.startswith("P") else "Enterprise" for u in uids]


_ENTITY_FIELDS = (
    "uid",
    "lifecycle",
    "merged_into",
    "known_from",
    "id_hash",
    "id_masked",
    "members",
)


def _golden_tables(
    lines: list[_GoldenLine], clean: _Cleaner
) -> tuple[dict[str, NodeTable], dict[RelKey, RelTable], list[str]] | None:
    """golden.jsonl's nodes (entities, addresses, phones), LOCATED_AT and USES_PHONE, and
    the golden IDs; None when the row reader must read it."""
    ids = list(map(str.strip, map(attrgetter("id"), lines)))
    if "" in ids or len(set(ids)) != len(ids):
        return None
    attrs = list(map(attrgetter("attributes"), lines))
    names = {k: ATTRIBUTE_NAMES.get(k, k) for k in (set().union(*attrs) if attrs else ())}
    if len(set(names.values())) != len(names) or set(names.values()) & set(_ENTITY_FIELDS):
        return None
    cols: dict[str, list[Any]] = {"uid": ids}
    for k, name in sorted(names.items()):
        cols[name] = _clean_column(list(map(dict.get, attrs, repeat(k))), clean)
    for f in _ENTITY_FIELDS[1:-1]:
        cols[f] = _clean_column(list(map(attrgetter(f), lines)), clean)
    cols["members"] = list(map(len, map(attrgetter("members"), lines)))
    labels = [
        "Enterprise" if t == "Enterprise" else "Person" for t in map(attrgetter("type"), lines)
    ]
    everyone = NodeTable(ids, cols)
    nodes = {lab: everyone.take(at) for lab, at in partition(labels).items()}
    rels: dict[RelKey, RelTable] = {}
    firms = nodes.get("Enterprise")
    if firms is None:
        return nodes, rels, ids
    lifecycle = firms.cols.get("lifecycle", [None] * len(firms))
    active = [x == "active" for x in lifecycle]
    for prop, lab, rel, text in (
        ("address", "Address", "LOCATED_AT", "text"),
        ("phone", "Phone", "USES_PHONE", "number"),
    ):
        values = firms.cols.get(prop)
        if values is None:
            continue
        if not set(map(type, values)) <= _STR_OR_NONE:
            return None
        keep = [a and v is not None for a, v in zip(active, values, strict=True)]
        dst = list(compress(values, keep))
        if not dst:
            continue
        src = list(compress(firms.uids, keep))
        unique = list(dict.fromkeys(dst))
        nodes[lab] = NodeTable(unique, {"uid": unique, text: unique})
        # golden IDs are distinct: one row per enterprise
        rels[(rel, "Enterprise", lab)] = RelTable(src, dst, [1] * len(dst), {}, distinct=True)
    return nodes, rels, ids


def _source_tables(
    rows: list[list[str]],
    col: dict[str, int],
    run_batch: Any,
    out: RunGraph,
    stateful: bool,
    clean: _Cleaner,
) -> tuple[dict[str, NodeTable], dict[RelKey, RelTable]] | None:
    """SourceRecord nodes and RESOLVED_TO from the rows of a plain links.csv or
    resolved.csv (no control character, no neutralised cell); None when the row reader
    must read them."""
    if set(map(len, rows)) - {len(col)} or not (run_batch is None or isinstance(run_batch, str)):
        return None
    nodes: dict[str, NodeTable] = {}
    rels: dict[RelKey, RelTable] = {}
    if not rows:
        return nodes, rels
    cells = list(zip(*rows, strict=True))
    kinds = list(cells[col["kind"]])
    wanted = [k == "enterprise" or k == "person" for k in kinds]
    count = out.counts["RESOLVED_TO"]
    count.rows += sum(wanted)
    entities = list(compress(cells[col["entity_id"]], wanted))
    if unresolved := entities.count(""):
        count.skipped["unresolved record"] += unresolved
    keep = list(map(bool, entities))
    if not any(keep):
        return nodes, rels

    def cells_of(name: str) -> list[str]:
        return list(compress(compress(cells[col[name]], wanted), keep))

    dept, record, kind = (
        cells_of("dept"),
        cells_of("record_id"),
        list(compress(compress(kinds, wanted), keep)),
    )
    dst = list(map(str.strip, compress(entities, keep)))
    uids = list(map(str.strip, map("|".join, zip(dept, kind, record, strict=True))))
    if "batch_id" in col:
        batch = [b or run_batch for b in cells_of("batch_id")]
    else:
        batch = [run_batch] * len(uids)
    props = {
        "uid": uids,
        "dept": _clean_column(dept, clean),
        "kind": kind,
        "record_id": _clean_column(record, clean),
        "batch_id": _clean_column(batch, clean),
    }
    sources = NodeTable(uids, props)
    once = last_of_each(uids)
    nodes["SourceRecord"] = sources if once is None else sources.take(once)
    rel_cols = {
        "score": [float(s or 0) for s in cells_of("score")],
        "decision": _clean_column(cells_of("decision"), clean),
    }
    resolved = RelTable(uids, dst, [1] * len(uids), rel_cols, distinct=once is None)
    for lab, at in partition(_label_of(dst)).items():
        rels[("RESOLVED_TO", "SourceRecord", lab)] = resolved.take(at)
    if stateful:
        out.resolved_sources.extend({"src": s, "dst": d} for s, d in zip(uids, dst, strict=True))
    return nodes, rels


def _groups(keys: list[Any]) -> tuple[list[int], list[tuple[int, list[int]]]]:
    """For rows with these keys: the first row of each key (keys in the order they first
    occur), and each key of several rows as (its place in that order, its rows)."""
    n = len(keys)
    distinct = dict.fromkeys(keys)
    number = dict(zip(distinct, range(len(distinct)), strict=True))
    if len(number) == n:
        return list(range(n)), []
    gid = np.fromiter(map(number.__getitem__, keys), dtype=np.int64, count=n)
    rows = np.argsort(gid, kind="stable")  # grouped, each group's rows in file order
    sizes = np.bincount(gid, minlength=len(number))
    starts = np.cumsum(sizes) - sizes
    first = rows[starts].tolist()
    several = np.flatnonzero(sizes > 1)
    ordered = rows.tolist()
    spans = zip(starts[several].tolist(), (starts + sizes)[several].tolist(), strict=True)
    return first, [(j, ordered[a:b]) for j, (a, b) in zip(several.tolist(), spans, strict=True)]


def _first_present(values: list[Any], bounds: list[int]) -> list[Any]:
    """Per group (``values[bounds[i]:bounds[i + 1]]``): its first value that is not None."""
    out: list[Any] = [None] * (len(bounds) - 1)
    present = np.flatnonzero(
        np.fromiter(map(is_not, values, repeat(None)), dtype=bool, count=len(values))
    )
    if not len(present):
        return out
    group = np.searchsorted(np.asarray(bounds), present, side="right") - 1
    found, where = np.unique(group, return_index=True)
    for i, k in zip(found.tolist(), present[where].tolist(), strict=True):
        out[i] = values[k]
    return out


def _edge_tables(lines: list[_EdgeLine], out: RunGraph, clean: _Cleaner) -> dict[RelKey, RelTable]:
    """Roles, shareholdings and branches of a plain edges.jsonl (see :func:`_read_edges`)."""
    counts = out.counts
    types = list(map(attrgetter("type"), lines))
    for t, n in Counter(types).items():
        counts[t].rows += n
    froms = list(map(attrgetter("from_"), lines))
    tos = list(map(attrgetter("to"), lines))
    ok = [bool(a and b) for a, b in zip(froms, tos, strict=True)]
    if not all(ok):
        for e in compress(lines, [not x for x in ok]):
            no_from, no_to = _UNRESOLVED.get(e.type, ("unresolved end", "unresolved end"))
            counts[e.type].skipped[no_from if not e.from_ else no_to] += 1
        lines = list(compress(lines, ok))
        types, froms, tos = (
            list(compress(types, ok)),
            list(compress(froms, ok)),
            list(compress(tos, ok)),
        )
    if not lines:
        return {}
    froms, tos = list(map(str.strip, froms)), list(map(str.strip, tos))
    # one text per (type, from, to) (hashed once, unlike a tuple looked up again)
    keys = list(map("\x00".join, zip(types, froms, tos, strict=True)))
    sources = list(map(attrgetter("source"), lines))
    depts = list(map(attrgetter("dept"), sources))
    records = list(map(attrgetter("record_id"), sources))
    kinds = list(map(attrgetter("kind"), sources))
    named = list(map("|".join, zip(depts, records, strict=True)))
    kind_names = [k or "unknown" for k in kinds]
    # Several rows naming one relationship (a group): their values taken row by row in the
    # order of their sources, the first non-null wins, all sources listed (_read_edges).
    first, groups = _groups(keys)
    at = [j for j, _g in groups]  # where each group's relationship is in the table
    if groups:
        # (dept, record_id, kind) order: NUL sorts before every character a plain value has
        order = list(map("\x00".join, zip(depts, records, kinds, strict=True)))
        for _j, g in groups:
            g.sort(key=order.__getitem__)
    flat = list(chain.from_iterable(g for _j, g in groups))
    sizes = [len(g) for _j, g in groups]
    bounds = list(accumulate(sizes, initial=0))
    cols: dict[str, list[Any]] = {}
    for p in EDGE_PROPERTIES:
        values = list(map(attrgetter(p), lines))
        column = list(map(values.__getitem__, first))
        if groups:
            merged = _first_present(list(map(values.__getitem__, flat)), bounds)
            for j, v in zip(at, merged, strict=True):
                column[j] = v
        cols[p] = _clean_column(column, clean)
    w = [1] * len(first)
    for j, size in zip(at, sizes, strict=True):
        w[j] = size
    for p, names in (("sources", named), ("source_kinds", kind_names)):
        stripped = list(map(str.strip, map(names.__getitem__, first)))
        items = list(map(list, zip(stripped)))
        if "" in stripped:
            items = [x if x[0] else None for x in items]  # type: ignore[misc]
        if groups:
            every = list(map(str.strip, map(names.__getitem__, flat)))
            lists = [every[a:b] for a, b in pairwise(bounds)]
            if "" in every:
                lists = [x if all(x) else None for x in lists]  # type: ignore[misc]
            for j, v in zip(at, lists, strict=True):
                items[j] = v
        cols[p] = items
    src = list(map(froms.__getitem__, first))
    dst = list(map(tos.__getitem__, first))
    table = RelTable(src, dst, w, cols, distinct=True)  # grouped by ends
    by = list(zip(map(types.__getitem__, first), _label_of(src), strict=True))
    return {(rel, lab, "Enterprise"): table.take(at) for (rel, lab), at in partition(by).items()}


def _event_tables(
    lines: list[_EventLine], out: RunGraph, clean: _Cleaner
) -> tuple[dict[str, NodeTable], dict[RelKey, RelTable]]:
    """Credit events, facts and tax declarations of a plain events.jsonl, and SUBJECT_OF
    (see :func:`_read_events`)."""
    count = out.counts["SUBJECT_OF"]
    count.rows += len(lines)
    if not lines:
        return {}, {}
    labels = [EVENT_LABELS[k] for k in map(attrgetter("kind"), lines)]
    sources = list(map(attrgetter("source"), lines))
    dept = list(map(attrgetter("dept"), sources))
    record = list(map(attrgetter("record_id"), sources))
    uids = list(map(str.strip, map("|".join, zip(dept, record, strict=True))))
    values = list(map(attrgetter("values"), lines))
    cols: dict[str, list[Any]] = {"uid": _clean_column(uids, clean)}
    for k in EVENT_PROPERTIES:
        cols[k] = _clean_column(list(map(attrgetter(k), values)), clean)
    cols["subject_name"] = _clean_column(list(map(attrgetter("name"), values)), clean)
    cols["dept"] = _clean_column(dept, clean)
    cols["record_id"] = _clean_column(record, clean)
    every = NodeTable(uids, cols)
    nodes: dict[str, NodeTable] = {}
    distinct = True  # each event's record once: one SUBJECT_OF per event node
    for lab, at in partition(labels).items():
        table = every.take(at)
        once = last_of_each(table.uids)
        nodes[lab] = table if once is None else table.take(once)
        distinct = distinct and once is None
    subjects = list(map(attrgetter("subject"), lines))
    has = list(map(bool, subjects))
    if missing := has.count(False):
        count.skipped["unresolved subject"] += missing
    src = list(map(str.strip, compress(subjects, has)))
    dst = list(compress(uids, has))
    about = RelTable(src, dst, [1] * len(src), {}, distinct)
    by = list(zip(_label_of(src), compress(labels, has), strict=True))
    rels = {("SUBJECT_OF", a, b): about.take(at) for (a, b), at in partition(by).items()}
    return nodes, rels
