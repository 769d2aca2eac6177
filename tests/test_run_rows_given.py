"""The write stage of a stateful run takes rows it holds instead of reading them back: the
run's files must come out as reading them back gave them (edges/events rows stored in
either spelling, resolved.csv rows, model.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from resolver.state import graphsync, run_files
from resolver.state.store import KEY_MATCH, State


def _edge(rid: str, typ: str, a: str, b: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": typ,
        "from": a,
        "to": b,
        "resolved": {"from": "by_id", "to": "by_name"},
        "source": {"dept": "AMR", "kind": "role", "record_id": rid},
        **extra,
    }


def _as_read_back(state: State, entity_ids: set[str], records: set[Any]) -> bytes:
    """edges.jsonl as the write stage wrote it before: every stored row decoded, the rows
    touching the entities kept, encoded again."""
    keep: list[Any] = []
    for kind, text in state.db.execute(
        "SELECT kind, payload FROM mentions ORDER BY dept, record_id, kind, part"
    ):
        p = msgspec.json.decode(text)
        hit = graphsync.ends(p)
        if kind not in graphsync.EVENT_KINDS and (
            hit & entity_ids or (not hit and graphsync.payload_key(p, kind) in records)
        ):
            keep.append(p)
    return msgspec.json.Encoder().encode_lines(keep)


def test_edges_come_out_as_stored_rows_read_back(tmp_path: Path) -> None:
    rows: dict[Any, tuple[str, list[dict[str, Any]]]] = {
        ("AMR", "role", f"R{i:03d}"): (
            "role",
            [_edge(f"R{i:03d}", "SERVES_AS", f"P{i}", "E1", share=[1e-05, 1e16, 0.5][i % 3])],
        )
        for i in range(450)  # more than one lot of 400 records
    }
    # a value holding the text '": ', as a json.dumps spelling has after every key
    rows[("AMR", "role", "R001")][1][0]["note"] = '他说": 好'
    with State(tmp_path / "state") as st:
        graphsync.ensure_tables(st.db)
        with st.transaction() as db:
            graphsync.save_mentions(db, rows, [])
            # a row stored by an older version: json.dumps's spelling (floats spelled
            # otherwise than msgspec's, spaces after separators)
            old = _edge("R002", "SERVES_AS", "P2", "E1", share=1e-05, name="甲")
            db.execute(
                f"UPDATE mentions SET payload = ? WHERE {KEY_MATCH}",
                (json.dumps(old, ensure_ascii=False, sort_keys=True), "AMR", "role", "R002"),
            )
            rows[("AMR", "role", "R002")] = ("role", [old])
            # save_mentions given the same row leaves the older spelling as it is
            graphsync.save_mentions(
                db, {("AMR", "role", "R002"): rows[("AMR", "role", "R002")]}, []
            )
        (text,) = st.db.execute(
            f"SELECT payload FROM mentions WHERE {KEY_MATCH}", ("AMR", "role", "R002")
        ).fetchone()
        assert '"share": 1e-05' in text
        records = {("AMR", "role", "R007")}
        expected = _as_read_back(st, {"E1"}, records)
        assert expected.count(b"\n") == 450 and b'"share":0.00001' in expected
        encoder = msgspec.json.Encoder()
        for known in ({}, rows, {k: v for i, (k, v) in enumerate(rows.items()) if i % 2}):
            edges, events, types = graphsync.rows_touching(st, {"E1"}, records, known)
            assert encoder.encode_lines(edges) == expected
            assert events == [] and types == {"SERVES_AS": 450}
        # a row no affected entity touches is left out
        edges, _events, _types = graphsync.rows_touching(st, {"P3"}, set(), rows)
        assert [msgspec.json.decode(e)["from"] for e in edges] == ["P3"]


def test_resolved_rows_given_equal_those_read_back(tmp_path: Path) -> None:
    with State(tmp_path / "state") as st:
        graphsync.ensure_tables(st.db)
        keys: list[tuple[str, str, str]] = []
        known: dict[Any, graphsync.Known] = {}
        scores = [0.5, -0.0, float("nan"), 1.0, None]
        with st.transaction() as db:
            db.execute(
                "INSERT INTO entities VALUES ('E1', 'enterprise', 'active', NULL, 'b', 'b', NULL)"
            )
            db.execute(
                "INSERT INTO entities VALUES ('E2', 'enterprise', 'merged', 'E1', 'b', 'b', NULL)"
            )
            db.execute(
                "INSERT INTO entities VALUES ('P1', 'person', 'active', NULL, 'b', 'b', NULL)"
            )
            for i in range(700):  # more than two lots of 300 keys
                dept = ["AMR", "TAX", "HR"][i % 3]
                kind = "person" if i % 2 else "enterprise"
                rid = f"X{i // 2:04d}"  # both kinds share record IDs
                eid = "P1" if kind == "person" else ("E2" if i % 4 == 0 else "E1")
                score, decision = scores[i % 5], ["match", None, "new"][i % 3]
                withdrawn = int(i % 97 == 0)
                db.execute(
                    "INSERT INTO records VALUES (?, ?, ?, 'f.csv', 1, ?, '2026-01-01', 'h', '{}', "
                    "'{}', ?, ?)",
                    (dept, rid, kind, f"batch-{i % 4}", eid, withdrawn),
                )
                db.execute(
                    "INSERT INTO resolutions VALUES (?, ?, ?, ?, ?)",
                    (dept, kind, rid, score, decision),
                )
                keys.append((dept, kind, rid))
                if i % 3 and not withdrawn:
                    known[(dept, kind, rid)] = (eid, score, decision, f"batch-{i % 4}")
        read = tmp_path / "read"
        given = tmp_path / "given"
        read.mkdir()
        given.mkdir()
        n = graphsync.write_resolved(st, read, set(keys))
        assert graphsync.write_resolved(st, given, set(keys), known) == n == 700 - 8
        text = (read / "resolved.csv").read_text("utf-8")
        assert (given / "resolved.csv").read_text("utf-8") == text
        assert ",E2," not in text and ",-0.0," not in text and ",nan," not in text


def test_indented_json_is_what_json_dumps_gives() -> None:
    for obj in (
        {"lead": {"鹏汇": 1.3e-05, "x": [1e16, 0.1, -0.0, 10**30]}, "empty": {}, "list": []},
        [{"a": 'q"\\\u2028\x01'}, [], [[]], True, None],
        {"nan": float("nan")},  # not JSON: json's own indenting
        {"lone": "\ud800"},
        {1: "int key", None: 2},
        "text",
    ):
        assert run_files.indented_json(obj) == json.dumps(obj, ensure_ascii=False, indent=2)
