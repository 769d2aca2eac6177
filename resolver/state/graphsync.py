"""What a stateful run tells the graph, and the whole state written as one run.

The graph must equal the state after every batch (Contract 3). A stateful run therefore
carries, besides the batch's own rows (links.csv):

- ``golden.jsonl``: every entity whose golden record or lifecycle changed (new, updated,
  merged with ``merged_into``, retired, persons first known from a mention);
- ``resolved.csv``: the state's resolution of every entity record the batch touched or
  re-linked (``dept,record_id,kind,entity_id,score,decision,batch_id``);
- ``edges.jsonl`` / ``events.jsonl``: every role, shareholding, branch and event row of the
  state that touches an affected entity, plus the rows whose resolution changed;
- ``changes.json``: the affected entities (their relationships are replaced by the run's)
  and the withdrawn records (their nodes go).

To know which stored rows changed, the state keeps each mention row's resolution
(``mentions``, ``mention_ends``), each entity record's score and decision
(``resolutions``) and the registry of persons known only from mentions
(``mention_persons``, keyed by the salted ID hash). :func:`export_run` writes the whole
state in the same form: loaded into an empty graph it gives the graph every stateful load
must arrive at.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from resolver.csvsafe import safe_writer
from resolver.ingest.rows import RecordKey
from resolver.state import run_files
from resolver.state.store import KEY_MATCH, State, current_ids, rows_by_keys, rows_in

TABLES = """
CREATE TABLE IF NOT EXISTS resolutions (
    dept TEXT NOT NULL, kind TEXT NOT NULL, record_id TEXT NOT NULL, score REAL, decision TEXT,
    PRIMARY KEY (dept, kind, record_id)
);
CREATE TABLE IF NOT EXISTS mentions (
    dept TEXT NOT NULL, record_id TEXT NOT NULL, part TEXT NOT NULL, kind TEXT NOT NULL,
    payload TEXT NOT NULL, loose INTEGER NOT NULL, PRIMARY KEY (dept, kind, record_id, part)
);
CREATE TABLE IF NOT EXISTS mention_ends (
    entity_id TEXT NOT NULL, dept TEXT NOT NULL, kind TEXT NOT NULL, record_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mention_ends_entity ON mention_ends (entity_id);
CREATE INDEX IF NOT EXISTS mention_ends_record_kind ON mention_ends (dept, kind, record_id);
CREATE TABLE IF NOT EXISTS mention_persons (id_hash TEXT PRIMARY KEY, entity_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS loose_tokens (
    token TEXT NOT NULL, dept TEXT NOT NULL, kind TEXT NOT NULL, record_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS loose_tokens_token ON loose_tokens (token);
CREATE INDEX IF NOT EXISTS loose_tokens_record ON loose_tokens (dept, kind, record_id);
"""
#: Meta key set once every loose mention row of the state has its tokens in ``loose_tokens``.
TOKENS_META = "loose_tokens"
EVENT_KINDS = ("credit_event", "fact", "tax_declaration")
#: Resolutions that may change without the entity they point at changing: a name (or a
#: name with a masked ID number) that another entity may come to carry.
LOOSE = frozenset({"unresolved", "by_name", "by_name_stem", "by_masked_id", "by_name_masked_id"})
RESOLVED_HEADER = ["dept", "record_id", "kind", "entity_id", "score", "decision", "batch_id"]

Key = RecordKey


def ensure_tables(db: sqlite3.Connection) -> None:
    db.executescript(TABLES)


def mention_person(db: sqlite3.Connection, id_hash: str) -> str | None:
    row = db.execute(
        "SELECT entity_id FROM mention_persons WHERE id_hash = ?", (id_hash,)
    ).fetchone()
    return None if row is None else str(row[0])


def mention_persons(db: sqlite3.Connection, hashes: set[str]) -> dict[str, str]:
    """:func:`mention_person` of many ID hashes at once (those the registry holds)."""
    sql = "SELECT id_hash, entity_id FROM mention_persons WHERE id_hash IN {in}"
    return {h: str(gid) for h, gid in rows_in(db, sql, sorted(hashes))}


def save_registry(
    db: sqlite3.Connection, rows: list[tuple[str, str]], stored: dict[str, str] | None = None
) -> None:
    """Keep (ID hash, entity) pairs of the mention registry (a later pair for the same hash
    wins); pairs stored as they are are not written again (``stored``: the stored pairs of
    these hashes, read beforehand by :func:`read_stored`, else read here)."""
    new = dict(rows)
    if stored is None:
        stored = _registry(db, sorted(new))
    for h, gid in stored.items():
        if new.get(h) == gid:
            del new[h]
    db.executemany("INSERT OR REPLACE INTO mention_persons VALUES (?, ?)", sorted(new.items()))


def _registry(db: sqlite3.Connection, hashes: list[str]) -> dict[str, str]:
    return dict(
        rows_in(db, "SELECT id_hash, entity_id FROM mention_persons WHERE id_hash IN {in}", hashes)
    )


@dataclass(slots=True)
class Stored:
    """The stored rows a batch's transaction compares its own with, read before it writes
    (:func:`read_stored`): mention rows by record and part, loose tokens by record, scores
    and decisions, registry pairs, golden records (JSON text) by entity ID."""

    mentions: dict[Key, dict[str, bytes]]
    tokens: dict[Key, set[str]]
    resolutions: dict[Key, tuple[Any, Any]]
    registry: dict[str, str]
    goldens: dict[str, str | None]


def read_stored(
    db: sqlite3.Connection,
    mention_keys: list[Key],
    resolution_keys: list[Key],
    registry_hashes: list[str],
    golden_ids: list[str],
) -> Stored:
    """What :func:`save_mentions`, :func:`save_resolutions`, :func:`save_registry` and the
    golden-record check compare with, read by the transaction before it writes."""
    goldens: dict[str, str | None] = dict(
        rows_in(db, "SELECT id, golden FROM entities WHERE id IN {in}", golden_ids)
    )
    registry = _registry(db, registry_hashes)
    tokens: dict[Key, set[str]] = defaultdict(set)
    for token, dept, kind, rid in rows_by_keys(
        db, "SELECT token, dept, kind, record_id FROM loose_tokens WHERE {keys}", mention_keys
    ):
        tokens[(dept, kind, rid)].add(token)
    mentions: dict[Key, dict[str, bytes]] = {}
    for dept, kind, rid, part, text in rows_by_keys(
        db, "SELECT dept, kind, record_id, part, payload FROM mentions WHERE {keys}", mention_keys
    ):
        mentions.setdefault((dept, kind, rid), {})[part] = text.encode()
    resolutions = {
        (dept, kind, rid): (score, decision)
        for dept, kind, rid, score, decision in rows_by_keys(
            db,
            "SELECT dept, kind, record_id, score, decision FROM resolutions WHERE {keys}",
            resolution_keys,
        )
    }
    return Stored(mentions, dict(tokens), resolutions, registry, goldens)


def payload_key(payload: dict[str, Any], kind: str | None = None) -> Key:
    """The record a row comes from: (dept, kind, record_id); ``kind`` for rows stored
    before their source carried it."""
    src = payload["source"]
    return src["dept"], src.get("kind") or kind or "", src["record_id"]


def ends(payload: dict[str, Any]) -> set[str]:
    return {v for k in ("from", "to", "subject") if (v := payload.get(k))}


def is_loose(payload: dict[str, Any]) -> bool:
    resolved = payload.get("resolved")
    hows = list(resolved.values()) if isinstance(resolved, dict) else [resolved]
    return not resolved or any(h in LOOSE for h in hows)


def _part(kind: str, payload: dict[str, Any]) -> str:
    """One record may give several rows: an enterprise record its LEGAL_REP_OF and its
    BRANCH_OF; every other kind gives one."""
    return str(payload["type"]) if kind == "enterprise" else ""


def stale_mentions(
    db: sqlite3.Connection, changed: set[str], skip: set[Key], tokens: set[str] | None = None
) -> set[Key]:
    """Stored mention rows whose resolution may have changed: those pointing at an entity the
    batch changed, and loose ones (unresolved, by name) — every loose row when ``tokens`` is
    None, else those sharing a token (:func:`resolver.linkage.mentions.mention_tokens`) with
    a record whose entity may have changed."""
    if tokens is None:  # every loose row, by what LOOSE says now (not the stored flag)
        out: set[Key] = {
            (d, k, r)
            for d, k, r, text in db.execute("SELECT dept, kind, record_id, payload FROM mentions")
            if is_loose(msgspec.json.decode(text))
        }
    else:
        out = set()
        sql = "SELECT DISTINCT dept, kind, record_id FROM loose_tokens WHERE token IN {in}"
        out.update(rows_in(db, sql, sorted(tokens)))
    sql = "SELECT dept, kind, record_id FROM mention_ends WHERE entity_id IN {in}"
    out.update((d, k, r) for d, k, r in rows_in(db, sql, sorted(changed)))
    return out - skip


def _canonical(payload: Any) -> bytes:
    """A mention row as compact JSON with sorted keys (what ``mentions.payload`` holds)."""
    return msgspec.json.encode(payload, order="sorted")


def _save_tokens(
    db: sqlite3.Connection,
    keys: list[Key],
    updates: dict[Key, tuple[str, list[dict[str, Any]]]],
    tokens: dict[Key, set[str]],
    as_stored: dict[Key, Callable[[], set[str]]],
    have: dict[Key, set[str]] | None = None,
) -> None:
    """The tokens of each processed record whose rows are loose (none for the others):
    ``tokens``, or for a record whose content is as stored (``as_stored``) its stored tokens
    (computed only if it has none). Only the rows that differ from the stored ones are
    deleted or inserted (a batch rechecks many rows whose tokens stay as they were, and
    rewriting them dirties pages all the same). ``have``: the stored tokens of ``keys``,
    read beforehand (:func:`read_stored`), else read here."""
    if have is None:
        have = defaultdict(set)
        for token, dept, kind, rid in rows_by_keys(
            db, "SELECT token, dept, kind, record_id FROM loose_tokens WHERE {keys}", keys
        ):
            have[(dept, kind, rid)].add(token)
    delete: list[tuple[str, str, str, str]] = []
    insert: list[tuple[str, str, str, str]] = []
    for key in keys:
        stored = have.get(key, set())
        if not any(is_loose(p) for p in updates[key][1]):
            want: set[str] = set()
        elif key in tokens:
            want = tokens[key]
        elif key in as_stored:
            want = stored or as_stored[key]()
        else:
            want = set()
        delete.extend((t, *key) for t in stored - want)
        insert.extend((t, *key) for t in want - stored)
    db.executemany(
        "DELETE FROM loose_tokens WHERE token = ? AND dept = ? AND kind = ? AND record_id = ?",
        sorted(delete),
    )
    db.executemany("INSERT INTO loose_tokens VALUES (?, ?, ?, ?)", sorted(insert))


def save_mentions(
    db: sqlite3.Connection,
    rows: dict[Key, tuple[str, list[dict[str, Any]]]],
    withdrawn: Iterable[Key],
    tokens: dict[Key, set[str]] | None = None,
    as_stored: dict[Key, Callable[[], set[str]]] | None = None,
    before: Stored | None = None,
) -> tuple[set[str], set[Key]]:
    """Store the rows each processed record gives (none for a withdrawn one) and, given
    ``tokens``, the tokens of each processed record whose rows are loose (``as_stored``:
    records whose content is as stored, see :func:`_save_tokens`); returns (the
    entities at either end of a row that changed, before or after; the records whose rows
    changed). The stored rows are read per chunk of records and the changes written with
    one ``executemany`` per statement, in key order (``before``: the stored rows and tokens
    of these records, read beforehand by :func:`read_stored`)."""
    touched_ids: set[str] = set()
    updates: dict[Key, tuple[str, list[dict[str, Any]]]] = dict(rows)
    for key in withdrawn:
        updates[key] = (key[1], [])
    keys = sorted(updates)
    if tokens is not None:
        _save_tokens(
            db, keys, updates, tokens, as_stored or {}, None if before is None else before.tokens
        )
    stored: dict[Key, dict[str, bytes]] = {}
    if before is not None:
        stored = before.mentions
    else:
        for dept, kind, rid, part, text in rows_by_keys(
            db, "SELECT dept, kind, record_id, part, payload FROM mentions WHERE {keys}", keys
        ):
            stored.setdefault((dept, kind, rid), {})[part] = text.encode()
    changed: list[Key] = []
    inserts: list[tuple[str, str, str, str, str, int]] = []
    end_rows: list[tuple[str, str, str, str]] = []
    for key in keys:
        kind, payloads = updates[key]
        old = stored.get(key, {})
        new = {_part(kind, p): _canonical(p) for p in payloads}
        # Rows compare as compact JSON with sorted keys, the stored side re-encoded, so that
        # a row stored in another spelling of the same JSON (separators) compares equal; a
        # row stored as this canonical text (as this function writes them) needs no work.
        if old == new or (
            old.keys() == new.keys()
            and all(
                _canonical(msgspec.json.decode(text)) == new[part] for part, text in old.items()
            )
        ):
            continue
        changed.append(key)
        for text in old.values():
            touched_ids |= ends(msgspec.json.decode(text))
        dept, _kind, rid = key
        for p in payloads:
            touched_ids |= ends(p)
            inserts.append(
                (dept, rid, _part(kind, p), kind, new[_part(kind, p)].decode(), int(is_loose(p)))
            )
        end_rows.extend(sorted({(e, *key) for p in payloads for e in ends(p)}))
    db.executemany(f"DELETE FROM mentions WHERE {KEY_MATCH}", changed)
    db.executemany(f"DELETE FROM mention_ends WHERE {KEY_MATCH}", changed)
    db.executemany("INSERT INTO mentions VALUES (?, ?, ?, ?, ?, ?)", inserts)
    db.executemany("INSERT INTO mention_ends VALUES (?, ?, ?, ?)", end_rows)
    return touched_ids, set(changed)


def save_resolutions(
    db: sqlite3.Connection,
    rows: Iterable[tuple[Key, float, str]],
    stored: dict[Key, tuple[Any, Any]] | None = None,
) -> None:
    """Keep each record's score and decision; rows stored with the same values are left
    alone (rewriting one dirties its page all the same). ``stored``: the stored values of
    these records, read beforehand (:func:`read_stored`), else read here."""
    new = {key: (score, decision) for key, score, decision in rows}
    if stored is None:
        stored = {
            (dept, kind, rid): (score, decision)
            for dept, kind, rid, score, decision in rows_by_keys(
                db,
                "SELECT dept, kind, record_id, score, decision FROM resolutions WHERE {keys}",
                sorted(new),
            )
        }
    for key, values in stored.items():
        if new.get(key) == values:
            del new[key]
    db.executemany(
        "INSERT OR REPLACE INTO resolutions VALUES (?, ?, ?, ?, ?)",
        [(*key, score, decision) for key, (score, decision) in sorted(new.items())],
    )


def source_uid(dept: str, kind: str, record_id: str) -> str:
    """A SourceRecord node's uid (Contract 3): ``DEPT|KIND|RECORD_ID``."""
    return f"{dept}|{kind}|{record_id}"


def lifecycle_golden(state: State, entity_id: str) -> dict[str, Any] | None:
    """The stored golden record with the entity's lifecycle (and ``merged_into``)."""
    row = state.db.execute(
        "SELECT status, redirect_to, golden FROM entities WHERE id = ?", (entity_id,)
    ).fetchone()
    if row is None or not row[2]:
        return None
    status, target, golden = row
    data: dict[str, Any] = json.loads(golden)
    data["lifecycle"] = status
    if status == "merged" and target:
        data["merged_into"] = target
    else:
        data.pop("merged_into", None)
    return data


def _payloads(db: sqlite3.Connection, sql: str, params: list[Any]) -> Iterator[tuple[str, Any]]:
    for kind, text in db.execute(sql, params):
        yield kind, msgspec.json.decode(text)


class _Source(msgspec.Struct):
    dept: Any = None
    kind: Any = None
    record_id: Any = None


class _Row(msgspec.Struct):
    """What :func:`rows_touching` reads of a stored mention row: its ends, type, source."""

    from_: Any = msgspec.field(name="from", default=None)
    to: Any = None
    subject: Any = None
    type: Any = None
    source: _Source | None = None


_ROW = msgspec.json.Decoder(_Row)

#: A stored row as the run writes it: its stored text where that is msgspec's compact
#: spelling (what :func:`save_mentions` writes: decoded and encoded again it gives the same
#: bytes), else the decoded row (text stored by ``json.dumps``, which puts ``": "`` after
#: every key: its floats and separators are spelled otherwise).
RowOut = msgspec.Raw | dict[str, Any]


def rows_touching(
    state: State,
    entity_ids: set[str],
    records: set[Key],
    known: dict[Key, tuple[str, list[dict[str, Any]]]] | None = None,
) -> tuple[list[RowOut], list[RowOut], Counter[str]]:
    """:func:`payloads_touching` as the run writes them (``RowOut``, not decoded where the
    stored text is what writing the decoded row would give) and the edges' types counted
    (in order of first appearance). ``known``: records whose rows the caller has just
    stored with :func:`save_mentions` (record -> (kind, rows)), taken from there instead of
    read back: each stored row is written as its canonical text, which is what the stored
    text gives (that text itself, or an older ``json.dumps(..., sort_keys=True)`` spelling
    of the same row, which save_mentions leaves: decoded, its keys are in the same order)."""
    known = known or {}
    keys: set[Key] = set(records)
    sql = "SELECT dept, kind, record_id FROM mention_ends WHERE entity_id IN {in}"
    keys.update(rows_in(state.db, sql, sorted(entity_ids)))
    edges: list[RowOut] = []
    events: list[RowOut] = []
    types: Counter[str] = Counter()
    ordered = sorted(keys)
    # In the order of the reads: 400 records at a time, each lot by (dept, record_id,
    # kind, part).
    for i in range(0, len(ordered), 400):
        lot = ordered[i : i + 400]
        # (order, kind, the row decoded, the row as written)
        rows: list[tuple[tuple[str, str, str, str], str, Any, msgspec.Raw | None]] = []
        rest = [k for k in lot if k not in known]
        if rest:
            q = " OR ".join([KEY_MATCH] * len(rest))
            for dept, rid, kind, part, text in state.db.execute(
                f"SELECT dept, record_id, kind, part, payload FROM mentions WHERE {q}",
                [x for k in rest for x in k],
            ):
                if '": ' in text:  # json.dumps's spelling: decoded, written as msgspec does
                    rows.append(((dept, rid, kind, part), kind, msgspec.json.decode(text), None))
                else:
                    rows.append(((dept, rid, kind, part), kind, None, msgspec.Raw(text.encode())))
        for k in lot:
            if k in known:
                kind, payloads = known[k]
                for p in payloads:
                    rows.append(
                        ((k[0], k[2], kind, _part(kind, p)), kind, p, msgspec.Raw(_canonical(p)))
                    )
        rows.sort(key=lambda r: r[0])
        for _order, kind, p, raw in rows:
            if p is None and raw is not None:
                row = _ROW.decode(raw)
                hit = {v for v in (row.from_, row.to, row.subject) if v}
                if (s := row.source) is None:
                    raise KeyError("source")
                key = (s.dept, s.kind or kind or "", s.record_id)
                typ = row.type
            else:
                hit = ends(p)
                src = p["source"]
                key = (src["dept"], src.get("kind") or kind or "", src["record_id"])
                typ = p.get("type")
            # Only rows touching an affected entity (a record's other rows belong to
            # relationships this run does not replace: a partial group would overwrite
            # them), or rows of changed records that touch nothing (unresolved events).
            if hit & entity_ids or (not hit and key in records):
                out: RowOut = raw if raw is not None else p
                if kind in EVENT_KINDS:
                    events.append(out)
                else:
                    edges.append(out)
                    types[typ] += 1
    return edges, events, types


def payloads_touching(
    state: State, entity_ids: set[str], records: set[Key]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(edges, events) of the stored mention rows with an end in ``entity_ids`` or among
    ``records``, in record order."""
    edges, events, _types = rows_touching(state, entity_ids, records)
    return [_decoded(p) for p in edges], [_decoded(p) for p in events]


def _decoded(row: RowOut) -> dict[str, Any]:
    return row if isinstance(row, dict) else msgspec.json.decode(row)


#: A resolved.csv row the caller holds: (entity ID as the records table has it, score,
#: decision, the batch that delivered the record).
Known = tuple[str, float | None, str | None, str | None]


def _resolved_rows(
    state: State, keys: set[Key] | None, known: dict[Key, Known] | None = None
) -> Iterator[list[Any]]:
    sql = (
        "SELECT r.dept, r.record_id, r.kind, r.entity_id, s.score, s.decision, r.batch_id, "
        "e.status, e.redirect_to FROM records r LEFT JOIN resolutions s "
        "ON s.dept = r.dept AND s.kind = r.kind AND s.record_id = r.record_id "
        "LEFT JOIN entities e ON e.id = r.entity_id "
        "WHERE r.withdrawn = 0 AND r.kind IN ('enterprise', 'person') AND r.entity_id IS NOT NULL"
    )
    current = current_ids(state)

    def row(values: tuple[Any, ...]) -> list[Any]:
        dept, rid, kind, eid, score, decision, batch, status, target = values
        # An entity that is not merged away is itself now (no look-up of its redirects).
        now = eid if status is not None and (status != "merged" or not target) else current(eid)
        return [dept, rid, kind, now, score, decision or "", batch or ""]

    if keys is None:
        for values in state.db.execute(sql + " ORDER BY r.dept, r.record_id, r.kind"):
            yield row(values)
        return
    known = {k: v for k, v in (known or {}).items() if k in keys}
    lifecycle: dict[str, tuple[str, str | None]] = {}
    ids = sorted({v[0] for v in known.values()})
    for i in range(0, len(ids), 500):
        lot = ids[i : i + 500]
        for eid, status, target in state.db.execute(
            f"SELECT id, status, redirect_to FROM entities WHERE id IN ({','.join('?' * len(lot))})",
            lot,
        ):
            lifecycle[eid] = (status, target)
    # In the order of the look-ups: 300 keys at a time, each lot by (dept, record_id, kind).
    ordered = sorted(keys)
    for i in range(0, len(ordered), 300):
        chunk = ordered[i : i + 300]
        rows: list[tuple[tuple[str, str, str], list[Any]]] = []
        rest = [k for k in chunk if k not in known]
        if rest:
            q = " OR ".join(["(r.dept = ? AND r.kind = ? AND r.record_id = ?)"] * len(rest))
            for values in state.db.execute(f"{sql} AND ({q})", [x for k in rest for x in k]):
                rows.append(((values[0], values[1], values[2]), row(values)))
        for k in chunk:
            if (v := known.get(k)) is not None:
                dept, kind, rid = k
                eid, score, decision, batch = v
                # As SQLite gives a REAL back: NaN is NULL, -0.0 is 0.0.
                kept = None if score is None or score != score else score + 0.0
                status, target = lifecycle.get(eid) or (None, None)
                rows.append(
                    (
                        (dept, rid, kind),
                        row((dept, rid, kind, eid, kept, decision, batch, status, target)),
                    )
                )
        rows.sort(key=lambda r: r[0])
        for _k, values_out in rows:
            yield values_out


def write_resolved(
    state: State, out_dir: Path, keys: set[Key] | None, known: dict[Key, Known] | None = None
) -> int:
    """``resolved.csv``: the state's resolution of the given entity records (all if None).
    ``known``: rows of records the caller has just written (entity, score, decision, batch),
    given rather than read back."""
    n = 0
    with (out_dir / "resolved.csv").open("w", encoding="utf-8", newline="") as fh:
        w = safe_writer(fh)
        w.writerow(RESOLVED_HEADER)
        for values in _resolved_rows(state, keys, known):
            w.writerow(values)
            n += 1
    return n


def state_position(state: State, applied_batch: str | None = None) -> dict[str, Any] | None:
    """Which state a run comes from and how far along it is: ``{id, batch_seq, batch_id}``
    (the graph keeps it, so an older run is refused rather than rolling the graph back).
    ``applied_batch``: the batch being applied (inside its transaction) advances the count;
    without it, the position of the last applied batch (None for a state that has none)."""
    sid = state.meta("state_id")
    if applied_batch is None:
        seq = state.meta("batch_seq")
        if sid is None or seq is None:
            return None
        return {"id": sid, "batch_seq": int(seq), "batch_id": state.meta("last_batch")}
    if sid is None:
        sid = uuid.uuid4().hex
        state.set_meta("state_id", sid)
    seq_n = int(state.meta("batch_seq") or 0) + 1
    state.set_meta("batch_seq", str(seq_n))
    state.set_meta("last_batch", applied_batch)
    return {"id": sid, "batch_seq": seq_n, "batch_id": applied_batch}


def write_changes(
    out_dir: Path,
    entities: set[str],
    withdrawn: list[tuple[str, str]],
    position: dict[str, Any] | None = None,
) -> None:
    """``changes.json``: affected entities, withdrawn records' nodes (label, uid) and
    the state's position (:func:`state_position`)."""
    (out_dir / "changes.json").write_text(
        json.dumps(
            {
                "entities": sorted(entities),
                "withdrawn": [{"label": lab, "uid": uid} for lab, uid in sorted(set(withdrawn))],
                **({"state": position} if position else {}),
            },
            ensure_ascii=False,
            indent=1,
        )
        + "\n",
        "utf-8",
    )


def export_run(state_dir: Path, out_dir: Path) -> dict[str, int]:
    """The whole state as one complete run (golden.jsonl, resolved.csv, edges.jsonl,
    events.jsonl, changes.json with the state's position marked ``whole``, run.json): loaded
    into an empty graph, the graph every stateful load must equal. Written atomically, as
    a link run is."""
    staging = run_files.begin(out_dir)
    try:
        counts, position = _export_files(state_dir, staging)
        info = {
            "snapshot_of": str(state_dir),
            **({"batch_id": position["batch_id"]} if position else {}),
        }
        run_files.publish(staging, out_dir, run_files.seal(staging, info))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts


@contextmanager
def _one_snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """Reads inside see one committed state of the database (a deferred transaction)."""
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


def _export_files(state_dir: Path, out_dir: Path) -> tuple[dict[str, int], dict[str, Any] | None]:
    """:func:`export_run`'s files, written into ``out_dir``; (counts, the state's position)."""
    counts = {"entities": 0, "records": 0, "edges": 0, "events": 0}
    with State(state_dir) as state:
        ensure_tables(state.db)
        # one read transaction: a batch committed meanwhile is in all of it or none of it
        with _one_snapshot(state.db):
            with (out_dir / "golden.jsonl").open("w", encoding="utf-8") as fh:
                for (eid,) in state.db.execute("SELECT id FROM entities ORDER BY id").fetchall():
                    data = lifecycle_golden(state, eid)
                    if data is not None:
                        fh.write(json.dumps(data, ensure_ascii=False) + "\n")
                        counts["entities"] += 1
            counts["records"] = write_resolved(state, out_dir, None)
            with (
                (out_dir / "edges.jsonl").open("w", encoding="utf-8") as edges,
                (out_dir / "events.jsonl").open("w", encoding="utf-8") as events,
            ):
                for kind, p in _payloads(
                    state.db,
                    "SELECT kind, payload FROM mentions ORDER BY dept, record_id, kind, part",
                    [],
                ):
                    fh2 = events if kind in EVENT_KINDS else edges
                    fh2.write(json.dumps(p, ensure_ascii=False) + "\n")
                    counts["events" if kind in EVENT_KINDS else "edges"] += 1
            (out_dir / "report.json").write_text(
                json.dumps({"snapshot_of": str(state_dir), **counts}, ensure_ascii=False) + "\n",
                "utf-8",
            )
            position = state_position(state)
            write_changes(out_dir, set(), [], {**position, "whole": True} if position else None)
    return counts, position
