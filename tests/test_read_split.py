"""Reading a run with a second process (edges and events read by a forked reader, sent
back as MessagePack) gives the same tables as reading it in one process, and a check run
beside the reading reports its failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graph import load
from tests.test_bulk_payload import _run as awkward_run


def _tables(run: Path) -> dict[str, Any]:
    g = load.read_run(run)
    return {
        "nodes": list(g.nodes.items()),
        "rels": list(g.rels.items()),
        "counts": [(k, c.rows, c.written, dict(c.skipped)) for k, c in g.counts.items()],
        "escaped": g.escaped,
        "golden": g.golden_ids,
    }


def test_two_readers_give_the_tables_of_one(
    sample_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    awkward = awkward_run(tmp_path)
    for run in (sample_run, awkward):
        monkeypatch.setattr(load, "SPLIT_READ_BYTES", 1 << 60)
        one = _tables(run)
        monkeypatch.setattr(load, "SPLIT_READ_BYTES", 0)
        two = _tables(run)
        assert two == one
    sample = _tables(sample_run)
    assert {lab for lab, _ in sample["nodes"]} >= {"Enterprise", "Person", "CreditEvent"}
    assert sum(rows for k, rows, *_ in sample["counts"] if k == "SUBJECT_OF") > 0


def test_a_failed_check_is_raised_after_the_reading(
    sample_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load, "SPLIT_READ_BYTES", 0)

    def tampered() -> None:
        raise ValueError("links.csv does not match run.json")

    with pytest.raises(ValueError, match=r"links\.csv does not match run\.json"):
        load.read_run(sample_run, check=tampered)
    seen: list[str] = []
    g = load.read_run(sample_run, check=lambda: seen.append("checked"))
    assert seen == ["checked"] and g.nodes["Enterprise"]
