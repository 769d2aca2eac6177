"""Starting and watching linkage jobs from the server (the work runs in a worker process)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from graphql import GraphQLError

from api.jobs import store


class JobManager:
    def __init__(self, jobs_dir: Path, inbox: Path | None, state_dir: Path, graph_uri: str) -> None:
        self.db_path = jobs_dir / "jobs.db"
        self.runs = jobs_dir / "runs"
        self.inbox = inbox.resolve() if inbox else None
        self.state_dir = state_dir.resolve()
        self.graph_uri = graph_uri
        self._lock = threading.Lock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        with self._db() as db:
            # A job left "running" by a server that stopped is not running any more.
            for job in store.all_jobs(db, 10_000):
                if job["status"] in ("queued", "running") and not _alive(job["pid"]):
                    store.update(
                        db,
                        job["id"],
                        status="failed",
                        finished_at=store.now(),
                        error="worker stopped with the server",
                    )

    def _db(self) -> Any:
        return _Closing(store.connect(self.db_path))

    def confine(self, batch_path: str) -> Path:
        """The batch directory, which must lie inside the inbox (no escape by .. or links)."""
        if self.inbox is None:
            raise GraphQLError("linkage jobs are off: the server has no inbox directory (--inbox)")
        if "\x00" in batch_path:
            raise GraphQLError("batchPath must not contain a NUL character")
        raw = Path(batch_path)
        try:
            path = (raw if raw.is_absolute() else self.inbox / raw).resolve()
            if not path.is_relative_to(self.inbox):
                raise GraphQLError("batchPath must be a directory inside the inbox")
            if not (path / "manifest.yaml").is_file():
                raise GraphQLError("batchPath has no manifest.yaml (not a batch directory)")
        except OSError as exc:  # a name too long for the file system, and the like
            raise GraphQLError(f"batchPath is not a usable path: {exc.strerror}") from None
        return path

    def start(self, batch_path: str, who: str) -> dict[str, Any]:
        path = self.confine(batch_path)
        with self._lock, self._db() as db:
            self._reap(db)
            for job in store.all_jobs(db, 10_000):
                if job["state_dir"] == str(self.state_dir) and job["status"] in (
                    "queued",
                    "running",
                ):
                    raise GraphQLError(
                        f"linkage job {job['id']} is still running on this state: one at a time"
                    )
            job_id = "job-" + secrets.token_hex(4)
            run_dir = self.runs / job_id
            db.execute(
                "INSERT INTO jobs (id, batch_path, state_dir, run_dir, status, stage, started_by, started_at) "
                "VALUES (?, ?, ?, ?, 'queued', 'queued', ?, ?)",
                (job_id, str(path), str(self.state_dir), str(run_dir), who, store.now()),
            )
            env = {**os.environ, "CREDGRAPH_GRAPH_URI": self.graph_uri}
            child = subprocess.Popen(
                [sys.executable, "-m", "api.jobs.worker", str(self.db_path), job_id],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._children[job_id] = child
            store.update(db, job_id, pid=child.pid)
            created = store.get(db, job_id)
        assert created is not None
        return created

    def _reap(self, db: Any) -> None:
        for job_id, child in list(self._children.items()):
            code = child.poll()
            if code is None:
                continue
            del self._children[job_id]
            job = store.get(db, job_id)
            if job and job["status"] in ("queued", "running"):  # died without a word
                store.update(
                    db,
                    job_id,
                    status="failed",
                    finished_at=store.now(),
                    error=f"worker exited with code {code}",
                )

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock, self._db() as db:
            self._reap(db)
            return store.get(db, job_id)

    def list(self, limit: int) -> list[dict[str, Any]]:
        with self._lock, self._db() as db:
            self._reap(db)
            return store.all_jobs(db, limit)

    def stop_all(self) -> None:
        """On server shutdown: stop workers still running (their jobs end as failed)."""
        with self._lock:
            for child in self._children.values():
                if child.poll() is None:
                    child.terminate()
            for child in self._children.values():
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            with self._db() as db:
                self._reap(db)


class _Closing:
    def __init__(self, db: Any) -> None:
        self.db = db

    def __enter__(self) -> Any:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
