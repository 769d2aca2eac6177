"""The resolution state: an embedded, transactional SQLite database (WAL mode) in STATE_DIR.

Why SQLite: it ships with Python, is transactional (a batch is applied in one transaction,
so a process killed at any point leaves the state as it was), supports indexed point
look-ups (blocking keys of a few new records against millions of stored ones) and needs no
server. DuckDB would be faster for scans but is not built for many small indexed updates.

Tables: records (every record seen, with content hash and standardised features), keys (its
strong identifiers and blocking keys), entities (golden IDs: active, merged with a redirect,
or retired), history (every create/merge/split/retire event), judgements (human decisions),
review (pairs awaiting a decision), models (match-model parameters as JSON), batches (each
with the digest of its content), run_files (the files of each applied batch's run, so that
they can always be written again).

One writer at a time: a run that changes the state holds an exclusive lock on STATE_DIR/lock
(``flock``, released by the kernel when the process dies, however it dies) for its whole
duration, so its reads and its transaction see no other writer. ID numbers are sealed at
rest (resolver/state/sealing.py); the directory is 0700, the database files 0600.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import json
import os
import sqlite3
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from resolver.ingest.rows import Record, RecordKey
from resolver.state.run_files import private_dir
from resolver.state.sealing import (
    KEY_ENV,
    KEY_FILE,
    Sealer,
    StateKeyError,
    derive_salt,
    key_id,
    load_key,
)

SCHEMA_VERSION = "2"
# Version 2 keys records by (dept, kind, record_id) (version 1: (dept, record_id), so an
# enterprise row and a role row of one department with one record_id replaced each other);
# a version-1 state is migrated when it is opened (:func:`_migrate_v1`).
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, as_of TEXT, status TEXT NOT NULL, started_at TEXT, finished_at TEXT, summary TEXT
);
CREATE TABLE IF NOT EXISTS records (
    dept TEXT NOT NULL, record_id TEXT NOT NULL, kind TEXT NOT NULL, file TEXT, line INTEGER,
    batch_id TEXT, as_of TEXT, hash TEXT NOT NULL, raw TEXT NOT NULL, std TEXT NOT NULL,
    entity_id TEXT, withdrawn INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dept, kind, record_id)
);
CREATE INDEX IF NOT EXISTS records_entity ON records (entity_id);
CREATE INDEX IF NOT EXISTS records_dept_id ON records (dept, record_id);
CREATE TABLE IF NOT EXISTS keys (
    key TEXT NOT NULL, dept TEXT NOT NULL, kind TEXT NOT NULL, record_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_key ON keys (key);
CREATE INDEX IF NOT EXISTS keys_record_kind ON keys (dept, kind, record_id);
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
    kind TEXT NOT NULL,
    a_dept TEXT NOT NULL, a_record TEXT NOT NULL, b_dept TEXT NOT NULL, b_record TEXT NOT NULL,
    decision TEXT NOT NULL, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL, reason TEXT,
    applied INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, a_dept, a_record, b_dept, b_record)
);
CREATE TABLE IF NOT EXISTS review (
    kind TEXT, a_dept TEXT, a_record TEXT, b_dept TEXT, b_record TEXT, probability REAL,
    weights TEXT, comparison TEXT, name_a TEXT, name_b TEXT, batch_id TEXT
);
CREATE TABLE IF NOT EXISTS models (kind TEXT PRIMARY KEY, params TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run_files (
    batch_id TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (batch_id, name)
);
"""
#: Version 1 to 2, inside one transaction: tables keyed by (dept, record_id) are rebuilt
#: keyed by (dept, kind, record_id), the kind taken from the record (unique in version 1).
MIGRATE_V1 = """
ALTER TABLE records RENAME TO records_v1;
DROP INDEX IF EXISTS records_entity;
CREATE TABLE records (
    dept TEXT NOT NULL, record_id TEXT NOT NULL, kind TEXT NOT NULL, file TEXT, line INTEGER,
    batch_id TEXT, as_of TEXT, hash TEXT NOT NULL, raw TEXT NOT NULL, std TEXT NOT NULL,
    entity_id TEXT, withdrawn INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dept, kind, record_id)
);
INSERT INTO records SELECT * FROM records_v1;
DROP TABLE records_v1;
ALTER TABLE keys RENAME TO keys_v1;
DROP INDEX IF EXISTS keys_key;
DROP INDEX IF EXISTS keys_record;
CREATE TABLE keys (
    key TEXT NOT NULL, dept TEXT NOT NULL, kind TEXT NOT NULL, record_id TEXT NOT NULL
);
INSERT INTO keys SELECT k.key, k.dept, r.kind, k.record_id FROM keys_v1 k
    JOIN records r ON r.dept = k.dept AND r.record_id = k.record_id;
DROP TABLE keys_v1;
ALTER TABLE judgements RENAME TO judgements_v1;
CREATE TABLE judgements (
    kind TEXT NOT NULL,
    a_dept TEXT NOT NULL, a_record TEXT NOT NULL, b_dept TEXT NOT NULL, b_record TEXT NOT NULL,
    decision TEXT NOT NULL, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL, reason TEXT,
    applied INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, a_dept, a_record, b_dept, b_record)
);
INSERT INTO judgements SELECT coalesce(r.kind, 'enterprise'), j.* FROM judgements_v1 j
    LEFT JOIN records r ON r.dept = j.a_dept AND r.record_id = j.a_record;
DROP TABLE judgements_v1;
"""
#: The same for the graph-sync tables (resolver/state/graphsync.py), when the state has them.
MIGRATE_V1_SYNC = """
ALTER TABLE resolutions RENAME TO resolutions_v1;
CREATE TABLE resolutions (
    dept TEXT NOT NULL, kind TEXT NOT NULL, record_id TEXT NOT NULL, score REAL, decision TEXT,
    PRIMARY KEY (dept, kind, record_id)
);
INSERT INTO resolutions SELECT s.dept, r.kind, s.record_id, s.score, s.decision
    FROM resolutions_v1 s JOIN records r ON r.dept = s.dept AND r.record_id = s.record_id;
DROP TABLE resolutions_v1;
ALTER TABLE mentions RENAME TO mentions_v1;
CREATE TABLE mentions (
    dept TEXT NOT NULL, record_id TEXT NOT NULL, part TEXT NOT NULL, kind TEXT NOT NULL,
    payload TEXT NOT NULL, loose INTEGER NOT NULL, PRIMARY KEY (dept, kind, record_id, part)
);
INSERT INTO mentions SELECT * FROM mentions_v1;
DROP TABLE mentions_v1;
ALTER TABLE mention_ends RENAME TO mention_ends_v1;
DROP INDEX IF EXISTS mention_ends_entity;
DROP INDEX IF EXISTS mention_ends_record;
CREATE TABLE mention_ends (
    entity_id TEXT NOT NULL, dept TEXT NOT NULL, kind TEXT NOT NULL, record_id TEXT NOT NULL
);
INSERT INTO mention_ends SELECT DISTINCT e.entity_id, e.dept, m.kind, e.record_id
    FROM mention_ends_v1 e JOIN mentions m ON m.dept = e.dept AND m.record_id = e.record_id;
DROP TABLE mention_ends_v1;
"""
LOCK_FILE = "lock"
#: SQLite's automatic checkpoint threshold (pages in the WAL), its default.
WAL_AUTOCHECKPOINT = 1000
#: SQLite page cache per connection, KiB (allocated as pages are used).
CACHE_KIB = 262_144
#: Bytes of the database file read through a memory map (SQLite caps it at 2 GiB).
MMAP_BYTES = 1 << 40
#: SQL matching one record key (dept, kind, record_id).
KEY_MATCH = "(dept = ? AND kind = ? AND record_id = ?)"


def _sealed_with(path: Path) -> str | None:
    """The id of the key a state database was sealed with (its ``meta.key_id``), None for a
    new (empty) database or one written before sealing."""
    if path.stat().st_size == 0:
        return None
    # (as a file: URI with the path percent-encoded: '%', '?' and '#' in a directory's name
    # are then the characters themselves, not an escape, the query or a fragment)
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return None  # (State opens it itself and reports what is wrong)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'key_id'").fetchone()
    except sqlite3.DatabaseError:
        return None  # no meta table yet, or not a database: State reports that itself
    finally:
        db.close()
    return None if row is None else str(row[0])


def rows_by_keys(
    db: sqlite3.Connection, sql: str, keys: Iterable[tuple[str, str, str]]
) -> Iterator[Any]:
    """Rows of ``sql`` for the given (dept, kind, record_id) keys: ``{keys}`` in it stands
    for the keys' match, 300 keys a statement (900 bound values, under SQLite's limit)."""
    for chunk in _chunks(list(keys), 300):
        match = "(" + " OR ".join([KEY_MATCH] * len(chunk)) + ")"
        yield from db.execute(sql.format(keys=match), [x for k in chunk for x in k])


def rows_in(db: sqlite3.Connection, sql: str, values: list[Any], size: int = 500) -> Iterator[Any]:
    """Rows of ``sql`` for ``values``, ``size`` values a statement: ``{in}`` in it stands for
    the statement's list of placeholders, ``(?, ?, …)``."""
    for i in range(0, len(values), size):
        chunk = values[i : i + size]
        yield from db.execute(sql.format(**{"in": "(" + ",".join("?" * len(chunk)) + ")"}), chunk)


class StateError(RuntimeError):
    """A state directory that cannot be used (wrong schema version, unknown ID, …)."""


class StateLocked(StateError):
    """Another process holds the state's writer lock."""


class BatchConflict(StateError):
    """A batch_id already applied with different content."""


@dataclass(frozen=True, slots=True)
class Judgement:
    a: RecordKey
    b: RecordKey
    decision: str  # match | no_match
    by: str
    at: str
    reason: str


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def check_judgement(
    a: tuple[str, str], b: tuple[str, str], by: str, reason: str, at: str | None
) -> None:
    """A judgement is between two different records, says who made it, carries no control
    characters (they would rewrite a reviewer's terminal) and, when given, an ISO time."""
    if a == b:
        raise StateError(f"a judgement needs two different records, not {a[0]}:{a[1]} twice")
    if not by.strip():
        raise StateError("say who decides (by)")
    for name, text in (("by", by), ("reason", reason.replace("\n", "").replace("\t", ""))):
        bad = next((c for c in text if ord(c) < 32 or 127 <= ord(c) < 160), None)
        if bad is not None:
            raise StateError(f"{name} holds the control character U+{ord(bad):04X}")
    if at:
        try:
            dt.datetime.fromisoformat(at)
        except ValueError:
            raise StateError(
                f"at {at!r} is not an ISO date and time (like 2026-11-28T03:08:08+00:00)"
            ) from None


# What a state directory holds: the database (with SQLite's companions), key and lock file.
STATE_FILES = ("state.db", "state.db-wal", "state.db-shm", "state.db-journal", "state.key", "lock")


def refuse_foreign_dir(state_dir: Path) -> None:
    """A new state goes into a new or empty directory, never among other files (``--state
    /etc`` or ``--state .`` would write the database there and tighten the directory)."""
    if not state_dir.is_dir() or (state_dir / "state.db").exists():
        return
    others = sorted(p.name for p in state_dir.iterdir() if p.name not in STATE_FILES)
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise StateError(
            f"{state_dir} is not a resolution state and holds other files ({shown}): "
            "give --state a new or empty directory"
        )


class State:
    """One open state database. Use :meth:`transaction` for every change."""

    def __init__(self, state_dir: Path) -> None:
        refuse_foreign_dir(state_dir)
        self.dir = private_dir(state_dir, own=STATE_FILES)
        self.path = state_dir / "state.db"
        # Owner-only from the first byte; SQLite gives its -wal and -shm files the same mode.
        try:
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StateError(
                f"{self.path}: cannot open the state database: {exc.strerror}"
            ) from None
        if self.path.stat().st_uid == os.getuid():
            self.path.chmod(0o600)
        self.key = load_key(state_dir, _sealed_with(self.path))
        self.sealer = Sealer(self.key)
        try:
            self.db = self._connect()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot open the state database: {exc}") from None
        #: A forked child's copy of its parent's connection (:meth:`reconnect_in_child`).
        self._inherited: sqlite3.Connection | None = None
        #: The thread copying a committed transaction into the database file, if any
        #: (:meth:`transaction` with ``checkpoint_behind``; :meth:`close` waits for it).
        self._checkpointer: threading.Thread | None = None
        self._migrate_v1()
        self.db.executescript(SCHEMA)  # (executescript commits: outside the transaction)
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(batches)")}
        if (
            self.meta("schema_version") == SCHEMA_VERSION
            and "digest" in cols
            and self.meta("key_id") == key_id(self.key)
            and self.meta("salt") is None
        ):
            # Nothing to set up: no write transaction (a reader never waits for a writer).
            sealed = self.meta("salt_sealed")
            self.sealer.salt = (
                derive_salt(self.key)
                if sealed is None
                else self.sealer.decrypt(sealed, f"{self.path}: salt")
            )
            return
        with self.transaction():
            version = self.meta("schema_version")
            if version is None:
                self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            elif version != SCHEMA_VERSION:
                raise StateError(
                    f"{self.path}: schema version {version}, this credgraph uses {SCHEMA_VERSION}"
                )
            cols = {r[1] for r in self.db.execute("PRAGMA table_info(batches)")}
            if "digest" not in cols:
                self.db.execute("ALTER TABLE batches ADD COLUMN digest TEXT")
            self._open_salt()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 60000")
        try:
            db.execute("PRAGMA journal_mode=WAL")  # (the first read: not a database fails here)
        except sqlite3.DatabaseError:
            db.close()
            raise
        db.execute("PRAGMA synchronous=NORMAL")
        # A batch touches pages all over a large state (records, keys, mentions and their
        # indexes): a page cache of up to 256 MiB (SQLite's default is 2 MiB) keeps them
        # between the stages' reads and the transaction's writes, and the dirty pages in
        # memory until the commit instead of spilling them to the WAL along the way.
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        # Reads through a memory map of the file (up to SQLite's limit, 2 GiB): a batch's
        # look-ups visit tens of thousands of pages once each, and a mapped page costs no
        # system call and no copy into the page cache. Writes still go through the WAL.
        db.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        return db

    def reconnect_in_child(self) -> None:
        """In a process forked from the one that opened this state: a connection of its own
        for reading (SQLite connections do not cross a fork). The parent's connection is
        kept, never used or closed here: closing it would act on the parent's files."""
        self._inherited = self.db
        self.db = self._connect()

    def _migrate_v1(self) -> None:
        """A version-1 state (records keyed by (dept, record_id)) is rebuilt keyed by
        (dept, kind, record_id) in one transaction, under the writer lock; nothing is lost."""
        tables = {
            r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "meta" not in tables or self.meta("schema_version") != "1":
            return
        with self.lock(60.0, what="state migration to schema 2"):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self.meta("schema_version") == "1":
                    for statement in _statements(MIGRATE_V1):
                        self.db.execute(statement)
                    if {"resolutions", "mentions", "mention_ends"} <= tables:
                        for statement in _statements(MIGRATE_V1_SYNC):
                            self.db.execute(statement)
                    self.set_meta("schema_version", SCHEMA_VERSION)
                    self.set_meta("migrated_from_1", now())
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _open_salt(self) -> None:
        """The hash salt: derived from the key; a state written before sealing keeps its
        salt (now stored encrypted) and is sealed here. A wrong key is refused."""
        kid = key_id(self.key)
        stored_kid = self.meta("key_id")
        if stored_kid is not None and stored_kid != kid:
            src = KEY_ENV if os.environ.get(KEY_ENV) else str(self.dir / KEY_FILE)
            raise StateKeyError(
                f"{self.path}: the state key ({src}, key id {kid}) is not the one this state "
                f"was sealed with (key id {stored_kid}): use that key, backed up with the state"
            )
        self.set_meta("key_id", kid)
        sealed = self.meta("salt_sealed")
        if sealed is not None:
            self.sealer.salt = self.sealer.decrypt(sealed, f"{self.path}: salt")
            return
        clear = self.meta("salt")
        if clear is None:
            self.sealer.salt = derive_salt(self.key)
            return
        self.sealer.salt = clear
        self.set_meta("salt_sealed", self.sealer.encrypt(clear))
        # Migration: seal the ID fields, key the hashes and ID keys, drop the clear salt.
        self.db.execute("DELETE FROM meta WHERE key = 'salt'")
        rows = self.db.execute("SELECT dept, record_id, kind, raw, std FROM records").fetchall()
        for dept, rid, kind, raw, std in rows:
            raw_v, std_v = self.sealer.unseal(raw), self.sealer.unseal(std)
            self.db.execute(
                "UPDATE records SET raw = ?, std = ?, hash = ? "
                "WHERE dept = ? AND kind = ? AND record_id = ?",
                (
                    self.sealer.seal(raw_v),
                    self.sealer.seal(std_v),
                    self.content_hash(kind, raw_v),
                    dept,
                    kind,
                    rid,
                ),
            )
        for key, dept, kind, rid in self.db.execute(
            "SELECT key, dept, kind, record_id FROM keys WHERE key LIKE 'I|%'"
        ).fetchall():
            self.db.execute(
                "UPDATE keys SET key = ? WHERE key = ? AND dept = ? AND kind = ? AND record_id = ?",
                (self.sealer.key_token(key), key, dept, kind, rid),
            )

    @property
    def salt(self) -> str:
        """The installation's secret salt for ID-number hashes (kept encrypted in the state)."""
        return self.sealer.salt

    def content_hash(self, kind: str, raw: dict[str, Any]) -> str:
        """Keyed hash of what a department delivered for a record: equal content, equal hash;
        without the key it cannot be used to test guesses of the ID number inside."""
        text = json.dumps([kind, sorted(raw.items())], ensure_ascii=False)
        return self.sealer.keyed_hash(text)

    @contextmanager
    def lock(
        self, wait: float = 0.0, on_wait: Callable[[str], None] | None = None, what: str = ""
    ) -> Iterator[None]:
        """Hold the state's writer lock; wait up to ``wait`` seconds for another holder,
        then raise StateLocked naming it (since when, which pid)."""
        fd = os.open(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + wait
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = _lock_holder(fd)
                    if time.monotonic() >= deadline:
                        raise StateLocked(
                            f"{self.dir}: {holder}; try again when it has finished"
                        ) from None
                    if on_wait and not told:
                        on_wait(f"{holder}; waiting up to {wait:.0f} s")
                        told = True
                    time.sleep(0.1)
            info = {"pid": os.getpid(), "since": now(), "what": what or " ".join(sys.argv[:2])}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.join()
            self._checkpointer = None
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

    def transaction(self, checkpoint_behind: bool = False) -> sqlite3.Connection:
        """``with state.transaction():`` — BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error.

        ``checkpoint_behind``: the commit only appends the transaction's pages to the WAL
        (the connection's automatic checkpoint is off meanwhile), and a background thread
        then copies them into the database file (:meth:`_checkpoint_behind`) while the
        caller goes on (a batch's run publishes its files): a large transaction's
        checkpoint — tens of thousands of pages and two fsyncs — no longer holds up the
        command. The commit is as durable as before (the WAL holds it); :meth:`close` waits
        for the copy."""
        return _Tx(self.db, self._checkpoint_behind if checkpoint_behind else None)  # type: ignore[return-value]

    def _checkpoint_behind(self) -> None:
        """Copy the committed WAL into the database file in a thread of its own, with a
        connection of its own (SQLite releases the GIL while it copies and syncs). A
        failure there loses nothing: the WAL still holds every commit, and the last
        connection to close checkpoints it again."""

        def run() -> None:
            try:
                db = sqlite3.connect(self.path, isolation_level=None)
                try:
                    db.execute("PRAGMA busy_timeout = 60000")
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    db.close()
            except sqlite3.Error:
                pass  # (see above: the close's checkpoint does it)

        self._checkpointer = threading.Thread(target=run, name="state-checkpoint")
        self._checkpointer.start()

    def batch_status(self, batch_id: str) -> str | None:
        row = self.db.execute(
            "SELECT status FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def batch_digest(self, batch_id: str) -> str | None:
        row = self.db.execute(
            "SELECT digest FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def store_run_files(self, batch_id: str, staging: Path) -> None:
        """Keep the files of a batch's run (compressed) so they can be written again. The
        files are read and compressed in threads (zlib releases the GIL), stored in name
        order."""
        self.db.execute("DELETE FROM run_files WHERE batch_id = ?", (batch_id,))
        paths = sorted(p for p in staging.iterdir() if p.is_file())
        with ThreadPoolExecutor(max_workers=min(2, len(paths) or 1)) as pool:
            packed = list(pool.map(_compressed, paths))
        self.db.executemany(
            "INSERT INTO run_files VALUES (?, ?, ?)",
            [(batch_id, path.name, data) for path, data in zip(paths, packed, strict=True)],
        )

    def run_files(self, batch_id: str) -> list[tuple[str, bytes]]:
        return [
            (name, zlib.decompress(data))
            for name, data in self.db.execute(
                "SELECT name, data FROM run_files WHERE batch_id = ? ORDER BY name", (batch_id,)
            )
        ]

    def batch_summary(self, batch_id: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT summary FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    # -- records ----------------------------------------------------------------------------
    def stored_hashes(
        self, keys: Iterable[RecordKey]
    ) -> dict[RecordKey, tuple[str, str | None, int]]:
        """(hash, entity_id, withdrawn) of the given record keys that are stored."""
        out: dict[RecordKey, tuple[str, str | None, int]] = {}
        for dept, kind, rid, h, eid, wd in rows_by_keys(
            self.db,
            "SELECT dept, kind, record_id, hash, entity_id, withdrawn FROM records WHERE {keys}",
            keys,
        ):
            out[(dept, kind, rid)] = (h, eid, wd)
        return out

    def keys_named(
        self, dept: str, record_id: str, kinds: tuple[str, ...] | None = None
    ) -> list[RecordKey]:
        """The stored records a department's record ID names (one per kind that has it)."""
        return [
            (d, k, r)
            for d, k, r in self.db.execute(
                "SELECT dept, kind, record_id FROM records WHERE dept = ? AND record_id = ? "
                "ORDER BY kind",
                (dept, record_id),
            )
            if kinds is None or k in kinds
        ]

    def records_by_key(self, keys: Iterable[str], max_per_key: int) -> set[RecordKey]:
        """Records (dept, kind, record_id) holding any of the keys; a key held by more than
        ``max_per_key`` records (a shared front-desk phone) is skipped, as in blocking."""
        found: set[RecordKey] = set()
        for chunk in _chunks(sorted({self.sealer.key_token(k) for k in keys}), 500):
            q = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key, dept, kind, record_id FROM keys WHERE key IN ({q})", chunk
            ).fetchall()
            per_key: dict[str, list[RecordKey]] = {}
            for key, dept, kind, rid in rows:
                per_key.setdefault(key, []).append((dept, kind, rid))
            for key, recs in per_key.items():
                if (key[0] in "UORI" and key[1] == "|") or len(recs) <= max_per_key:
                    found.update(recs)
        return found

    def entity_of(self, keys: Iterable[RecordKey]) -> dict[RecordKey, str]:
        out: dict[RecordKey, str] = {}
        for dept, kind, rid, eid in rows_by_keys(
            self.db,
            "SELECT dept, kind, record_id, entity_id FROM records "
            "WHERE {keys} AND entity_id IS NOT NULL",
            keys,
        ):
            out[(dept, kind, rid)] = eid
        return out

    def members(self, entity_ids: Iterable[str]) -> Iterator[Record]:
        """Stored, not withdrawn records of the given entities."""
        for _eid, rec in self.members_by_entity(entity_ids):
            yield rec

    def members_by_entity(
        self, entity_ids: Iterable[str], index_view: bool = False
    ) -> Iterator[tuple[str, Record]]:
        """(entity ID, record) of the stored, not withdrawn records of the given entities, by
        entity ID. ``index_view``: the record as the mention subject index reads it, with
        only a person's standardised ID number (``id18``) opened and every other ID field
        left sealed (opening a value costs more than reading the record)."""
        for chunk in _chunks(sorted(set(entity_ids)), 500):
            q = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT dept, file, line, record_id, kind, raw, std, entity_id FROM records "
                f"WHERE entity_id IN ({q}) AND withdrawn = 0 ORDER BY entity_id",
                chunk,
            ):
                if not index_view:
                    yield row[7], self._record(row)
                    continue
                dept, file, line, rid, kind, raw, std = row[:7]
                values = self.sealer.decode(std)
                if kind == "person" and isinstance(token := values.get("id18"), str):
                    values["id18"] = self.sealer.decrypt(
                        token, f"record {dept}/{kind}/{rid}, record field id18"
                    )
                yield (
                    row[7],
                    Record(dept, file, line, rid, kind, self.sealer.decode(raw), values, [], {}),
                )

    def kind_members(
        self, entity_ids: Iterable[str], kind: str
    ) -> Iterator[tuple[str, str | None, Record]]:
        """(entity ID, the batch that delivered the record, record) of the stored, not
        withdrawn records of one kind of the given entities (an entity's credit events,
        facts and declarations carry its ID too: they are not read, let alone opened)."""
        for chunk in _chunks(sorted(set(entity_ids)), 500):
            q = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT dept, file, line, record_id, kind, raw, std, entity_id, batch_id "
                f"FROM records WHERE entity_id IN ({q}) AND withdrawn = 0 AND kind = ? "
                "ORDER BY entity_id",
                [*chunk, kind],
            ):
                yield row[7], row[8], self._record(row)

    def records_of(self, keys: Iterable[RecordKey]) -> Iterator[Record]:
        """Stored, not withdrawn records with the given keys."""
        for row in rows_by_keys(
            self.db,
            "SELECT dept, file, line, record_id, kind, raw, std, entity_id FROM records "
            "WHERE {keys} AND withdrawn = 0",
            sorted(set(keys)),
        ):
            yield self._record(row)

    def all_records(
        self, kinds: tuple[str, ...] | None = None
    ) -> Iterator[tuple[Record, str | None]]:
        sql = "SELECT dept, file, line, record_id, kind, raw, std, entity_id FROM records WHERE withdrawn = 0"
        params: list[str] = []
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params = list(kinds)
        for row in self.db.execute(sql + " ORDER BY dept, record_id, kind", params):
            yield self._record(row), row[7]

    def _record(self, row: tuple[Any, ...]) -> Record:
        dept, file, line, rid, kind, raw, std = row[:7]
        where = f"record {dept}/{kind}/{rid}, "
        return Record(
            dept,
            file,
            line,
            rid,
            kind,
            self.sealer.unseal(raw, where),
            self.sealer.unseal(std, where),
            [],
            {},
        )

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
    def judgements(self, pending: bool = False) -> list[Judgement]:
        """Every judgement, or (``pending``) those no run has applied yet."""
        return [
            Judgement((a1, kind, a2), (b1, kind, b2), dec, by, at, reason or "")
            for kind, a1, a2, b1, b2, dec, by, at, reason in self.db.execute(
                "SELECT kind, a_dept, a_record, b_dept, b_record, decision, decided_by, "
                "decided_at, reason FROM judgements" + (" WHERE applied = 0" if pending else "")
            )
        ]

    def judged_kind(self, a: tuple[str, str], b: tuple[str, str], kind: str | None = None) -> str:
        """The entity kind of a judged pair named by (dept, record_id): the kind both
        records have (given, or the only one); one-line errors otherwise."""
        kinds = []
        for dept, rid in (a, b):
            found = {k for _d, k, _r in self.keys_named(dept, rid, ("enterprise", "person"))}
            if not found:
                raise StateError(f"no enterprise or person record {dept}:{rid} in the state")
            kinds.append(found)
        common = kinds[0] & kinds[1]
        if kind is not None:
            if kind not in common:
                raise StateError(
                    f"{a[0]}:{a[1]} and {b[0]}:{b[1]} are not both {kind} records in the state"
                )
            return kind
        if not common:
            raise StateError(
                f"{a[0]}:{a[1]} ({', '.join(sorted(kinds[0]))}) and {b[0]}:{b[1]} "
                f"({', '.join(sorted(kinds[1]))}) are records of different kinds"
            )
        if len(common) > 1:
            raise StateError(
                f"{a[0]}:{a[1]} and {b[0]}:{b[1]} are both enterprise and person records: "
                "say which with --kind"
            )
        return next(iter(common))

    def _judgement_key(
        self,
        a: tuple[str, str],
        b: tuple[str, str],
        decision: str,
        by: str,
        reason: str,
        at: str | None,
        kind: str | None,
    ) -> tuple[str, tuple[str, str], tuple[str, str]]:
        """(kind, first, second) of a judgement, checked as :meth:`add_judgement` requires."""
        if decision not in ("match", "no_match"):
            raise StateError(f"decision must be match or no_match, not {decision!r}")
        check_judgement(a, b, by, reason, at)
        first, second = sorted((a, b))
        return self.judged_kind(a, b, kind), first, second

    def add_judgement(
        self,
        a: tuple[str, str],
        b: tuple[str, str],
        decision: str,
        by: str,
        reason: str,
        at: str | None = None,
        kind: str | None = None,
    ) -> str:
        """Keep a human decision between two records (DEPT, RECORD_ID); returns their kind."""
        kind, first, second = self._judgement_key(a, b, decision, by, reason, at, kind)
        self.db.execute(
            "INSERT OR REPLACE INTO judgements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (kind, *first, *second, decision, by, at or now(), reason),
        )
        return kind

    def has_judgement(
        self,
        a: tuple[str, str],
        b: tuple[str, str],
        decision: str,
        by: str,
        reason: str,
        at: str | None = None,
        kind: str | None = None,
    ) -> bool:
        """Whether this very judgement is stored already (same decision, by, reason and, when
        given, time): storing it again would only mark it as not yet applied. A judgement
        ``add_judgement`` would refuse is refused here with the same message."""
        kind, first, second = self._judgement_key(a, b, decision, by, reason, at, kind)
        row = self.db.execute(
            "SELECT decision, decided_by, decided_at, reason FROM judgements WHERE kind = ? "
            "AND a_dept = ? AND a_record = ? AND b_dept = ? AND b_record = ?",
            (kind, *first, *second),
        ).fetchone()
        return (
            row is not None
            and (row[0], row[1], row[3] or "") == (decision, by, reason)
            and (at is None or row[2] == at)
        )

    def pending_judgement_records(self) -> set[RecordKey]:
        return {
            k
            for kind, a1, a2, b1, b2 in self.db.execute(
                "SELECT kind, a_dept, a_record, b_dept, b_record FROM judgements WHERE applied = 0"
            )
            for k in ((a1, kind, a2), (b1, kind, b2))
        }

    def review_pairs(self, kind: str | None, limit: int) -> list[dict[str, Any]]:
        """Pairs in the review band, most likely first; a pair scored again by a later batch
        (both records re-linked) is shown once, as that batch scored it."""
        sql = "SELECT kind, a_dept, a_record, b_dept, b_record, probability, weights, comparison, name_a, name_b, batch_id FROM review"
        params: list[Any] = []
        if kind:
            sql += " WHERE kind = ?"
            params.append(kind)
        sql += " ORDER BY rowid"
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
        latest: dict[tuple[str, ...], dict[str, Any]] = {}
        for row in self.db.execute(sql, params):
            d = dict(zip(cols, row, strict=True))
            ends = sorted(((d["a_dept"], d["a_record"]), (d["b_dept"], d["b_record"])))
            latest[(d["kind"], *ends[0], *ends[1])] = d  # a later row replaces the pair's
        out = sorted(latest.values(), key=lambda d: -d["probability"])[:limit]
        for d in out:
            d["weights"] = json.loads(d["weights"])
            d["comparison"] = json.loads(d["comparison"])
        return out

    def review_queue(
        self, kind: str | None, decided: bool, limit: int
    ) -> tuple[int, int, list[dict[str, Any]]]:
        """(open pairs, decided pairs, the first ``limit`` pairs with their status): a pair
        with a judgement is decided (by whom, when) and leaves the open queue."""
        rows = []
        for p in self.review_pairs(kind, 1 << 40):
            first, second = sorted(((p["a_dept"], p["a_record"]), (p["b_dept"], p["b_record"])))
            j = self.db.execute(
                "SELECT decision, decided_by, decided_at FROM judgements "
                "WHERE kind = ? AND a_dept = ? AND a_record = ? AND b_dept = ? AND b_record = ?",
                (p["kind"], *first, *second),
            ).fetchone()
            p["status"] = "open" if j is None else "decided"
            p["decision"], p["decided_by"], p["decided_at"] = j or (None, None, None)
            rows.append(p)
        n_open = sum(1 for p in rows if p["status"] == "open")
        shown = [p for p in rows if decided or p["status"] == "open"][:limit]
        return n_open, len(rows) - n_open, shown

    def record(self, key: RecordKey) -> Record | None:
        """One stored record (ID fields opened), or None."""
        row = self.db.execute(
            "SELECT dept, file, line, record_id, kind, raw, std, entity_id FROM records "
            f"WHERE {KEY_MATCH}",
            key,
        ).fetchone()
        return None if row is None else self._record(row)

    def record_batches(self, keys: Iterable[RecordKey]) -> dict[RecordKey, str | None]:
        """The batch that delivered each stored record's current content (its file and line
        are that batch's)."""
        return {
            (dept, kind, record_id): batch_id
            for dept, kind, record_id, batch_id in rows_by_keys(
                self.db,
                "SELECT dept, kind, record_id, batch_id FROM records WHERE {keys}",
                keys,
            )
        }

    def model(self, kind: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT params FROM models WHERE kind = ?", (kind,)).fetchone()
        if row is None:
            return None
        try:  # (msgspec: the same values as json.loads, a 3 MB model in a quarter of the time)
            params: dict[str, Any] = msgspec.json.decode(row[0])
        except msgspec.DecodeError:  # NaN or Infinity, which json.dumps writes
            params = json.loads(row[0])
        return params


class _Tx:
    def __init__(
        self, db: sqlite3.Connection, checkpoint: Callable[[], None] | None = None
    ) -> None:
        self.db = db
        self.checkpoint = checkpoint

    def __enter__(self) -> sqlite3.Connection:
        if self.checkpoint is not None:
            self.db.execute("PRAGMA wal_autocheckpoint = 0")
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        finally:
            if self.checkpoint is not None:
                self.db.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT}")
        if self.checkpoint is not None and exc_type is None:
            self.checkpoint()


def _compressed(path: Path) -> bytes:
    """A run file as :meth:`State.store_run_files` keeps it (zlib, level 1)."""
    return zlib.compress(path.read_bytes(), 1)


def _lock_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        info = {}
    if not info:
        return "another run holds this state (it is starting)"
    return (
        f"another run holds this state since {info.get('since', '?')} "
        f"(pid {info.get('pid', '?')}, {info.get('what', '?')})"
    )


def _statements(script: str) -> list[str]:
    return [x.strip() for x in script.split(";") if x.strip()]


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def default_state_dir() -> Path:
    """Under the user data directory (e.g. ~/.local/share/credgraph/state)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("credgraph")) / "state"


def current_ids(state: State) -> Callable[[str], str]:
    """The entity a stored ID stands for now (redirects followed), each answer remembered:
    for as long as the state's entities do not change (a read, or one stage of a batch)."""

    @functools.cache
    def current(entity_id: str) -> str:
        return state.resolve(entity_id)[0]

    return current


def export_links(state: State) -> Iterator[tuple[str, str, str, str]]:
    """(dept, record_id, kind, current entity ID) for every stored, not withdrawn record;
    IDs follow redirects, so an old ID never appears. Role and shareholding records (no
    single subject) have an empty ID."""
    current = current_ids(state)
    for rec, eid in state.all_records():
        yield rec.dept, rec.record_id, rec.kind, current(eid) if eid else ""
