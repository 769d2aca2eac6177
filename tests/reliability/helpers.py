"""What the state and run reliability tests share: real `credgraph` processes, small batches."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from resolver.state.store import State, export_links

ENTERPRISE_COLUMNS = {
    "统一社会信用代码": "uscc",
    "名称": "name",
    "地址": "address",
    "电话": "phone",
}


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
    shutil.copytree(batch, dest)
    with (dest / "test_ent.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", *ENTERPRISE_COLUMNS])
        w.writerows(rows)
    m = yaml.safe_load((dest / "manifest.yaml").read_text("utf-8"))
    m["batch_id"] = batch_id
    m["sources"].append(
        {
            "dept": "TEST",
            "file": "test_ent.csv",
            "kind": "enterprise",
            "record_id": "编号",
            "columns": ENTERPRISE_COLUMNS,
        }
    )
    if withdrawn:
        m["withdrawn"] = [{"dept": d, "record_id": r} for d, r in withdrawn]
    (dest / "manifest.yaml").write_text(
        yaml.safe_dump(m, allow_unicode=True, sort_keys=False), "utf-8"
    )
    return dest


def state_view(state_dir: Path) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """What a state says, without times: each record's current entity, each entity's status."""
    with State(state_dir) as st:
        links = {(d, r): e for d, r, _k, e in export_links(st)}
        status = dict(st.db.execute("SELECT id, status FROM entities").fetchall())
    return links, status
