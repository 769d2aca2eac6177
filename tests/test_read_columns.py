"""The column readers (plain files: the tables built column by column, no dict per row)
give exactly the tables of the row readers, on the sample batch's run and on a run of
awkward but plain values: padded and blank strings, nulls, nested objects, lists of mixed
and blank items, mixed types in one property, shared addresses, merged entities, repeated
record keys, relationships several departments report, unresolved ends and subjects, a
links.csv row of another kind. And the bulk path loads that run as the MERGE path does."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from graph import load
from graph.store import FalkorStore, open_store
from resolver.state.run_files import write_run
from tests.test_graph import graph_contents, graph_digest
from tests.test_read_split import _tables


def _golden() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    odd: list[Any] = [
        "  padded  ",
        "   ",
        None,
        {"nested": 1},
        [1, " a "],
        ["a", " "],
        [],
        True,
        7,
        2.5,
        '引号 "q", 逗号 , 😀',
        "第一行\n第二行\t",
    ]
    for i, value in enumerate(odd):
        out.append(
            {
                "id": f" E{i:04d} " if i == 3 else f"E{i:04d}",
                "type": "Enterprise",
                "lifecycle": "merged" if i == 5 else "active",
                "merged_into": "E0000" if i == 5 else None,
                "attributes": {
                    "name": f"企业{i}",
                    "odd": value,
                    "status": ["存续", "吊销", " 注销 "][i % 3],
                    "reg_capital": "一百万元" if i == 4 else 1000.0 * i,
                    # two enterprises share an address; a merged one keeps none
                    "address": f"地址{i // 2}" if i % 4 else "  ",
                    "phone": f"+86{i % 3}" if i != 6 else None,
                },
                "members": [{"dept": "AMR", "record_id": f"R{i}"}] * (i % 3),
            }
        )
    for i in range(3):
        out.append(
            {
                "id": f"P{i:04d}",
                "type": "Person",
                "attributes": {"name": f"人{i}", "address": "个人地址", "birth_year": 1980 + i},
                "id_hash": f"h{i}",
                "id_masked": "44***X" if i else None,
                "known_from": "mention" if i == 2 else None,
            }
        )
    return out


def _edges() -> list[dict[str, Any]]:
    src = {"dept": "AMR", "record_id": "S1", "kind": "role"}
    return [
        {
            "type": "LEGAL_REP_OF",
            "from": "P0000",
            "to": "E0001",
            "role": "法定代表人",
            "source": src,
        },
        # the same relationship from three departments, values in different places
        {
            "type": "HOLDS_SHARES",
            "from": " P0001",
            "to": "E0002",
            "ratio": 0.5,
            "source": {"dept": "TAX", "record_id": "T9"},
        },
        {"type": "SERVES_AS", "from": "P0001", "to": "E0002", "role": 3, "source": src},
        {
            "type": "HOLDS_SHARES",
            "from": "P0001",
            "to": "E0002 ",
            "amount": 100,
            "ratio": 0.25,
            "start": "  ",
            "source": {"dept": "AMR", "record_id": "S2", "kind": "shareholder"},
        },
        {
            "type": "HOLDS_SHARES",
            "from": "P0001",
            "to": "E0002",
            "end": "2020-01-01",
            "source": {"dept": "AMR", "record_id": "S0", "kind": " "},
        },
        {"type": "HOLDS_SHARES", "from": "E0003", "to": "E0004", "ratio": "三成", "source": src},
        {"type": "BRANCH_OF", "from": "E0007", "to": "E0000", "source": src},
        {"type": "BRANCH_OF", "from": None, "to": "E0000", "source": src},
        {"type": "LEGAL_REP_OF", "from": "P0002", "to": "", "source": src},
        {"type": "SERVES_AS", "from": "P9999", "to": "E0001", "role": " 监事 ", "source": src},
    ]


def _events() -> list[dict[str, Any]]:
    def ev(kind: str, rec: str, subject: str | None, **values: Any) -> dict[str, Any]:
        return {
            "kind": kind,
            "subject": subject,
            "values": values,
            "source": {"dept": "AMR ", "record_id": rec},
        }

    return [
        ev("credit_event", "C1", "E0001", event_type=" 经营异常 ", amount=12.5, name="企业1"),
        ev("credit_event", "C1", "E0001", event_type="重复", severity=None),  # same record again
        ev("credit_event", "C2", "P0000", date="2024-01-01", description="   "),
        ev("fact", "F1", "E0002", fact_type="社保", quantity="12", unit=3),
        ev("tax_declaration", "X1", None, tax_type="增值税", tax_paid=0, period="2024-01"),
        ev("tax_declaration", "X2", " E0002 ", taxable_amount=1.5, reference=["a", "b"]),
    ]


def _links() -> str:
    rows = [
        "dept,record_id,kind,entity_id,score,decision,reason",
        "AMR,R0,enterprise,E0000,1.0,strong_id,",
        "AMR , R1 ,enterprise, E0001 ,0.93, probabilistic ,x",
        "TAX,R1,person,P0000,,,",
        "TAX,R2,person,,0.2,unresolved,",
        "AMR,RR1,role,P0000,1.0,strong_id,",
        '"A,B","R""3",enterprise,E0002,1,strong_id,',
        "AMR,R0,enterprise,E0001,0.5,probabilistic,",  # a key again: its last row wins
    ]
    return "".join(r + "\n" for r in rows)


def _plain_run(tmp_path: Path) -> Path:
    def jsonl(rows: list[dict[str, Any]]) -> bytes:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()

    run = tmp_path / "plain"
    files = [
        ("golden.jsonl", jsonl(_golden())),
        ("edges.jsonl", jsonl(_edges())),
        ("events.jsonl", jsonl(_events())),
        ("links.csv", _links().encode()),
        ("report.json", json.dumps({"batch_id": " b-1 "}).encode()),
    ]
    write_run(run, files, {"batch_id": "b-1"})
    return run


def _rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file read by the row readers."""

    def no_columns(path: Path, kind: type) -> tuple[None, bytes]:
        return None, path.read_bytes() if path.exists() else b""

    monkeypatch.setattr(load, "_plain_objects", no_columns)
    monkeypatch.setattr(load, "_source_tables", lambda *args: None)


def test_column_readers_give_the_row_readers_tables(
    sample_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load, "SPLIT_READ_BYTES", 1 << 60)
    plain = _plain_run(tmp_path)
    used: list[str] = []
    for name in ("_golden_tables", "_source_tables", "_edge_tables", "_event_tables"):
        real = getattr(load, name)

        def spy(*args: Any, _real: Any = real, _name: str = name) -> Any:
            made = _real(*args)
            if made is not None:
                used.append(_name)
            return made

        monkeypatch.setattr(load, name, spy)
    columns = {run: _tables(run) for run in (sample_run, plain)}
    # every file of both runs went through its column reader
    assert sorted(set(used)) == [
        "_edge_tables",
        "_event_tables",
        "_golden_tables",
        "_source_tables",
    ]
    assert used.count("_golden_tables") == 2
    _rows_only(monkeypatch)
    for run, tables in columns.items():
        assert _tables(run) == tables
    t = columns[plain]
    nodes = dict(t["nodes"])
    assert len(nodes["Address"]) == len({f"地址{i // 2}" for i in range(12) if i % 4 and i != 5})
    assert nodes["SourceRecord"][0]["props"]["batch_id"] == "b-1"
    counts = {k: (rows, dict(skipped)) for k, rows, _w, skipped in t["counts"]}
    assert counts["RESOLVED_TO"] == (6, {"unresolved record": 1})
    assert counts["SUBJECT_OF"] == (6, {"unresolved subject": 1})
    assert counts["BRANCH_OF"] == (2, {"unresolved branch": 1})
    held = dict(t["rels"])[("HOLDS_SHARES", "Person", "Enterprise")]
    assert [(r["w"], r["props"]["sources"]) for r in held] == [(3, ["AMR|S0", "AMR|S2", "TAX|T9"])]
    assert "source_kinds" not in held[0]["props"]  # one blank kind: the list is not kept


def test_bulk_path_loads_the_plain_run_as_the_merge_path(graph_uri: str, tmp_path: Path) -> None:
    run = _plain_run(tmp_path)
    merge = open_store(f"{graph_uri}_cmerge")
    fast = open_store(f"{graph_uri}_cbulk")
    assert isinstance(merge, FalkorStore) and isinstance(fast, FalkorStore)
    try:
        a = load.load_run(merge, run, bulk=False)
        b = load.load_run(fast, run, bulk=True)
        assert (a.path, b.path) == ("merge", "bulk")
        assert Counter(graph_contents(merge)) == Counter(graph_contents(fast))
        assert graph_digest(merge) == graph_digest(fast)
        merged = {k: (c.rows, c.written, dict(c.skipped)) for k, c in a.counts.items()}
        bulked = {k: (c.rows, c.written, dict(c.skipped)) for k, c in b.counts.items()}
        for rows, written, skipped in bulked.values():
            assert written + sum(skipped.values()) == rows
        # A record twice in events.jsonl: one relationship on both paths; the bulk path
        # counts both rows written, the MERGE path (FalkorDB's MERGE over a batch holding
        # the pair twice) one, the other as "end node missing".
        assert bulked.pop("SUBJECT_OF") == (6, 5, {"unresolved subject": 1})
        assert merged.pop("SUBJECT_OF") == (6, 4, {"unresolved subject": 1, "end node missing": 1})
        assert merged == bulked
        rows = fast.read(
            "MATCH (e:Enterprise) RETURN e.uid AS uid, e.odd AS odd ORDER BY e.uid LIMIT 7"
        )
        assert [r["odd"] for r in rows] == ["padded", None, None, None, ["1", "a"], None, None]
    finally:
        merge.close()
        fast.close()
