"""Awkward run files on the graph load's fallback paths: a golden.jsonl line with a lone
surrogate (msgspec refuses it, json takes it) loads on both paths, the surrogate stored
escaped; a ragged links.csv row or a golden line without an id is refused with one line
naming the file and the line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graph import load
from graph.store import FalkorStore, open_store
from resolver.state.run_files import write_run
from tests.test_cli_bad_input import cli
from tests.test_graph import graph_digest

LINKS_HEADER = "dept,record_id,kind,entity_id,score,decision,reason\n"


def _run(tmp_path: Path, golden: bytes, links: str) -> Path:
    def jsonl(rows: list[dict[str, Any]]) -> bytes:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()

    edge = {
        "type": "LEGAL_REP_OF",
        "from": "P1",
        "to": "E1",
        "role": "法定代表人",
        "source": {"dept": "AMR", "record_id": "S1", "kind": "role"},
    }
    event = {
        "kind": "credit_event",
        "subject": "E1",
        "values": {"event_type": "经营异常"},
        "source": {"dept": "AMR", "record_id": "C1"},
    }
    run = tmp_path / "run"
    files = [
        ("golden.jsonl", golden),
        ("edges.jsonl", jsonl([edge])),
        ("events.jsonl", jsonl([event])),
        ("links.csv", (LINKS_HEADER + links).encode()),
        ("report.json", b'{"batch_id": "b1"}'),
    ]
    write_run(run, files, {"batch_id": "b1"})
    return run


def _golden(name_json: str) -> bytes:
    members = '[{"dept": "AMR", "record_id": "R2"}]'
    return (
        '{"id": "E1", "type": "Enterprise", "attributes": {"name": "企业一"}, '
        '"members": [{"dept": "AMR", "record_id": "R1"}]}\n'
        f'{{"id": "E2", "type": "Enterprise", "attributes": {{"name": {name_json}}}, '
        f'"members": {members}}}\n'
        '{"id": "P1", "type": "Person", "attributes": {"name": "人一"}, "id_hash": "h1"}\n'
    ).encode()


LINKS = "AMR,R1,enterprise,E1,1.0,strong_id,\nAMR,R2,enterprise,E2,1.0,strong_id,\n"


def test_a_lone_surrogate_in_golden_loads_escaped_on_both_paths(
    graph_uri: str, tmp_path: Path
) -> None:
    run = _run(tmp_path, _golden('"\\ud800x"'), LINKS)
    merge = open_store(f"{graph_uri}_merge")
    fast = open_store(f"{graph_uri}_bulk")
    assert isinstance(merge, FalkorStore) and isinstance(fast, FalkorStore)
    try:
        a = load.load_run(merge, run, bulk=False)
        b = load.load_run(fast, run, bulk=True)
        assert (a.path, b.path) == ("merge", "bulk")
        assert a.escaped == b.escaped == 1
        for store in (merge, fast):
            rows = store.read(
                "MATCH (e:Enterprise) RETURN e.uid AS uid, e.name AS name ORDER BY uid"
            )
            names = [(r["uid"], r["name"]) for r in rows]
            assert names == [("E1", "企业一"), ("E2", "\\ud800x")]
        assert graph_digest(merge) == graph_digest(fast)
    finally:
        merge.close()
        fast.close()


def test_a_ragged_links_row_is_refused_with_its_row(tmp_path: Path, graph_uri: str) -> None:
    run = _run(tmp_path, _golden('"企业二"'), LINKS + "AMR,R3,enterprise,E2\n")
    with pytest.raises(
        load.RunFileError, match=r"^links.csv: row 4: 4 fields, the header names 7$"
    ):
        load.read_run(run)
    proc = cli("load", str(run), "--uri", graph_uri)
    assert proc.returncode == 1, proc.stderr
    assert f"Error: {run}: links.csv: row 4: 4 fields, the header names 7" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_golden_line_without_an_id_is_refused_with_its_line(
    tmp_path: Path, graph_uri: str
) -> None:
    golden = _golden('"企业二"').replace(b'"id": "E2", ', b"")
    run = _run(tmp_path, golden, LINKS)
    with pytest.raises(load.RunFileError, match=r"^golden.jsonl: line 2: .*`id`"):
        load.read_run(run)
    proc = cli("load", str(run), "--uri", graph_uri)
    assert proc.returncode == 1, proc.stderr
    assert f"Error: {run}: golden.jsonl: line 2: Object missing required field `id`" in (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr
