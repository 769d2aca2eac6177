"""API settings: one typed object built by the caller at start-up (never read at import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def default_api_dir() -> Path:
    """Where the key store, audit log and job records live (owner-only)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("credgraph")) / "api"


@dataclass(frozen=True, slots=True)
class Limits:
    """Protection limits; each has a test that hits it."""

    max_depth: int = 8
    max_cost: int = 5000
    max_page_size: int = 100
    max_body_bytes: int = 64 * 1024
    #: ``limits`` rate strings, per API key (public: per client address).
    rate_signed_in: str = "50/second"
    rate_public: str = "20/second"
    graph_timeout_seconds: float = 5.0
    #: How often the in-memory name search index checks the graph's change marker (and is
    #: rebuilt in the background when a load changed the graph).
    search_index_ttl_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class ApiSettings:
    graph_uri: str
    data_dir: Path = field(default_factory=default_api_dir)
    state_dir: Path | None = None
    inbox_dir: Path | None = None
    #: The project's own page (the only origin CORS allows).
    allowed_origin: str = "http://127.0.0.1:8000"
    #: The public role may run only the persisted queries (off only in tests that check the
    #: field rules underneath the allowlist).
    public_persisted_only: bool = True
    limits: Limits = field(default_factory=Limits)

    @property
    def keys_db(self) -> Path:
        return self.data_dir / "keys.db"

    @property
    def audit_db(self) -> Path:
        return self.data_dir / "audit.db"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    def prepare(self) -> None:
        """Create the data directory owner-only (keys and audit records live there); an
        existing directory holding other things keeps its mode (the files are 0600)."""
        from resolver.state.run_files import private_dir

        private_dir(self.data_dir, own=("keys.db", "audit.db", "audit.secret", "jobs"))
        self.jobs_dir.mkdir(mode=0o700, exist_ok=True)
