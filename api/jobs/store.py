"""The job table (SQLite in the API data directory), shared by the server and the worker."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from api.private import owner_only_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    batch_path TEXT NOT NULL,
    state_dir TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    status TEXT NOT NULL,          -- queued | running | done | failed
    stage TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    started_by TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT,
    pid INTEGER
);
"""
COLUMNS = (
    "id",
    "batch_path",
    "state_dir",
    "run_dir",
    "status",
    "stage",
    "done",
    "total",
    "started_by",
    "started_at",
    "finished_at",
    "error",
    "pid",
)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def connect(path: Path) -> sqlite3.Connection:
    owner_only_file(path)
    db = sqlite3.connect(path, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_SCHEMA)
    return db


def get(db: sqlite3.Connection, job_id: str) -> dict[str, Any] | None:
    row = db.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else dict(zip(COLUMNS, row, strict=True))


def all_jobs(db: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    rows = db.execute(
        f"SELECT {', '.join(COLUMNS)} FROM jobs ORDER BY started_at DESC, id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows]


def update(db: sqlite3.Connection, job_id: str, **values: Any) -> None:
    for k in values:
        if k not in COLUMNS:
            raise ValueError(f"unknown job column {k!r}")
    sets = ", ".join(f"{k} = ?" for k in values)
    db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), job_id))
