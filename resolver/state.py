"""The resolution state: an embedded, transactional SQLite database (WAL mode) in STATE_DIR.

Why SQLite: it ships with Python, is transactional (a batch is applied in one transaction,
so a process killed at any point leaves the state as it was), supports indexed point
look-ups (blocking keys of a few new records against millions of stored ones) and needs no
server. DuckDB would be faster for scans but is not built for many small indexed updates.

Tables: records (every record seen, with content hash and standardised features), keys (its
strong identifiers and blocking keys), entities (golden IDs: active, merged with a redirect,
or retired), history (every create/merge/split/retire event), judgements (human decisions),
review (pairs awaiting a decision), models (match-model parameters as JSON), batches.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resolver.ingest import Record

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, as_of TEXT, status TEXT NOT NULL, started_at TEXT, finished_at TEXT, summary TEXT
);
CREATE TABLE IF NOT EXISTS records (
    dept TEXT NOT NULL, record_id TEXT NOT NULL, kind TEXT NOT NULL, file TEXT, line INTEGER,
    batch_id TEXT, as_of TEXT, hash TEXT NOT NULL, raw TEXT NOT NULL, std TEXT NOT NULL,
    entity_id TEXT, withdrawn INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dept, record_id)
);
CREATE INDEX IF NOT EXISTS records_entity ON records (entity_id);
CREATE TABLE IF NOT EXISTS keys (key TEXT NOT NULL, dept TEXT NOT NULL, record_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS keys_key ON keys (key);
CREATE INDEX IF NOT EXISTS keys_record ON keys (dept, record_id);
CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, redirect_to TEXT,
    created_batch TEXT, updated_batch TEXT, golden TEXT
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, entity_id TEXT NOT NULL, event TEXT NOT NULL,
    batch_id TEXT, at TEXT NOT NULL, detail TEXT
);
CREATE INDEX IF NOT EXISTS history_entity ON history (entity_id);
CREATE TABLE IF NOT EXISTS judgements (
    a_dept TEXT NOT NULL, a_record TEXT NOT NULL, b_dept TEXT NOT NULL, b_record TEXT NOT NULL,
    decision TEXT NOT NULL, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL, reason TEXT,
    applied INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (a_dept, a_record, b_dept, b_record)
);
CREATE TABLE IF NOT EXISTS review (
    kind TEXT, a_dept TEXT, a_record TEXT, b_dept TEXT, b_record TEXT, probability REAL,
    weights TEXT, comparison TEXT, name_a TEXT, name_b TEXT, batch_id TEXT
);
CREATE TABLE IF NOT EXISTS models (kind TEXT PRIMARY KEY, params TEXT NOT NULL);
"""


class StateError(RuntimeError):
    """A state directory that cannot be used (wrong schema version, unknown ID, …)."""


@dataclass(frozen=True, slots=True)
class Judgement:
    a: tuple[str, str]
    b: tuple[str, str]
    decision: str  # match | no_match
    by: str
    at: str
    reason: str


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class State:
    """One open state database. Use :meth:`transaction` for every change."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "state.db"
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        version = self.meta("schema_version")
        if version is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        elif version != SCHEMA_VERSION:
            raise StateError(
                f"{self.path}: schema version {version}, this credgraph uses {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- small helpers --------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def transaction(self) -> sqlite3.Connection:
        """``with state.transaction():`` — BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error."""
        return _Tx(self.db)  # type: ignore[return-value]

    def batch_status(self, batch_id: str) -> str | None:
        row = self.db.execute(
            "SELECT status FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def batch_summary(self, batch_id: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT summary FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    # -- records ----------------------------------------------------------------------------
    def stored_hashes(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, str | None, int]]:
        """(hash, entity_id, withdrawn) of the given record keys that are stored."""
        out: dict[tuple[str, str], tuple[str, str | None, int]] = {}
        for chunk in _chunks(list(keys), 400):
            q = " OR ".join(["(dept = ? AND record_id = ?)"] * len(chunk))
            params = [x for k in chunk for x in k]
            for dept, rid, h, eid, wd in self.db.execute(
                f"SELECT dept, record_id, hash, entity_id, withdrawn FROM records WHERE {q}", params
            ):
                out[(dept, rid)] = (h, eid, wd)
        return out

    def records_by_key(self, keys: Iterable[str], max_per_key: int) -> set[tuple[str, str]]:
        """Records (dept, record_id) holding any of the keys; a key held by more than
        ``max_per_key`` records (a shared front-desk phone) is skipped, as in blocking."""
        found: set[tuple[str, str]] = set()
        for chunk in _chunks(sorted(set(keys)), 500):
            q = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key, dept, record_id FROM keys WHERE key IN ({q})", chunk
            ).fetchall()
            per_key: dict[str, list[tuple[str, str]]] = {}
            for key, dept, rid in rows:
                per_key.setdefault(key, []).append((dept, rid))
            for key, recs in per_key.items():
                if (key[0] in "UORI" and key[1] == "|") or len(recs) <= max_per_key:
                    found.update(recs)
        return found

    def entity_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for chunk in _chunks(list(keys), 400):
            q = " OR ".join(["(dept = ? AND record_id = ?)"] * len(chunk))
            for dept, rid, eid in self.db.execute(
                f"SELECT dept, record_id, entity_id FROM records WHERE ({q}) AND entity_id IS NOT NULL",
                [x for k in chunk for x in k],
            ):
                out[(dept, rid)] = eid
        return out

    def members(self, entity_ids: Iterable[str]) -> Iterator[Record]:
        """Stored, not withdrawn records of the given entities."""
        for chunk in _chunks(sorted(set(entity_ids)), 500):
            q = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT dept, file, line, record_id, kind, raw, std, entity_id FROM records "
                f"WHERE entity_id IN ({q}) AND withdrawn = 0",
                chunk,
            ):
                yield _record(row)

    def records_of(self, keys: Iterable[tuple[str, str]]) -> Iterator[Record]:
        """Stored, not withdrawn records with the given keys."""
        for chunk in _chunks(sorted(set(keys)), 400):
            q = " OR ".join(["(dept = ? AND record_id = ?)"] * len(chunk))
            for row in self.db.execute(
                f"SELECT dept, file, line, record_id, kind, raw, std, entity_id FROM records "
                f"WHERE ({q}) AND withdrawn = 0",
                [x for k in chunk for x in k],
            ):
                yield _record(row)

    def all_records(
        self, kinds: tuple[str, ...] | None = None
    ) -> Iterator[tuple[Record, str | None]]:
        sql = "SELECT dept, file, line, record_id, kind, raw, std, entity_id FROM records WHERE withdrawn = 0"
        params: list[str] = []
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params = list(kinds)
        for row in self.db.execute(sql + " ORDER BY dept, record_id", params):
            yield _record(row), row[7]

    # -- entities -----------------------------------------------------------------------------
    def resolve(self, entity_id: str) -> tuple[str, list[str]]:
        """Follow redirects: (current ID, the path taken). Raises StateError for unknown IDs."""
        path = [entity_id]
        current = entity_id
        for _ in range(1000):
            row = self.db.execute(
                "SELECT status, redirect_to FROM entities WHERE id = ?", (current,)
            ).fetchone()
            if row is None:
                raise StateError(f"unknown entity ID {current!r}")
            status, target = row
            if status != "merged" or not target:
                return current, path
            current = target
            path.append(current)
        raise StateError(f"redirect loop at {entity_id!r}")

    def entity_status(self, entity_id: str) -> str | None:
        row = self.db.execute("SELECT status FROM entities WHERE id = ?", (entity_id,)).fetchone()
        return None if row is None else str(row[0])

    def history(self, entity_id: str) -> list[dict[str, Any]]:
        """Events of an entity and of every ID that was merged into it."""
        ids = {entity_id}
        frontier = [entity_id]
        while frontier:
            cur = frontier.pop()
            for (src,) in self.db.execute("SELECT id FROM entities WHERE redirect_to = ?", (cur,)):
                if src not in ids:
                    ids.add(src)
                    frontier.append(src)
        q = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT seq, entity_id, event, batch_id, at, detail FROM history WHERE entity_id IN ({q}) ORDER BY seq",
            sorted(ids),
        )
        return [
            {
                "seq": s,
                "entity_id": e,
                "event": ev,
                "batch_id": b,
                "at": at,
                "detail": json.loads(d) if d else None,
            }
            for s, e, ev, b, at, d in rows
        ]

    def add_history(
        self, entity_id: str, event: str, batch_id: str | None, detail: dict[str, Any]
    ) -> None:
        self.db.execute(
            "INSERT INTO history (entity_id, event, batch_id, at, detail) VALUES (?, ?, ?, ?, ?)",
            (
                entity_id,
                event,
                batch_id,
                now(),
                json.dumps(detail, ensure_ascii=False, sort_keys=True),
            ),
        )

    # -- judgements and review ------------------------------------------------------------------
    def judgements(self) -> list[Judgement]:
        return [
            Judgement((a1, a2), (b1, b2), dec, by, at, reason or "")
            for a1, a2, b1, b2, dec, by, at, reason in self.db.execute(
                "SELECT a_dept, a_record, b_dept, b_record, decision, decided_by, decided_at, reason FROM judgements"
            )
        ]

    def add_judgement(
        self,
        a: tuple[str, str],
        b: tuple[str, str],
        decision: str,
        by: str,
        reason: str,
        at: str | None = None,
    ) -> None:
        if decision not in ("match", "no_match"):
            raise StateError(f"decision must be match or no_match, not {decision!r}")
        for key in (a, b):
            if (
                self.db.execute(
                    "SELECT 1 FROM records WHERE dept = ? AND record_id = ?", key
                ).fetchone()
                is None
            ):
                raise StateError(f"no record {key[0]}:{key[1]} in the state")
        first, second = sorted((a, b))
        self.db.execute(
            "INSERT OR REPLACE INTO judgements VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (*first, *second, decision, by, at or now(), reason),
        )

    def pending_judgement_records(self) -> set[tuple[str, str]]:
        return {
            k
            for a1, a2, b1, b2 in self.db.execute(
                "SELECT a_dept, a_record, b_dept, b_record FROM judgements WHERE applied = 0"
            )
            for k in ((a1, a2), (b1, b2))
        }

    def review_pairs(self, kind: str | None, limit: int) -> list[dict[str, Any]]:
        sql = "SELECT kind, a_dept, a_record, b_dept, b_record, probability, weights, comparison, name_a, name_b, batch_id FROM review"
        params: list[Any] = []
        if kind:
            sql += " WHERE kind = ?"
            params.append(kind)
        sql += " ORDER BY probability DESC LIMIT ?"
        params.append(limit)
        cols = [
            "kind",
            "a_dept",
            "a_record",
            "b_dept",
            "b_record",
            "probability",
            "weights",
            "comparison",
            "name_a",
            "name_b",
            "batch_id",
        ]
        out = []
        for row in self.db.execute(sql, params):
            d = dict(zip(cols, row, strict=True))
            d["weights"] = json.loads(d["weights"])
            d["comparison"] = json.loads(d["comparison"])
            out.append(d)
        return out

    def model(self, kind: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT params FROM models WHERE kind = ?", (kind,)).fetchone()
        return None if row is None else json.loads(row[0])


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _record(row: tuple[Any, ...]) -> Record:
    dept, file, line, rid, kind, raw, std = row[:7]
    return Record(dept, file, line, rid, kind, json.loads(raw), json.loads(std), [], {})


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def default_state_dir() -> Path:
    """Under the user data directory (e.g. ~/.local/share/credgraph/state)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("credgraph")) / "state"


def export_links(state: State) -> Iterator[tuple[str, str, str, str]]:
    """(dept, record_id, kind, current entity ID) for every stored, not withdrawn record;
    IDs follow redirects, so an old ID never appears. Role and shareholding records (no
    single subject) have an empty ID."""
    cache: dict[str, str] = {}
    for rec, eid in state.all_records():
        current = ""
        if eid:
            if eid not in cache:
                cache[eid] = state.resolve(eid)[0]
            current = cache[eid]
        yield rec.dept, rec.record_id, rec.kind, current
