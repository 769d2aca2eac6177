"""Owner-only files of the API's data directory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def owner_only_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist, and make it 0600 if it does:
    a SQLite database opened on it then creates its -wal and -shm files with the same mode
    (created by ``sqlite3.connect`` under the umask, they were 0644)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    path.chmod(0o600)
