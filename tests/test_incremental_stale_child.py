"""A stateful run finds the stored mention rows to resolve again (the token block and
``stale_mentions``) in a forked child while it resolves the batch's own rows
(resolver/state/incremental.py, ``_by_token``): the state and the run files come out
exactly as when one process does everything in turn."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fixtures.split import split_batch
from resolver.linkage.link import LinkConfig
from resolver.state.incremental import run_link_stateful
from resolver.workers import can_fork
from tests.conftest import SAMPLE
from tests.test_incremental import _dump, _mention_rows


def _tokens(state_dir: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(state_dir / "state.db")
    rows = db.execute(
        "SELECT token, dept, kind, record_id FROM loose_tokens "
        "ORDER BY token, dept, kind, record_id"
    ).fetchall()
    db.close()
    return rows


def _files(run: Path) -> dict[str, object]:
    """The run's rows (report and run.json hold timings and the state's own ID)."""
    out: dict[str, object] = {
        p.name: p.read_text("utf-8")
        for p in sorted(run.iterdir())
        if p.suffix in (".csv", ".jsonl")
    }
    changes = json.loads((run / "changes.json").read_text("utf-8"))
    out["changes.json"] = (changes["entities"], changes["withdrawn"])
    return out


@pytest.mark.skipif(not can_fork(), reason="the child is forked only where a core is spare")
def test_the_stale_rows_found_in_a_child_give_the_one_process_state(tmp_path: Path) -> None:
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 3)
    for name, cfg in (("forked", LinkConfig()), ("serial", LinkConfig(parallel=False))):
        for k, part in enumerate(parts):
            run_link_stateful(part, tmp_path / f"{name}{k}", tmp_path / name, cfg)
    forked, serial = tmp_path / "forked", tmp_path / "serial"
    assert _mention_rows(forked) == _mention_rows(serial)
    assert _tokens(forked) and _tokens(forked) == _tokens(serial)
    # (each state has an ID of its own)
    assert [r for r in _dump(forked) if r[:2] != ("meta", "state_id")] == [
        r for r in _dump(serial) if r[:2] != ("meta", "state_id")
    ]
    for k in range(len(parts)):
        assert _files(tmp_path / f"forked{k}") == _files(tmp_path / f"serial{k}")
