"""A stored mention row found by an ID number is resolved again when the record carrying
that number leaves the row's entity. Person 张链测 is known from a housing record (no ID
number) and a social-security record with ID number X, linked as one person; an enterprise
record names 张链测 with X as its legal representative. A later batch corrects the
social-security record to another person (李链测, X, other phone and address): it leaves the
entity, which keeps its ID with the housing record alone. The enterprise record is not in
that batch — its legal-representative row must follow X all the same, as resolving the
final records in one batch does. It stayed with the old entity: an entity that lost a
*changed* record counted as having kept exactly its records, and its rows were not
re-resolved (found by inc7m)."""

from __future__ import annotations

from pathlib import Path

from fixtures.split import split_batch
from resolver.standardize import identifiers as ids
from resolver.state.incremental import run_link_stateful
from resolver.state.store import State
from tests.batch_plus import batch_plus
from tests.conftest import SAMPLE

X = "11010519491231002" + ids.id_check_char("11010519491231002")
USCC = ids.make_uscc("9", "1", "440106", "5C6D7E8F")
PERSON_COLUMNS = {"姓名": "name", "身份证号": "id_number", "手机": "phone", "住址": "address"}
ENTERPRISE_COLUMNS = {
    "统一社会信用代码": "uscc",
    "名称": "name",
    "法定代表人": "legal_rep_name",
    "法定代表人证件号": "legal_rep_id",
}
HOME = "广东省广州市天河区链测路1号"
H1 = ("H1", "张链测", "", "13800138001", HOME)
S1 = ("S1", "张链测", X, "13800138001", HOME)
S1_CORRECTED = ("S1", "李链测", X, "13900139002", "广东省广州市越秀区别处路9号")
E1 = ("E1", USCC, "广州链测贸易有限公司", "张链测", X)


def _batch(base: Path, dest: Path, persons: list[tuple[str, ...]], batch_id: str) -> Path:
    half = batch_plus(
        base,
        dest.with_name(dest.name + "-p"),
        persons,
        batch_id=batch_id,
        dept="TSOC",
        file="test_per.csv",
        kind="person",
        columns=PERSON_COLUMNS,
    )
    return batch_plus(half, dest, [E1], batch_id=batch_id, dept="TENT", columns=ENTERPRISE_COLUMNS)


def _rep_record_entity(state: Path) -> tuple[str | None, str, str]:
    """(the person entity E1's legal-representative row ends at, S1's entity, H1's)."""
    with State(state) as st:
        rep = st.db.execute(
            "SELECT e.entity_id FROM mention_ends e JOIN entities n ON n.id = e.entity_id "
            "WHERE e.dept = 'TENT' AND e.record_id = 'E1' AND n.kind = 'person'"
        ).fetchall()
        entity = {
            rid: str(st.resolve(eid)[0])
            for rid, eid in st.db.execute(
                "SELECT record_id, entity_id FROM records WHERE dept = 'TSOC'"
            )
        }
    assert len(rep) <= 1, rep
    return (str(rep[0][0]) if rep else None), entity["S1"], entity["H1"]


def test_a_row_follows_an_id_number_whose_record_left_its_entity(tmp_path: Path) -> None:
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 2)
    # What the final records give when resolved together: X's record holds the row.
    once = tmp_path / "once"
    run_link_stateful(
        _batch(parts[0], tmp_path / "o1", [H1, S1_CORRECTED], "once-1"), tmp_path / "ro", once
    )
    rep, s1, h1 = _rep_record_entity(once)
    assert s1 != h1 and rep == s1
    # The chain: first linked together, then S1 corrected in a batch without E1's file.
    state = tmp_path / "state"
    run_link_stateful(
        _batch(parts[0], tmp_path / "b1", [H1, S1], "chain-1"), tmp_path / "r1", state
    )
    rep, s1, h1 = _rep_record_entity(state)
    assert s1 == h1 and rep == s1
    before = h1
    second = batch_plus(
        parts[1],
        tmp_path / "b2",
        [S1_CORRECTED],
        batch_id="chain-2",
        dept="TSOC",
        file="test_per.csv",
        kind="person",
        columns=PERSON_COLUMNS,
    )
    run_link_stateful(second, tmp_path / "r2", state)
    rep, s1, h1 = _rep_record_entity(state)
    assert h1 == before and s1 != h1  # the entity kept its ID with H1 alone
    assert rep == s1, f"E1's legal representative stayed at {rep} ({h1}), not X's {s1}"
