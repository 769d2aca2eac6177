"""An enterprise record's own legal-representative row (``by_record``) over a stateful chain:
when the record's entity later merges into another or is split off again, the row follows
the record, and after each load the graph equals a fresh load of the state (real server,
real stateful runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fixtures.split import split_batch
from graph.load import load_run
from resolver.standardize import identifiers as ids
from resolver.state.graphsync import export_run
from resolver.state.incremental import run_link_stateful
from resolver.state.store import State
from tests.batch_plus import batch_plus
from tests.conftest import SAMPLE
from tests.test_graph import assert_equals_a_fresh_load, falkor_store, graph_digest

NAME = "佛山市南海区同名链测五金有限公司"
A = ids.make_uscc("9", "1", "440605", "7E9F1A2B")
B = ids.make_uscc("9", "1", "440605", "8F1A2B3C")
ADDR3, PHONE3 = "广东省佛山市南海区桂城街道链测路3号", "0757-83330003"
#: (record, USCC, name, legal representative, address, phone)
O1 = ("O1", A, NAME, "张链甲", "广东省佛山市南海区桂城街道链测路1号", "0757-83330001")
O2 = ("O2", B, NAME, "李链乙", "广东省佛山市南海区桂城街道链测路2号", "0757-83330002")
O3 = ("O3", "", NAME, "王链丙", ADDR3, PHONE3)  # no identifier, a name two USCCs share
O5 = ("O5", A, NAME, "王链丙", ADDR3, PHONE3)  # O1's USCC with O3's address and phone


#: The columns of the chain's enterprise file (header -> Contract 1 field).
COLUMNS = {
    "统一社会信用代码": "uscc",
    "名称": "name",
    "法定代表人": "legal_rep_name",
    "地址": "address",
    "电话": "phone",
}


def _batch(
    base: Path, dest: Path, rows: list[tuple[str, ...]], batch_id: str, **manifest: Any
) -> Path:
    return batch_plus(
        base,
        dest,
        rows,
        batch_id=batch_id,
        file="test_chain.csv",
        columns=COLUMNS,
        manifest=manifest,
    )


def _entity_of(state: Path, rid: str) -> str:
    """The TEST record's current entity in the state."""
    with State(state) as st:
        (eid,) = st.db.execute(
            "SELECT entity_id FROM records WHERE dept = 'TEST' AND record_id = ?", (rid,)
        ).fetchone()
        return str(st.resolve(eid)[0])


def test_own_record_rows_follow_merges_and_splits(graph_uri: str, tmp_path: Path) -> None:
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 3)
    state = tmp_path / "state"
    batches = [
        _batch(parts[0], tmp_path / "b1", [O1, O2, O3], "chain-1"),
        _batch(parts[1], tmp_path / "b2", [O1, O2, O5], "chain-2"),  # O5 joins O3 to O1's
        _batch(parts[2], tmp_path / "b3", [O2], "chain-3"),
    ]
    store = falkor_store(graph_uri)
    seen: list[str] = []
    try:
        for k in range(4):
            if k == 3:  # a human says O3 is not O5: the next batch splits them again
                with State(state) as st, st.transaction():
                    st.add_judgement(("TEST", "O3"), ("TEST", "O5"), "no_match", "t", "split")
                batches.append(_batch(parts[2], tmp_path / "b4", [O2], "chain-4"))
            run = tmp_path / f"r{k}"
            run_link_stateful(batches[k], run, state)
            load_run(store, run, batch_size=300)
            assert_equals_a_fresh_load(
                store, state, f"{graph_uri}_fresh{k}", tmp_path / f"snap{k}", k
            )
            own = _entity_of(state, "O3")
            seen.append(own)
            snap = [
                json.loads(line)
                for line in (tmp_path / f"snap{k}" / "edges.jsonl").read_text("utf-8").splitlines()
            ]
            rows = [
                e
                for e in snap
                if e["type"] == "LEGAL_REP_OF"
                and e["source"]["dept"] == "TEST"
                and e["source"]["record_id"] == "O3"
            ]
            assert [r["to"] for r in rows] == [own], (k, rows)
            reps = store.read(
                "MATCH (p:Person {uid: $p})-[:LEGAL_REP_OF]->(e:Enterprise) "
                "RETURN e.uid AS e, e.lifecycle AS l",
                {"p": rows[0]["from"]},
            )
            assert [(r["e"], r["l"]) for r in reps] == [(own, "active")], (k, reps)
        # the chain did what it is about: O3 merged with O1's entity, then split off again
        assert seen[0] != _entity_of(state, "O1")
        assert seen[1] == seen[2] == _entity_of(state, "O5")
        assert seen[3] != _entity_of(state, "O5")
        # O3 withdrawn: its own row goes with it
        person = rows[0]["from"]
        b5 = _batch(
            parts[2],
            tmp_path / "b5",
            [O2],
            "chain-5",
            withdrawn=[{"dept": "TEST", "record_id": "O3"}],
        )
        run_link_stateful(b5, tmp_path / "r4", state)
        load_run(store, tmp_path / "r4", batch_size=300)
        export_run(state, tmp_path / "snap4")
        fresh = falkor_store(f"{graph_uri}_fresh4")
        try:
            load_run(fresh, tmp_path / "snap4")
            assert graph_digest(store) == graph_digest(fresh)
        finally:
            fresh.close()
        gone = store.read(
            "MATCH (p:Person {uid: $p})-[:LEGAL_REP_OF]->(e) RETURN e.uid AS e", {"p": person}
        )
        assert gone == []
    finally:
        store.close()
