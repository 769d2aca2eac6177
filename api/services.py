"""The long-lived parts the app holds for its lifetime (keys, audit, jobs, state dir)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api.audit import AuditLog
from api.jobs.manager import JobManager
from api.keys import KeyStore
from api.settings import ApiSettings


@dataclass(slots=True)
class Services:
    keys: KeyStore
    audit: AuditLog
    jobs: JobManager
    state_dir: Path

    @classmethod
    def open(cls, settings: ApiSettings) -> Services:
        from resolver.state.store import default_state_dir

        settings.prepare()
        state_dir = settings.state_dir or default_state_dir()
        return cls(
            keys=KeyStore(settings.keys_db),
            audit=AuditLog(settings.audit_db),
            jobs=JobManager(settings.jobs_dir, settings.inbox_dir, state_dir, settings.graph_uri),
            state_dir=state_dir,
        )

    def close(self) -> None:
        self.jobs.stop_all()
        self.audit.close()
        self.keys.close()
