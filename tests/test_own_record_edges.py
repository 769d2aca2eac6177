"""An enterprise record's own legal-representative row is about that record's enterprise.

A record without identifiers whose name two registered enterprises share (two valid USCCs,
never merged) cannot be singled out by identifier or name; before, its LEGAL_REP_OF row had
no enterprise end and the load skipped it as unresolved. Its end is now the entity the record
is linked to, in a one-shot run and in a stateful one."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from resolver.linkage.link import run_link
from resolver.standardize import identifiers as ids
from resolver.state.incremental import run_link_stateful
from tests.batch_plus import batch_plus
from tests.conftest import SAMPLE

NAME = "佛山市南海区同名测试五金有限公司"
ROWS = [
    ("O1", ids.make_uscc("9", "1", "440605", "5C7D9E1F"), NAME, "张测甲"),
    ("O2", ids.make_uscc("9", "1", "440605", "6D8E2F3A"), NAME, "李测乙"),
    ("O3", "", NAME, "王测丙"),  # no identifier: the name alone names two enterprises
]


def _batch(dest: Path, batch_id: str) -> Path:
    """The sample batch plus a TEST enterprise file with the three rows above."""
    columns = {"统一社会信用代码": "uscc", "名称": "name", "法定代表人": "legal_rep_name"}
    return batch_plus(SAMPLE / "batch", dest, ROWS, batch_id=batch_id, columns=columns)


def _linked(run: Path) -> dict[str, str]:
    """TEST record ID -> golden enterprise, from links.csv (or resolved.csv of a stateful run)."""
    name = "resolved.csv" if (run / "resolved.csv").exists() else "links.csv"
    with (run / name).open(encoding="utf-8", newline="") as fh:
        return {
            r["record_id"]: r["entity_id"]
            for r in csv.DictReader(fh)
            if r["dept"] == "TEST" and r["kind"] == "enterprise"
        }


def _legal_rep_rows(run: Path) -> dict[str, dict[str, Any]]:
    lines = (run / "edges.jsonl").read_text("utf-8").splitlines()
    return {
        e["source"]["record_id"]: e
        for e in map(json.loads, lines)
        if e["type"] == "LEGAL_REP_OF" and e["source"]["dept"] == "TEST"
    }


def _check(run: Path) -> None:
    linked = _linked(run)
    rows = _legal_rep_rows(run)
    assert set(rows) == {"O1", "O2", "O3"}
    assert linked["O1"] != linked["O2"]  # two valid USCCs: never one entity
    for rid, row in rows.items():
        assert row["to"] == linked[rid], (rid, row)
        assert row["from"], (rid, row)
    assert rows["O1"]["resolved"]["to"] == rows["O2"]["resolved"]["to"] == "by_id"
    assert rows["O3"]["resolved"]["to"] == "by_record"


def test_one_shot_legal_rep_row_of_an_ambiguous_name_is_its_own_enterprise(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    run_link(_batch(tmp_path / "b", "same-name-1"), run)
    _check(run)


def test_stateful_legal_rep_row_of_an_ambiguous_name_is_its_own_enterprise(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    run_link_stateful(SAMPLE / "batch", tmp_path / "r1", state)
    run = tmp_path / "r2"
    run_link_stateful(_batch(tmp_path / "b", "same-name-2"), run, state)
    _check(run)
