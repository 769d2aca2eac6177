"""API keys: created by an admin, stored hashed in SQLite (owner-only file), one role each.

A key is ``cg_<id>_<secret>``: the id finds the row, the secret is checked against its
SHA-256 (the secret is 32 random bytes, so a plain hash suffices — no password stretching).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from api.private import owner_only_file

ROLES = ("public", "regulator", "tax_officer", "admin")
KEY_ROLES = ROLES[1:]  # public needs no key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


#: The longest name a key takes (who or what uses it: a person, a department, a service).
MAX_NAME = 200


class ApiKeyError(ValueError):
    """A key request that cannot be honoured (unknown role, unknown key id…)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: str
    created_at: str
    revoked_at: str | None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore:
    """The key table over one connection shared under a lock (look-ups are a primary-key
    read each, cheap enough to run on the event loop; revocation by another process is
    seen by the next request)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        owner_only_file(path)
        self._conn = sqlite3.connect(
            path, isolation_level=None, timeout=10, check_same_thread=False
        )
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        path.chmod(0o600)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def close(self) -> None:
        self._conn.close()

    def create(self, role: str, name: str) -> tuple[ApiKey, str]:
        """A new key; returns it and the token (shown once, never stored)."""
        if role not in KEY_ROLES:
            raise ApiKeyError(f"role must be one of {', '.join(KEY_ROLES)}, not {role!r}")
        if not name.strip():
            raise ApiKeyError("a key needs a name (who or what uses it)")
        if len(name.strip()) > MAX_NAME:
            raise ApiKeyError(
                f"a key's name is at most {MAX_NAME} characters, not {len(name.strip()):,}"
            )
        bad = next((c for c in name if ord(c) < 32 or 127 <= ord(c) < 160), None)
        if bad is not None:
            # the name is listed on terminals and in the audit log: no escape sequences
            raise ApiKeyError(f"a key's name holds the control character U+{ord(bad):04X}")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(key_id, name.strip(), role, _now(), None)
        with self._db() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
                (key.key_id, key.name, key.role, _digest(secret), key.created_at),
            )
        return key, f"cg_{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        with self._db() as db:
            rows = db.execute(
                "SELECT key_id, name, role, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id"
            ).fetchall()
        return [ApiKey(*r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        with self._db() as db:
            cur = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (_now(), key_id),
            )
            row = db.execute(
                "SELECT key_id, name, role, created_at, revoked_at FROM api_keys WHERE key_id = ?",
                (key_id,),
            ).fetchone()
        if row is None:
            raise ApiKeyError(f"no API key with id {key_id!r}")
        if cur.rowcount == 0 and row[4] is None:  # pragma: no cover - guarded by the UPDATE
            raise ApiKeyError(f"API key {key_id!r} could not be revoked")
        return ApiKey(*row)

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key a bearer token belongs to, or None."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "cg":
            return None
        _, key_id, secret = parts
        with self._db() as db:
            row = db.execute(
                "SELECT key_id, name, role, created_at, revoked_at, secret_sha256 FROM api_keys WHERE key_id = ?",
                (key_id,),
            ).fetchone()
        if row is None or row[4] is not None:
            return None
        if not hmac.compare_digest(row[5], _digest(secret)):
            return None
        return ApiKey(*row[:5])
