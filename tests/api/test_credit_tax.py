"""Credit and tax over GraphQL, per role, against credit/service.py and tax/service.py on the
same real graph: what the public sees of a credit profile (credit publicity only), the
joint-supervision list, credit checks, tax findings with their workflow, and the bounded
graph-query cost of credit profiles in a list."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from api.credit.resolvers import UNDISCLOSED
from api.persisted import public_queries
from credit.check_index import CHECK_INDEXES
from credit.service import CreditProfile, credit_check, credit_profile, joint_supervision_list
from graph.store import GraphStore, open_store
from tax import service as tax
from tax.periods import parse_period
from tests.api.conftest import Api, World
from tests.conftest import SAMPLE
from tests.taxeval import truth_quarters


@pytest.fixture(scope="module")
def store(world: World) -> Iterator[GraphStore]:
    s = open_store(world.uri)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def profiles(store: GraphStore) -> dict[str, CreditProfile]:
    rows = store.read(
        "MATCH (e:Enterprise)-[:SUBJECT_OF]->(:CreditEvent) WHERE e.merged_into IS NULL "
        "RETURN DISTINCT e.uid AS uid ORDER BY uid"
    )
    return {r["uid"]: credit_profile(store, r["uid"]) for r in rows}


def _pick(profiles: dict[str, CreditProfile], want: Any) -> CreditProfile:
    found = [p for p in profiles.values() if want(p)]
    assert found, "the sample has no such enterprise"
    return found[0]


def _public_profile(api: Api, uid: str) -> dict[str, Any]:
    r = api.post("public", public_queries()["PublicProfile"], {"uid": uid})
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    return dict(body["data"]["enterprise"]["creditProfile"])


@pytest.fixture(scope="module")
def with_restricted_record(store: GraphStore, profiles: dict[str, CreditProfile]) -> CreditProfile:
    """An enterprise with a public penalty that also gets a recent criminal record
    (单位犯罪记录, ``disclosure: restricted`` in the catalog: counted in the grade, never
    shown to the public). The sample plants none, so the test adds one to the graph."""
    p = _pick(profiles, lambda p: any(e.category == "penalty" and e.public for e in p.events))
    day = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    store.run(
        "MATCH (e:Enterprise {uid: $u}) CREATE (e)-[:SUBJECT_OF]->(:CreditEvent {uid: $c, "
        "event_type: '单位犯罪记录', dept: 'PROC', record_id: 'APITEST-REC-1', "
        "decision_no: '测检刑诉〔2026〕99号', date: $d, severity: '严重', authority: 'PROC', "
        "description: '测试：单位行贿'})",
        {"u": p.entity_id, "c": "PROC|APITEST-REC-1", "d": day},
    )
    return credit_profile(store, p.entity_id)


def test_public_page_profile_shows_only_what_credit_publicity_allows(
    api: Api, with_restricted_record: CreditProfile
) -> None:
    p = with_restricted_record
    assert p.grade is not None
    record = next(e for e in p.events if e.event_type == "单位犯罪记录")
    assert record.status == "active" and not record.public
    assert any(line.event_uid == record.uid for line in p.grade.lines)  # it costs points
    seen = _public_profile(api, p.entity_id)
    assert seen["grade"] == p.grade.grade and seen["score"] == p.grade.score
    # the lines still add up to the score; the record's points are one undisclosed line
    assert round(sum(line["points"] for line in seen["explanation"]), 2) == p.grade.score
    assert seen["explanation"][-1]["reason"] == UNDISCLOSED
    text = json.dumps(seen, ensure_ascii=False)
    assert "测检刑诉" not in text and "单位犯罪记录" not in text and "单位行贿" not in text
    public_penalties = [e for e in p.events if e.category == "penalty" and e.public]
    assert public_penalties
    assert [x["decisionNo"] for x in seen["penalties"]] == [e.decision_no for e in public_penalties]
    # a regulator (signed in, open app) sees the record's line in the explanation
    q = f'{{ enterprise(uid: "{p.entity_id}") {{ creditProfile {{ explanation {{ reason }} }} }} }}'
    lines = api.data("regulator", q)["enterprise"]["creditProfile"]["explanation"]
    assert any("单位犯罪记录" in line["reason"] for line in lines)
    assert all(line["reason"] != UNDISCLOSED for line in lines)


def test_public_sees_penalties_in_publicity_and_listings_with_basis(
    api: Api, open_api: Api, profiles: dict[str, CreditProfile], store: GraphStore
) -> None:
    p = _pick(profiles, lambda p: any(e.category == "penalty" and e.public for e in p.events))
    seen = _public_profile(api, p.entity_id)
    want = [
        {
            "decisionNo": e.decision_no,
            "date": e.date.isoformat() if e.date else None,
            "authority": e.authority,
            "description": e.description,
            "publicityUntil": e.until.isoformat() if e.until else None,
        }
        for e in p.events
        if e.category == "penalty" and e.public
    ]
    assert seen["penalties"] == want
    assert all(e.status == "active" for e in p.events if e.category == "penalty" and e.public)
    # penalties out of their publicity period (expired) are not shown
    gone = _pick(
        profiles, lambda p: any(e.category == "penalty" and not e.public for e in p.events)
    )
    shown = {x["decisionNo"] for x in _public_profile(api, gone.entity_id)["penalties"]}
    hidden = [e for e in gone.events if e.category == "penalty" and not e.public]
    assert all(e.status in ("expired", "repaired") for e in hidden)
    assert not shown & {e.decision_no for e in hidden}
    # signed-in roles see every event behind the profile, the public none of them
    q = f'{{ enterprise(uid: "{p.entity_id}") {{ creditProfile {{ events {{ uid status public }} }} }} }}'
    events = open_api.data("regulator", q)["enterprise"]["creditProfile"]["events"]
    fresh = credit_profile(store, p.entity_id)  # the module may have added a record to it
    assert [e["uid"] for e in events] == [e.uid for e in fresh.events]
    assert {e["status"] for e in events} >= {"active"} and any(not e["public"] for e in events)
    r = open_api.post("public", q)
    assert r.status_code == 403
    assert "role public may not read CreditProfile.events" in r.text

    listed = _pick(profiles, lambda p: any(m.kind == "punishment" for m in p.lists))
    seen = _public_profile(api, listed.entity_id)
    disclosed = {e.uid for e in listed.events if e.public}
    want_lists = [
        {
            "listType": m.list_type,
            "listName": m.list_type,
            "basis": m.basis_decision or m.basis_event,
            "authority": m.issuer,
            "from": m.start.isoformat(),
            "until": m.until.isoformat() if m.until else None,
        }
        for m in listed.lists
        if m.kind == "punishment" and m.basis_event in disclosed
    ]
    assert want_lists and seen["blackLists"] == want_lists


def test_credit_profile_root_field_per_role(
    open_api: Api, profiles: dict[str, CreditProfile], store: GraphStore
) -> None:
    p = next(iter(profiles.values()))
    assert p.grade is not None
    q = f'{{ creditProfile(uid: "{p.entity_id}") {{ entityId grade score }} }}'
    for role in ("public", "regulator", "tax_officer", "admin"):
        got = open_api.data(role, q)["creditProfile"]
        assert got == {"entityId": p.entity_id, "grade": p.grade.grade, "score": p.grade.score}
    person = store.read("MATCH (p:Person)-[:LEGAL_REP_OF]->() RETURN p.uid AS uid LIMIT 1")[0]
    q = f'{{ creditProfile(uid: "{person["uid"]}") {{ entityType }} }}'
    assert open_api.data("regulator", q)["creditProfile"] == {"entityType": "Person"}
    body = open_api.post("public", q).json()
    assert body["data"]["creditProfile"] is None
    assert body["errors"][0]["message"] == "the public may look up enterprises only"
    bad = open_api.post(
        "admin", f'{{ creditProfile(uid: "{p.entity_id}", asOf: "26-1-1") {{ grade }} }}'
    )
    assert bad.json()["errors"][0]["message"] == "asOf must be a date like 2026-11-01, not '26-1-1'"


def test_joint_supervision_list_pages_through_the_service_rows(
    open_api: Api, store: GraphStore
) -> None:
    dept = max(("FIN", "TRANS", "PRT", "AMR"), key=lambda d: len(joint_supervision_list(store, d)))
    rows = sorted(
        joint_supervision_list(store, dept), key=lambda e: (e.entity_id, e.list_type, e.measure)
    )
    assert len(rows) >= 3
    q = """query($d: String!, $after: String) { jointSupervisionList(department: $d, first: 2,
      after: $after) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { entityId listType measure basisDecisions from until } } } }"""
    got: list[tuple[str, str, str]] = []
    after = None
    while True:
        page = open_api.data("regulator", q, {"d": dept, "after": after})["jointSupervisionList"]
        assert page["totalCount"] == len(rows)
        got += [
            (n["node"]["entityId"], n["node"]["listType"], n["node"]["measure"])
            for n in page["edges"]
        ]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert got == [(e.entity_id, e.list_type, e.measure) for e in rows]
    lt = rows[0].list_type
    one = open_api.data(
        "admin",
        "query($d: String!, $t: String) { jointSupervisionList(department: $d, listType: $t, first: 100) { totalCount } }",
        {"d": dept, "t": lt},
    )["jointSupervisionList"]
    assert one["totalCount"] == sum(1 for e in rows if e.list_type == lt)
    r = open_api.post("public", q, {"d": dept})
    assert r.status_code == 403 and "role public may not read Query.jointSupervisionList" in r.text
    bad = open_api.post("regulator", q, {"d": "FIN\x00"}).json()
    assert bad["errors"][0]["message"].startswith("'FIN\\x00': unknown department code (known: ")


def test_credit_check_matches_the_service(
    open_api: Api, store: GraphStore, profiles: dict[str, CreditProfile]
) -> None:
    listed = _pick(profiles, lambda p: any(m.kind == "punishment" for m in p.lists))
    uscc = store.read("MATCH (e:Enterprise {uid: $u}) RETURN e.uscc AS s", {"u": listed.entity_id})[
        0
    ]["s"]
    inputs = [uscc or listed.name or "", "不存在的测试公司甲乙丙"]
    want = credit_check(store, inputs)
    q = "query($i: [String!]!) { creditCheck(identifiers: $i) { line input entityId match hit listTypes } }"
    got = open_api.data("tax_officer", q, {"i": inputs})["creditCheck"]
    assert got == [
        {
            "line": w.line,
            "input": w.input,
            "entityId": w.entity_id,
            "match": w.match,
            "hit": w.hit,
            "listTypes": list(w.list_types),
        }
        for w in want
    ]
    assert got[0]["hit"] and got[0]["entityId"] == listed.entity_id and got[1]["match"] == "none"
    # one index of enterprises per graph version, shared by the API and the sync service
    builds = CHECK_INDEXES.builds
    assert open_api.data("tax_officer", q, {"i": inputs})["creditCheck"] == got
    assert credit_check(store, inputs) == want
    assert CHECK_INDEXES.builds == builds
    empty = open_api.post("regulator", "query { creditCheck(identifiers: []) { match } }").json()
    assert empty["errors"][0]["message"] == "identifiers takes 1 to 1000 values"


@pytest.fixture(scope="module")
def findings(store: GraphStore) -> list[tax.Finding]:
    quarters = [q for p in truth_quarters(SAMPLE / "truth") for q in parse_period(p)]
    tax.run(store, quarters)  # type: ignore[arg-type]
    found = tax.list_findings(store)
    assert len(found) >= 3
    return found


def test_tax_findings_filters_orders_and_pages(open_api: Api, findings: list[tax.Finding]) -> None:
    q = """query($w: FindingWhere, $o: FindingOrder, $after: String) { taxFindings(where: $w,
      orderBy: $o, first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { findingId rule estimatedGap status evidence } } } }"""

    def all_pages(role: str, variables: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after = None
        while True:
            page = open_api.data(role, q, {**variables, "after": after})["taxFindings"]
            out += [e["node"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return out
            after = page["pageInfo"]["endCursor"]

    every = all_pages("tax_officer", {})
    assert [n["findingId"] for n in every] == sorted(f.finding_id for f in findings)
    assert json.loads(every[0]["evidence"])
    rule = findings[0].rule
    by_rule = all_pages("admin", {"w": {"rule": rule}})
    assert {n["findingId"] for n in by_rule} == {f.finding_id for f in findings if f.rule == rule}
    by_gap = all_pages("tax_officer", {"o": "GAP_DESC"})
    gaps = [n["estimatedGap"] for n in by_gap]
    assert gaps == sorted(gaps, reverse=True) and len(by_gap) == len(findings)
    # a cursor of one order is refused by the other
    first = open_api.data("tax_officer", q, {"o": "GAP_DESC"})["taxFindings"]
    bad = open_api.post("tax_officer", q, {"after": first["pageInfo"]["endCursor"]}).json()
    assert bad["errors"][0]["message"].startswith("invalid cursor")
    for role in ("public", "regulator"):
        r = open_api.post(role, q, {})
        assert r.status_code == 403 and f"role {role} may not read Query.taxFindings" in r.text


def test_tax_summary_and_set_finding_status(
    open_api: Api, store: GraphStore, findings: list[tax.Finding]
) -> None:
    summary = open_api.data(
        "tax_officer", "{ taxSummary { dimension key findings byStatus { status count } } }"
    )
    want = tax.summary(store)
    assert [(r["dimension"], r["key"], r["findings"]) for r in summary["taxSummary"]] == [
        (w.dimension, w.key, w.findings) for w in want
    ]
    target = next(f for f in tax.list_findings(store) if f.status == "open")
    m = """mutation($f: String!, $s: String!, $o: String) { setFindingStatus(findingId: $f,
      status: $s, officer: $o) { findingId status assignedTo history } }"""
    before = open_api.graph_queries
    done = open_api.data("tax_officer", m, {"f": target.finding_id, "s": "assigned", "o": "张三"})
    # through the app's own async store (counted there): read, write, read back
    assert open_api.graph_queries - before == 3
    got = done["setFindingStatus"]
    assert got["status"] == "assigned" and got["assignedTo"] == "张三"
    last = json.loads(got["history"])[-1]
    assert last["from"] == "open" and last["to"] == "assigned" and "test tax_officer" in last["by"]
    stored = tax.get_finding(store, target.finding_id)
    assert stored is not None and stored.status == "assigned"
    refused = open_api.post("tax_officer", m, {"f": target.finding_id, "s": "confirmed"}).json()
    assert refused["errors"][0]["message"] == (
        f"{target.finding_id} is assigned: cannot move to confirmed (allowed: assigned, under_review)"
    )
    r = open_api.post("regulator", m, {"f": target.finding_id, "s": "assigned"})
    assert (
        r.status_code == 403 and "role regulator may not read Mutation.setFindingStatus" in r.text
    )


def _queries_for(api: Api, role: str, q: str) -> tuple[int, Any]:
    before = api.graph_queries
    data = api.data(role, q)
    return api.graph_queries - before, data


@pytest.mark.parametrize("role", ["admin", "regulator"])
def test_credit_profiles_in_a_list_cost_the_same_queries_for_10_and_50_rows(
    api: Api, role: str
) -> None:
    q = """{ enterprises(first: %d) { edges { node { uid creditProfile { entityId grade }
             legalRepresentative { name } } } } }"""
    used10, data10 = _queries_for(api, role, q % 10)
    used50, data50 = _queries_for(api, role, q % 50)
    rows10 = data10["enterprises"]["edges"]
    rows50 = data50["enterprises"]["edges"]
    assert len(rows10) == 10 and len(rows50) == 50
    for e in rows50:
        assert e["node"]["creditProfile"]["entityId"] == e["node"]["uid"]
        assert e["node"]["creditProfile"]["grade"] in ("A", "B", "C", "D")
    # the page, the legal representatives (one batch), the profiles' nodes with their
    # neighbourhoods (one batch): independent of the number of rows
    assert used10 == used50 == 3, (used10, used50)


def test_profiles_in_a_list_equal_the_profiles_one_by_one(api: Api, store: GraphStore) -> None:
    q = "{ enterprises(first: 50) { edges { node { uid creditProfile { entityId grade score "
    q += "blackLists { listType } events { uid status } } } } } }"
    edges = api.data("admin", q)["enterprises"]["edges"]
    assert len(edges) == 50
    with_events = 0
    for e in edges:
        got = e["node"]["creditProfile"]
        one = credit_profile(store, e["node"]["uid"], include_restricted=True)  # the plain plan
        assert one.grade is not None
        assert (got["entityId"], got["grade"], got["score"]) == (
            one.entity_id,
            one.grade.grade,
            one.grade.score,
        )
        assert got["blackLists"] == [
            {"listType": m.list_type} for m in one.lists if m.kind == "punishment"
        ]
        assert got["events"] == [{"uid": v.uid, "status": v.status} for v in one.events]
        with_events += bool(one.events)
    assert with_events > 0


def test_search_with_profiles_and_representatives_costs_the_same_for_10_and_50(
    api: Api, world: World
) -> None:
    store = open_store(world.uri)
    try:
        names = [
            r["n"]
            for r in store.read(
                "MATCH (e:Enterprise) WHERE e.merged_into IS NULL RETURN e.name AS n"
            )
        ]
    finally:
        store.close()
    # the commonest two-character piece of the names: a search with many hits
    grams: dict[str, int] = {}
    for n in names:
        for g in {n[i : i + 2] for i in range(len(n) - 1)}:
            grams[g] = grams.get(g, 0) + 1
    text = max(grams, key=lambda g: (grams[g], g))
    assert grams[text] >= 50
    q = """query($t: String!, $n: Int!) { search(text: $t, first: $n) { edges { node {
             ... on Enterprise { uid creditProfile { grade } legalRepresentative { name } } } } } }"""
    api.data("regulator", q, {"t": text, "n": 1})  # the app builds its name index on first use
    counts = []
    for n in (10, 50):
        before = api.graph_queries
        data = api.data("regulator", q, {"t": text, "n": n})
        counts.append(api.graph_queries - before)
        nodes = [e["node"] for e in data["search"]["edges"]]
        ents = [x for x in nodes if "creditProfile" in x]
        assert len(nodes) == n and ents
        assert all(x["creditProfile"]["grade"] in ("A", "B", "C", "D") for x in ents)
    assert counts[0] == counts[1], counts


def test_set_finding_status_refuses_bad_text_cleanly(open_api: Api) -> None:
    m = 'mutation { setFindingStatus(findingId: "F\\u000Fx", status: "assigned") { status } }'
    r = open_api.post("tax_officer", m)
    assert r.status_code == 400, r.text  # bad input: 4xx (docs/api-errors.md)
    assert r.json()["errors"][0]["message"] == (
        "input text: control character U+000F cannot be stored in the graph"
    )


def test_set_finding_status_refuses_an_absurd_amount(
    open_api: Api, store: GraphStore, findings: list[tax.Finding]
) -> None:
    """An amount beyond the cap is refused before the graph is read (1e308 is finite)."""
    target = tax.get_finding(store, findings[0].finding_id)  # as other tests left it
    assert target is not None
    m = """mutation($f: String!, $a: Float) { setFindingStatus(findingId: $f,
      status: "confirmed", amount: $a) { status } }"""
    before = open_api.graph_queries
    for amount, shown in ((1e308, "1e+308"), (-0.5, "-0.5"), (1e12 + 1, "1e+12")):
        r = open_api.post("tax_officer", m, {"f": target.finding_id, "a": amount})
        assert r.status_code == 400, r.text  # a client mistake (docs/api-errors.md)
        assert r.json()["errors"][0]["message"] == (
            f"the recovered amount must be a number from 0 to 1,000,000,000,000 元, not {shown}"
        )
    assert open_api.graph_queries == before
    stored = tax.get_finding(store, target.finding_id)
    assert stored is not None and stored.status == target.status
