"""The batch transaction's checkpoint runs behind the command (resolver/state/store.py):
the commit only appends to the WAL, a thread copies it into state.db, and closing the state
waits for that copy; a process killed meanwhile leaves a state that opens with the batch."""

from __future__ import annotations

import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from fixtures.split import split_batch
from resolver.ingest.manifest import load_manifest
from resolver.state.incremental import run_link_stateful
from resolver.state.store import WAL_AUTOCHECKPOINT, State
from tests.conftest import SAMPLE
from tests.reliability.helpers import run


def _rows(db_file: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows read from a copy of the database file alone (no WAL beside it)."""
    db = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _wal_frames(state_dir: Path) -> int:
    wal = state_dir / "state.db-wal"
    return 0 if not wal.exists() else max(0, (wal.stat().st_size - 32) // (4096 + 24))


def test_commit_leaves_the_copy_to_a_thread_and_close_waits_for_it(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    st = State(state_dir)
    try:
        with st.transaction(checkpoint_behind=True) as db:
            assert db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)", [(f"probe{i}", "x" * 3000) for i in range(3000)]
            )
        # The commit appended the pages to the WAL (the copy is the thread's).
        assert _wal_frames(state_dir) > 1000
        assert st.db.execute("PRAGMA wal_autocheckpoint").fetchone() == (WAL_AUTOCHECKPOINT,)
        thread = st._checkpointer
        assert thread is not None and thread.name == "state-checkpoint"
    finally:
        st.close()
    assert st._checkpointer is None and not thread.is_alive()
    # state.db alone (a copy without its WAL) holds the committed rows.
    alone = tmp_path / "alone.db"
    shutil.copyfile(state_dir / "state.db", alone)
    assert _rows(alone, "SELECT count(*) FROM meta WHERE key LIKE 'probe%'") == [(3000,)]


def test_a_rolled_back_transaction_starts_no_checkpoint(tmp_path: Path) -> None:
    with State(tmp_path / "state") as st:
        with (
            pytest.raises(RuntimeError, match="boom"),
            st.transaction(checkpoint_behind=True) as db,
        ):
            db.execute("INSERT INTO meta VALUES ('probe', 'x')")
            raise RuntimeError("boom")
        assert st._checkpointer is None
        assert st.meta("probe") is None
        assert st.db.execute("PRAGMA wal_autocheckpoint").fetchone() == (WAL_AUTOCHECKPOINT,)


def test_link_run_leaves_the_batch_in_the_database_file(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    result = run_link_stateful(SAMPLE / "batch", tmp_path / "run", state_dir)
    batch_id = load_manifest(SAMPLE / "batch").batch_id
    assert not (state_dir / "state.db-wal").exists()  # checkpointed and removed at close
    alone = tmp_path / "alone.db"
    shutil.copyfile(state_dir / "state.db", alone)
    assert _rows(alone, "SELECT batch_id, status FROM batches") == [(batch_id, "completed")]
    stored = _rows(alone, "SELECT count(*) FROM records")[0][0]
    assert isinstance(stored, int) and stored == result.report["state"]["records"]


def test_killed_while_the_checkpoint_may_run_the_state_opens_with_the_batch(
    tmp_path: Path,
) -> None:
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 2)
    state_dir = tmp_path / "state"
    run_link_stateful(parts[0], tmp_path / "r0", state_dir)
    killed = run(
        "link", str(parts[1]), "--out", str(tmp_path / "r1"), "--state", str(state_dir),
        env={"CREDGRAPH_FAULT_AT": "after_commit"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    with State(state_dir) as st:
        assert st.batch_status(load_manifest(parts[1]).batch_id) == "completed"
        assert st.db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
