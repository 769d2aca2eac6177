"""Persons are re-linked in a forked child while enterprises are re-linked in the run's own
process (resolver/state/incremental.py): what the child raises reaches the user as it would
without the child — here a damaged sealed ID value in a stored person record that the
re-link reads: the one-line message naming the record, no traceback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from credgraph.cli import main
from resolver.standardize.identifiers import id_check_char
from resolver.workers import can_fork
from tests.reliability.batchkit import Source, write_batch

PERSON_COLUMNS = {"身份证号": "id_number", "姓名": "name", "联系电话": "phone"}
ID_A = "44010619850312451" + id_check_char("44010619850312451")
ID_B = "44010619900101123" + id_check_char("44010619900101123")


def _persons(root: Path, batch_id: str, rows: list[tuple[str, str, str, str]]) -> Path:
    text = "\n".join(["序号,身份证号,姓名,联系电话", *(",".join(r) for r in rows)]) + "\n"
    return write_batch(
        root,
        [
            Source(
                "psb.csv",
                text.encode(),
                kind="person",
                dept="PSB",
                record_id="序号",
                columns=dict(PERSON_COLUMNS),
            )
        ],
        batch_id=batch_id,
    )


@pytest.mark.skipif(not can_fork(), reason="the child is forked only where a core is spare")
def test_an_error_in_the_person_child_is_the_one_line_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDGRAPH_STATE_KEY", Fernet.generate_key().decode())
    state = tmp_path / "state"
    runner = CliRunner()
    first = _persons(
        tmp_path / "b1",
        "b1",
        [("P1", ID_A, "张三", "13800138000"), ("P2", ID_B, "李四", "13900139000")],
    )
    done = runner.invoke(
        main, ["link", str(first), "--out", str(tmp_path / "r1"), "--state", str(state)]
    )
    assert done.exit_code == 0, done.output
    db = sqlite3.connect(state / "state.db")
    (std,) = db.execute(
        "SELECT std FROM records WHERE dept = 'PSB' AND kind = 'person' AND record_id = 'P1'"
    ).fetchone()
    values = json.loads(std)
    assert values["id18"].startswith("aesgcm:")
    values["id18"] = values["id18"][:20]  # truncated: no key opens it
    with db:
        db.execute(
            "UPDATE records SET std = ? WHERE dept = 'PSB' AND kind = 'person' AND record_id = 'P1'",
            (json.dumps(values),),
        )
    db.close()
    # Another department's record of the same person: its cluster (P1's) is re-linked.
    second = _persons(tmp_path / "b2", "b2", [("Q1", ID_A, "张三", "13800138000")])
    second_psb = second / "manifest.yaml"
    second_psb.write_text(second_psb.read_text("utf-8").replace("dept: PSB", "dept: HRSS"), "utf-8")
    failed = runner.invoke(
        main, ["link", str(second), "--out", str(tmp_path / "r2"), "--state", str(state)]
    )
    assert failed.exit_code != 0
    assert "record PSB/person/P1, record field id18: the state key does not open this value" in (
        failed.output
    )
    assert "Traceback" not in failed.output
    assert ID_A not in failed.output
