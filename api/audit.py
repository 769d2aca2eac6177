"""The audit log: every request, append-only (SQLite triggers refuse UPDATE and DELETE).

Kept: time, request id, key id, role, operation name, a keyed hash of the variables (an
HMAC with a secret of the data directory — a plain hash of an ID number could be reversed
by trying every number), the golden IDs returned, the result size, the HTTP status.
Never a variable value, never a personal identifier.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.private import owner_only_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    key_id TEXT,
    role TEXT NOT NULL,
    operation TEXT,
    variables_hash TEXT,
    entity_ids TEXT NOT NULL,
    result_size INTEGER NOT NULL,
    status INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str
    request_id: str
    key_id: str | None
    role: str
    operation: str | None
    variables_hash: str | None
    entity_ids: list[str]
    result_size: int
    status: int


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        owner_only_file(path)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable up to the last checkpoint
        self.db.executescript(_SCHEMA)
        path.chmod(0o600)
        secret_path = path.parent / "audit.secret"
        if not secret_path.exists():
            secret_path.write_text(secrets.token_hex(32), "utf-8")
            secret_path.chmod(0o600)
        self._secret = bytes.fromhex(secret_path.read_text("utf-8").strip())

    def variables_hash(self, variables: dict[str, Any] | None) -> str | None:
        if not variables:
            return None
        canonical = json.dumps(variables, sort_keys=True, ensure_ascii=False, default=str)
        return hmac.new(self._secret, canonical.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def append(
        self,
        *,
        request_id: str,
        key_id: str | None,
        role: str,
        operation: str | None,
        variables: dict[str, Any] | None,
        entity_ids: set[str],
        result_size: int,
        status: int,
    ) -> None:
        at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        with self._lock:
            self.db.execute(
                "INSERT INTO audit (at, request_id, key_id, role, operation, variables_hash, "
                "entity_ids, result_size, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at,
                    request_id,
                    key_id,
                    role,
                    operation,
                    self.variables_hash(variables),
                    json.dumps(sorted(entity_ids)),
                    result_size,
                    status,
                ),
            )

    def entries(self, first: int, after: int | None, key_id: str | None) -> list[AuditEntry]:
        """Newest first; ``after`` is the seq of the last entry seen."""
        sql = "SELECT seq, at, request_id, key_id, role, operation, variables_hash, entity_ids, result_size, status FROM audit WHERE 1=1"
        params: list[Any] = []
        if after is not None:
            sql += " AND seq < ?"
            params.append(after)
        if key_id is not None:
            sql += " AND key_id = ?"
            params.append(key_id)
        sql += " ORDER BY seq DESC LIMIT ?"
        params.append(first)
        with self._lock:
            rows = self.db.execute(sql, params).fetchall()
        return [
            AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8], r[9])
            for r in rows
        ]

    def close(self) -> None:
        self.db.close()
