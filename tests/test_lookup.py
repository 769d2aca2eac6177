"""graph/lookup.py against the real embedded server, over the sample batch linked with a state.

Expectations come from the run files (golden.jsonl, links.csv, edges.jsonl, events.jsonl) and
the state, never from counts written here.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from graph import queries
from graph.load import load_run
from graph.lookup import (
    BadKey,
    NotFound,
    entity_view,
    entity_view_async,
    key_needs_salt,
    resolve_key,
    resolve_key_async,
)
from graph.server import ServerInfo
from graph.store import FalkorStore, open_async_store, open_store
from resolver.state.incremental import run_link_stateful
from resolver.state.store import State
from tests.conftest import SAMPLE


@dataclass(frozen=True)
class Sample:
    uri: str
    run: Path
    state: Path
    salt: str
    golden: dict[str, dict[str, Any]]
    links: list[dict[str, str]]
    edges: list[dict[str, Any]]
    events: list[dict[str, Any]]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sample(graph_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    base = tmp_path_factory.mktemp("lookup")
    run, state = base / "run", base / "state"
    run_link_stateful(SAMPLE / "batch", run, state)
    uri = graph_server.uri.rsplit("/", 1)[0] + "/lookup_sample"
    store = open_store(uri)
    try:
        load_run(store, run)
    finally:
        store.close()
    with State(state) as st:
        salt = st.salt
    assert salt
    with (run / "links.csv").open(encoding="utf-8", newline="") as fh:
        links = list(csv.DictReader(fh))
    return Sample(
        uri=uri,
        run=run,
        state=state,
        salt=salt,
        golden={g["id"]: g for g in _jsonl(run / "golden.jsonl")},
        links=links,
        edges=_jsonl(run / "edges.jsonl"),
        events=_jsonl(run / "events.jsonl"),
    )


@pytest.fixture()
def store(sample: Sample) -> Any:
    s = open_store(sample.uri)
    yield s
    s.close()


def _enterprise_with(sample: Sample, *attrs: str) -> dict[str, Any]:
    for g in sample.golden.values():
        if g["type"] == "Enterprise" and all(g["attributes"].get(a) for a in attrs):
            return g
    raise AssertionError(f"no enterprise with {attrs} in the sample")


def _rich_enterprise(sample: Sample) -> str:
    """An enterprise with a legal representative, shareholders and a credit event."""
    reps = {e["to"] for e in sample.edges if e["type"] == "LEGAL_REP_OF" and e.get("from")}
    holders = {e["to"] for e in sample.edges if e["type"] == "HOLDS_SHARES" and e.get("from")}
    credit = {
        e["subject"] for e in sample.events if e["kind"] == "credit_event" and e.get("subject")
    }
    both = sorted(reps & holders & credit)
    assert both, "the sample has an enterprise with a legal rep, shareholders and credit events"
    return both[0]


def test_golden_id_resolves(store: FalkorStore, sample: Sample) -> None:
    uid = sorted(g for g in sample.golden if g.startswith("E"))[0]
    res = resolve_key(store, uid.lower())
    assert (res.key_kind, res.uid, res.label, res.redirects) == ("golden_id", uid, "Enterprise", ())


@pytest.mark.parametrize("attr", ["uscc", "org_code", "reg_no"])
def test_enterprise_identifiers_resolve(store: FalkorStore, sample: Sample, attr: str) -> None:
    g = _enterprise_with(sample, attr)
    value = g["attributes"][attr]
    res = resolve_key(store, value)
    assert (res.key_kind, res.uid) == (attr, g["id"])
    # Written as people type them: lower case, spaces, full width.
    messy = " ".join(value.lower()[i : i + 4] for i in range(0, len(value), 4))
    assert resolve_key(store, messy).uid == g["id"]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in value)
    assert resolve_key(store, full_width).uid == g["id"]


def test_bad_uscc_check_is_named(store: FalkorStore, sample: Sample) -> None:
    from resolver.standardize.identifiers import uscc_check_char

    value = _enterprise_with(sample, "uscc")["attributes"]["uscc"]
    wrong = value[:17] + ("1" if value[17] != "1" else "2")
    with pytest.raises(BadKey, match=f"expected check character '{uscc_check_char(value[:17])}'"):
        resolve_key(store, wrong)


def test_id_number_resolves_by_salted_hash(store: FalkorStore, sample: Sample) -> None:
    person = next(g for g in sample.golden.values() if g["type"] == "Person" and g.get("id_hash"))
    with State(sample.state) as st:
        id18 = next(r.std["id18"] for r in st.members([person["id"]]) if r.std.get("id18"))
    assert key_needs_salt(id18)
    res = resolve_key(store, id18, salt=sample.salt)
    assert (res.key_kind, res.uid, res.label) == ("id_number", person["id"], "Person")
    with pytest.raises(BadKey, match="salt"):
        resolve_key(store, id18)
    with pytest.raises(NotFound, match=r"\*\*\*\*") as err:
        resolve_key(store, id18, salt="another-installation")
    assert id18 not in str(err.value)  # the number is never shown in clear


def test_department_records_resolve(store: FalkorStore, sample: Sample) -> None:
    row = next(r for r in sample.links if r["kind"] == "enterprise" and r["entity_id"])
    res = resolve_key(store, f"{row['dept'].lower()}:{row['record_id']}")
    assert (res.key_kind, res.uid) == ("record", row["entity_id"])
    event = next(e for e in sample.events if e["kind"] == "credit_event" and e.get("subject"))
    src = event["source"]
    assert resolve_key(store, f"{src['dept']}:{src['record_id']}").uid == event["subject"]
    with pytest.raises(NotFound, match="no record NOPE:1"):
        resolve_key(store, "NOPE:1")
    with pytest.raises(BadKey, match="DEPT:RECORD_ID"):
        resolve_key(store, "AMR:")


def test_name_fragments(store: FalkorStore, sample: Sample) -> None:
    names = [g["attributes"]["name"] for g in sample.golden.values() if g["type"] == "Enterprise"]
    # A full name held by one entity resolves to it.
    unique = next(n for n in names if names.count(n) == 1)
    expected = next(
        g["id"] for g in sample.golden.values() if g["attributes"].get("name") == unique
    )
    assert resolve_key(store, unique).uid == expected
    # A common fragment gives a short ranked list: no entity chosen, the names all hold it.
    res = resolve_key(store, "有限公司", limit=5)
    assert res.uid is None and len(res.candidates) == 5
    assert all("有限公司" in (c.name or "") for c in res.candidates)
    lengths = [len(c.name or "") for c in res.candidates if c.match == "name"]
    assert lengths == sorted(lengths)
    with pytest.raises(NotFound, match="nothing in the graph matches"):
        resolve_key(store, "绝无此名的公司")


def test_enterprise_view_matches_the_run_files(store: FalkorStore, sample: Sample) -> None:
    uid = _rich_enterprise(sample)
    view = entity_view(store, uid)
    golden = sample.golden[uid]
    assert view.name == golden["attributes"]["name"]
    assert view.facts.get("uscc") == golden["attributes"].get("uscc")
    # Member records by department, as links.csv says.
    expected_members: dict[str, set[str]] = defaultdict(set)
    for r in sample.links:
        if r["entity_id"] == uid and r["kind"] == "enterprise":
            expected_members[r["dept"]].add(r["record_id"])
    got = {d: {m.record_id for m in ms} for d, ms in view.members_by_dept().items()}
    assert got == dict(expected_members)
    # Legal representative, officers and shareholders, as edges.jsonl says.
    edges = [e for e in sample.edges if e["to"] == uid and e.get("from")]
    reps = {e["from"] for e in edges if e["type"] == "LEGAL_REP_OF"}
    assert {r.uid for r in view.legal_reps} == reps
    assert {r.name for r in view.legal_reps} == {
        sample.golden[p]["attributes"]["name"] for p in reps
    }
    assert {r.uid for r in view.officers} == {e["from"] for e in edges if e["type"] == "SERVES_AS"}
    shares = {e["from"]: e.get("ratio") for e in edges if e["type"] == "HOLDS_SHARES"}
    assert {r.uid: r.ratio for r in view.shareholders} == shares
    assert all(r.sources for r in view.shareholders)
    # Credit events, as events.jsonl says.
    credit = [e for e in sample.events if e["kind"] == "credit_event" and e.get("subject") == uid]
    assert {(e.dept, e.record_id) for e in view.events} == {
        (e["source"]["dept"], e["source"]["record_id"]) for e in credit
    }
    assert {e.decision_no for e in view.events} == {e["values"].get("decision_no") for e in credit}
    dates = [e.date or "" for e in view.events]
    assert dates == sorted(dates, reverse=True)
    counts = defaultdict(int)
    for e in sample.events:
        if e.get("subject") == uid:
            counts[
                {"credit_event": "CreditEvent", "fact": "Fact"}.get(e["kind"], "TaxDeclaration")
            ] += 1
    assert view.event_counts == dict(counts)
    assert view.lifecycle == "active"


def test_branch_and_person_views(store: FalkorStore, sample: Sample) -> None:
    branch_edge = next(e for e in sample.edges if e["type"] == "BRANCH_OF" and e.get("from"))
    parent = entity_view(store, branch_edge["to"])
    assert branch_edge["from"] in {b.uid for b in parent.branches}
    assert branch_edge["to"] in {p.uid for p in entity_view(store, branch_edge["from"]).parents}
    holder = next(
        e["from"]
        for e in sample.edges
        if e["type"] == "HOLDS_SHARES" and e.get("from", "").startswith("P")
    )
    person = entity_view(store, holder)
    held = {
        e["to"] for e in sample.edges if e["type"] == "HOLDS_SHARES" and e.get("from") == holder
    }
    assert {h.uid for h in person.holdings} == held
    roles = {
        (e["to"], e["type"])
        for e in sample.edges
        if e["type"] in ("LEGAL_REP_OF", "SERVES_AS") and e.get("from") == holder
    }
    assert {(r.uid, r.rel) for r in person.roles} == roles
    # Personal data are not shown in clear: no birth date, masked number and phone.
    assert not any(k.startswith("birth") for k in person.facts)
    assert "*" in person.facts.get("id_masked", "*")
    assert "*" in person.facts.get("phone", "*")


def test_old_ids_follow_their_redirect(graph_uri: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    golden = [
        {"id": "E000000001", "type": "Enterprise", "attributes": {"name": "甲公司"}, "members": []},
        {"id": "E000000002", "type": "Enterprise", "attributes": {"name": "乙公司"}, "members": []},
        {"id": "E000000003", "type": "Enterprise", "attributes": {"name": "丙公司"}, "members": []},
    ]
    (run / "golden.jsonl").write_text(
        "\n".join(json.dumps(g, ensure_ascii=False) for g in golden) + "\n", "utf-8"
    )
    store = open_store(graph_uri)
    try:
        load_run(store, run)
        (run / "redirects.jsonl").write_text(
            json.dumps({"old": "E000000003", "new": "E000000002"})
            + "\n"
            + json.dumps({"old": "E000000002", "new": "E000000001"})
            + "\n",
            "utf-8",
        )
        load_run(store, run)
        res = resolve_key(store, "E000000003")
        assert res.uid == "E000000001"
        assert res.redirects == ("E000000003", "E000000002", "E000000001")
        view = entity_view(store, "E000000003")
        assert view.uid == "E000000001" and view.redirects == res.redirects
        assert view.merged_from == ("E000000002", "E000000003")
        with pytest.raises(NotFound, match="no enterprise E000000009"):
            resolve_key(store, "E000000009")
    finally:
        store.close()


def test_lifecycle_and_registration_status_properties(graph_uri: str) -> None:
    store = open_store(graph_uri)
    try:
        store.run(
            queries.MERGE_NODES.format(label="Enterprise"),
            {
                "rows": [
                    {
                        "uid": "E000000001",
                        "props": {
                            "name": "甲",
                            "lifecycle": "retired",
                            "registration_status": "注销",
                        },
                    },
                    # A graph loaded before the two properties existed: one `status`.
                    {"uid": "E000000002", "props": {"name": "乙", "status": "吊销"}},
                    {"uid": "E000000003", "props": {"name": "丙", "status": "active"}},
                ]
            },
        )
        got = [
            (v.lifecycle, v.registration_status)
            for v in (entity_view(store, f"E00000000{i}") for i in (1, 2, 3))
        ]
        assert got == [("retired", "注销"), (None, "吊销"), ("active", None)]
    finally:
        store.close()


def test_async_look_ups_equal_sync(store: FalkorStore, sample: Sample) -> None:
    uid = _rich_enterprise(sample)
    uscc = sample.golden[uid]["attributes"].get("uscc") or uid

    async def go() -> tuple[Any, Any]:
        astore = open_async_store(sample.uri)
        try:
            return await resolve_key_async(astore, uscc), await entity_view_async(astore, uid)
        finally:
            await astore.close()

    res, view = asyncio.run(go())
    assert res == resolve_key(store, uscc)
    assert view == entity_view(store, uid)
