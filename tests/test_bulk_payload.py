"""The bulk path (GRAPH.BULK payload packed in-process) writes exactly what the MERGE path
writes, value for value: quotes, commas, backslashes, newlines, Chinese, emoji, long text,
integers, floats, booleans, lists, a property whose values differ in type from row to row,
and payloads split over several GRAPH.BULK calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graph import bulk
from graph.load import load_run
from graph.store import FalkorStore, open_store
from resolver.state.run_files import write_run
from tests.test_graph import graph_digest

AWKWARD = [
    'He said "hi", then left',
    "逗号,引号'单',反斜杠\\结尾\\",
    "第一行\n第二行\t制表",
    "emoji 😀 and 𠀀 (astral)",
    "长" * 40_000,
    "[not, an, array]",
    "123",  # digits as text stay text
]
LONE = "孤\udc80立 😀"


def _run(tmp_path: Path) -> Path:
    golden: list[dict[str, Any]] = []
    for i, text in enumerate(AWKWARD):
        golden.append(
            {
                "id": f"E{i:09d}",
                "type": "Enterprise",
                "lifecycle": "active",
                "attributes": {
                    "name": text,
                    "former_names": [text[:50], f"旧名{i}"],
                    "is_branch": i % 2 == 0,
                    # A capital written as a number by most, as text by one department.
                    "reg_capital": 1000.5 * i if i != 3 else "一百万元",
                    "employees": i,
                },
                "members": [],
            }
        )
    golden.append(
        {
            "id": "P000000001",
            "type": "Person",
            "lifecycle": "active",
            "attributes": {"name": "张三"},
            "members": [],
        }
    )
    edges = [
        {
            "type": "HOLDS_SHARES",
            "from": "P000000001",
            "to": f"E{i:09d}",
            "ratio": i / 8,
            "amount": i if i % 2 else None,
            "source": {"dept": "AMR", "record_id": f"S{i}"},
        }
        for i in range(len(AWKWARD))
    ]
    edges.append(
        {
            "type": "HOLDS_SHARES",
            "from": "P000000001",
            "to": "E999999999",  # no such node: accounted for as skipped
            "source": {"dept": "AMR", "record_id": "S-missing"},
        }
    )
    # A lone surrogate (only an escape can carry one; UTF-8 cannot) beside an escaped emoji.
    lone = {
        "id": "P000000002",
        "type": "Person",
        "lifecycle": "active",
        "attributes": {"name": LONE},
        "members": [],
    }
    lines = [json.dumps(g, ensure_ascii=False) for g in golden] + [json.dumps(lone)]
    files = [
        ("golden.jsonl", "".join(line + "\n" for line in lines)),
        ("edges.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in edges)),
    ]
    run = tmp_path / "run"
    write_run(run, [(n, t.encode()) for n, t in files], {"batch_id": "bulk-payload"})
    return run


@pytest.mark.parametrize("chunk", [bulk.CHUNK, 2])
def test_bulk_payload_equals_the_merge_path(
    graph_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(bulk, "CHUNK", chunk)  # 2: every table split over several calls
    run = _run(tmp_path)
    merge = open_store(f"{graph_uri}_merge")
    fast = open_store(f"{graph_uri}_bulk")
    assert isinstance(merge, FalkorStore) and isinstance(fast, FalkorStore)
    try:
        a = load_run(merge, run, bulk=False)
        b = load_run(fast, run, bulk=True)
        assert (a.path, b.path) == ("merge", "bulk")
        assert graph_digest(merge) == graph_digest(fast)
        holds = b.counts["HOLDS_SHARES"]
        assert (holds.rows, holds.written, dict(holds.skipped)) == (
            len(AWKWARD) + 1,
            len(AWKWARD),
            {"end node missing": 1},
        )
        rows = fast.read(
            "MATCH (e:Enterprise) RETURN e.uid AS uid, e.name AS name, "
            "e.former_names AS former, e.is_branch AS branch, e.reg_capital AS capital, "
            "e.employees AS employees ORDER BY e.uid"
        )
        assert [r["name"] for r in rows] == AWKWARD
        assert rows[3]["capital"] == "一百万元" and rows[2]["capital"] == 2001.0
        assert rows[1]["former"] == [AWKWARD[1][:50], "旧名1"]
        assert [r["branch"] for r in rows[:2]] == [True, False]
        assert [r["employees"] for r in rows] == list(range(len(AWKWARD)))
        person = fast.read("MATCH (p:Person {uid: 'P000000002'}) RETURN p.name AS name")
        assert person == [{"name": "孤\\udc80立 😀"}]  # the lone surrogate kept as its escape
        ratios = fast.read(
            "MATCH (:Person)-[h:HOLDS_SHARES]->(e:Enterprise) RETURN e.uid AS uid, "
            "h.ratio AS ratio, h.amount AS amount, h.sources AS sources ORDER BY e.uid"
        )
        assert [r["ratio"] for r in ratios] == [i / 8 for i in range(len(AWKWARD))]
        assert ratios[1]["amount"] == 1 and ratios[2]["amount"] is None
        assert ratios[0]["sources"] == ["AMR|S0"]
    finally:
        merge.close()
        fast.close()
