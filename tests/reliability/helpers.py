"""What the state and run reliability tests share: real `credgraph` processes, small batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from resolver.state.store import State, export_links
from tests.batch_plus import batch_plus


def credgraph(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``credgraph ARGS`` as a real process (stdout/stderr captured)."""
    return subprocess.Popen(
        [sys.executable, "-m", "credgraph.cli", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = credgraph(*args, env=env)
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def with_rows(
    batch: Path,
    dest: Path,
    rows: list[tuple[str, str, str, str, str]],
    batch_id: str,
    withdrawn: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> Path:
    """A copy of ``batch`` with an extra TEST enterprise file, a batch_id and withdrawals."""
    gone = {"withdrawn": [{"dept": d, "record_id": r} for d, r in withdrawn]} if withdrawn else {}
    return batch_plus(batch, dest, rows, batch_id=batch_id, manifest=gone)


def state_view(state_dir: Path) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """What a state says, without times: each record's current entity, each entity's status."""
    with State(state_dir) as st:
        links = {(d, r): e for d, r, _k, e in export_links(st)}
        status = dict(st.db.execute("SELECT id, status FROM entities").fetchall())
    return links, status
