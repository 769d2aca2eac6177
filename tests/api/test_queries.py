"""Queries over the real app and the real graph: values checked against the graph itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import opencc
import pytest

from api.settings import ApiSettings, Limits
from graph import analytics
from graph.server import ServerInfo
from graph.store import open_store
from tests.api.conftest import MERGE_USCC, Api, World, make_api

ENT = "uid name uscc registrationStatus lifecycle legalRepresentative { name }"


def _graph(world: World, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    store = open_store(world.uri)
    try:
        return store.read(query, params)
    finally:
        store.close()


def _all_pages(api: Api, role: str, query: str, variables: dict[str, Any], field: str) -> list[Any]:
    nodes, after = [], None
    for _ in range(100):
        data = api.data(role, query, {**variables, "after": after})[field]
        nodes += [e["node"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            assert len(nodes) == data["totalCount"]
            return nodes
        after = data["pageInfo"]["endCursor"]
    raise AssertionError("pagination did not end")


SEARCH = """query S($text: String!, $first: Int, $after: String) {
  search(text: $text, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { __typename ... on Enterprise { uid name formerNames uscc }
                                      ... on Person { uid name } } }
  }
}"""


def test_search_by_name_pages_through_every_match_once(api: Api, world: World) -> None:
    expected = {
        r["uid"]
        for r in _graph(
            world,
            "MATCH (e:Enterprise) WHERE e.merged_into IS NULL AND (e.name CONTAINS '有限公司' "
            "OR any(f IN coalesce(e.former_names, []) WHERE f CONTAINS '有限公司')) RETURN e.uid AS uid",
        )
    }
    assert len(expected) > 30
    nodes = _all_pages(api, "regulator", SEARCH, {"text": "有限公司", "first": 7}, "search")
    assert [n["uid"] for n in nodes if n] and len(nodes) == len(expected)
    assert {n["uid"] for n in nodes} == expected


def test_search_standardises_the_query_like_the_linker(api: Api, world: World) -> None:
    row = _graph(
        world,
        "MATCH (e:Enterprise) WHERE e.merged_into IS NULL AND size(e.name) > 8 "
        "RETURN e.uid AS uid, e.name AS name ORDER BY e.uid LIMIT 1",
    )[0]
    core = row["name"][3:7]
    traditional = opencc.OpenCC("s2t").convert(core)
    spaced = " ".join(traditional)  # whitespace and traditional characters, as departments type
    found = api.data("regulator", SEARCH, {"text": spaced, "first": 100})["search"]
    assert row["uid"] in {e["node"].get("uid") for e in found["edges"]}


def test_search_by_former_name_and_identifier_prefix(api: Api, world: World) -> None:
    row = _graph(
        world,
        "MATCH (e:Enterprise) WHERE e.former_names IS NOT NULL AND e.merged_into IS NULL "
        "RETURN e.uid AS uid, e.former_names AS f, e.uscc AS uscc, e.org_code AS org LIMIT 1",
    )[0]
    by_former = api.data("regulator", SEARCH, {"text": row["f"][0], "first": 50})["search"]
    assert row["uid"] in {e["node"]["uid"] for e in by_former["edges"]}
    by_uscc = api.data("regulator", SEARCH, {"text": row["uscc"].lower(), "first": 50})["search"]
    assert [e["node"]["uid"] for e in by_uscc["edges"]] == [row["uid"]]
    org = row["org"][:8] + "-" + row["org"][8:]  # the printed form with its hyphen
    by_org = api.data("regulator", SEARCH, {"text": org, "first": 50})["search"]
    assert row["uid"] in {e["node"]["uid"] for e in by_org["edges"]}


def test_search_returns_persons_only_to_signed_in_roles(open_api: Api, world: World) -> None:
    person = _graph(
        world, "MATCH (p:Person) WHERE p.merged_into IS NULL RETURN p.name AS name LIMIT 1"
    )[0]
    q = "query($t: String!) { search(text: $t, first: 100) { edges { node { __typename } } } }"
    signed = open_api.data("regulator", q, {"t": person["name"]})["search"]["edges"]
    public = open_api.data("public", q, {"t": person["name"]})["search"]["edges"]
    assert "Person" in {e["node"]["__typename"] for e in signed}
    assert "Person" not in {e["node"]["__typename"] for e in public}


def test_search_total_counts_persons_behind_a_page_full_of_enterprises(
    graph_server: ServerInfo, tmp_path: Path
) -> None:
    """A page filled by enterprises still counts (and then pages through) the persons that
    match after them: three enterprises and two persons share the text 海明."""
    uri = graph_server.uri.rsplit("/", 1)[0] + "/api_search_count"
    store = open_store(uri)
    try:
        store.run("MATCH (n) DETACH DELETE n")
        for i, name in enumerate(
            ("海明五金有限公司", "广州海明贸易有限公司", "深圳市海明科技有限公司")
        ):
            store.run(
                "CREATE (:Enterprise {uid: $u, name: $n, lifecycle: 'active'})",
                {"u": f"E{i:09d}", "n": name},
            )
        for i, name in enumerate(("李海明", "王海明", "张伟")):
            store.run(
                "CREATE (:Person {uid: $u, name: $n, lifecycle: 'active'})",
                {"u": f"P{i:09d}", "n": name},
            )
    finally:
        store.close()
    limits = Limits(rate_signed_in="100000/second")
    settings = ApiSettings(graph_uri=uri, data_dir=tmp_path / "api", limits=limits)
    for api in make_api(replace(settings, state_dir=tmp_path / "state")):
        page = api.data("regulator", SEARCH, {"text": "海明", "first": 2})["search"]
        assert [e["node"]["__typename"] for e in page["edges"]] == ["Enterprise", "Enterprise"]
        assert page["totalCount"] == 5
        before = api.graph_queries  # the index is built: the page's nodes are one batch,
        api.data("regulator", SEARCH, {"text": "海明", "first": 2})  # the count none
        assert api.graph_queries - before == 1
        nodes = _all_pages(api, "regulator", SEARCH, {"text": "海明", "first": 2}, "search")
        assert [n["name"] for n in nodes] == [  # name length, then uid
            "海明五金有限公司",
            "广州海明贸易有限公司",
            "深圳市海明科技有限公司",
            "李海明",
            "王海明",
        ]


def test_enterprise_by_uid_and_uscc_and_old_ids_resolve(api: Api, world: World) -> None:
    q = f"query($u: String, $c: String) {{ enterprise(uid: $u, uscc: $c) {{ {ENT} }} }}"
    by_uscc = api.data("regulator", q, {"c": MERGE_USCC})["enterprise"]
    assert by_uscc["uid"] == world.survivor and by_uscc["uscc"] == MERGE_USCC
    by_old = api.data("regulator", q, {"u": world.absorbed})["enterprise"]
    assert by_old["uid"] == world.survivor
    assert api.data("regulator", q, {"u": "E999999999"})["enterprise"] is None
    r = api.post("regulator", q, {"u": world.survivor, "c": MERGE_USCC})
    assert r.json()["errors"][0]["message"] == "pass exactly one of uid or uscc"


def test_entity_history_shows_the_merge(api: Api, world: World) -> None:
    q = "query($u: String!) { entityHistory(uid: $u) { requested current redirects events { event entityId } } }"
    h = api.data("regulator", q, {"u": world.absorbed})["entityHistory"]
    assert h["current"] == world.survivor
    assert h["redirects"] == [world.absorbed, world.survivor]
    events = {e["event"] for e in h["events"]}
    assert "merge" in events and "merged_into" in events


ENTERPRISES = """query E($where: EnterpriseWhere, $order: EnterpriseOrder, $first: Int, $after: String) {
  enterprises(where: $where, orderBy: $order, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { uid name industry uscc } }
  }
}"""


@pytest.mark.parametrize(
    ("where", "cypher"),
    [
        ({"industry": {"eq": "建筑业"}}, "e.industry = '建筑业'"),
        ({"industry": {"in": ["建筑业", "制造业"]}}, "e.industry IN ['建筑业', '制造业']"),
        ({"name": {"contains": "科技"}}, "e.name CONTAINS '科技'"),
        ({"uscc": {"startsWith": "9144"}}, "e.uscc STARTS WITH '9144'"),
        (
            {"AND": [{"name": {"contains": "有限"}}, {"NOT": {"industry": {"eq": "建筑业"}}}]},
            "e.name CONTAINS '有限' AND NOT (e.industry = '建筑业')",
        ),
        (
            {"OR": [{"name": {"contains": "科技"}}, {"industry": {"eq": "建筑业"}}]},
            "(e.name CONTAINS '科技' OR e.industry = '建筑业')",
        ),
    ],
)
def test_where_filters_match_the_graph(
    api: Api, world: World, where: dict[str, Any], cypher: str
) -> None:
    expected = {
        r["uid"]
        for r in _graph(
            world,
            f"MATCH (e:Enterprise) WHERE e.merged_into IS NULL AND {cypher} RETURN e.uid AS uid",
        )
    }
    assert expected
    nodes = _all_pages(
        api,
        "regulator",
        ENTERPRISES,
        {"where": where, "first": 25, "order": "UID_ASC"},
        "enterprises",
    )
    assert [n["uid"] for n in nodes] == sorted(expected)


def test_order_by_name_desc_and_keyset_cursor_stable_under_inserts(api: Api, world: World) -> None:
    where = {"name": {"contains": "有限"}}
    first_page = api.data(
        "regulator", ENTERPRISES, {"where": where, "order": "NAME_DESC", "first": 5}
    )["enterprises"]
    names = [e["node"]["name"] for e in first_page["edges"]]
    assert names == sorted(names, reverse=True)
    cursor = first_page["pageInfo"]["endCursor"]
    before = api.data(
        "regulator",
        ENTERPRISES,
        {"where": where, "order": "NAME_DESC", "first": 5, "after": cursor},
    )["enterprises"]
    # A new enterprise that sorts before the cursor does not shift the next page.
    store = open_store(world.uri)
    try:
        store.run("CREATE (:Enterprise {uid: 'EZZZ_INSERTED', name: '龘龘有限公司'})")
        after = api.data(
            "regulator",
            ENTERPRISES,
            {"where": where, "order": "NAME_DESC", "first": 5, "after": cursor},
        )["enterprises"]
    finally:
        store.run("MATCH (e:Enterprise {uid: 'EZZZ_INSERTED'}) DELETE e")
        store.close()
    assert after["edges"] == before["edges"]
    assert after["totalCount"] == before["totalCount"] + 1


def test_page_size_is_capped_and_bad_cursors_refused(api: Api) -> None:
    r = api.post("regulator", ENTERPRISES, {"first": 101})
    assert r.status_code == 400 and r.json()["data"] is None
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "first must be between 1 and 100" in r.json()["errors"][0]["message"]
    r = api.post("regulator", ENTERPRISES, {"first": 5, "after": "not-a-cursor"})
    assert "invalid cursor" in r.json()["errors"][0]["message"]


def test_members_carry_their_match_explanation(api: Api, world: World) -> None:
    rows = _graph(
        world,
        "MATCH (s:SourceRecord)-[r:RESOLVED_TO]->(e:Enterprise {uid: $u}) RETURN s.dept AS dept, "
        "s.record_id AS rid, r.decision AS decision",
        {"u": world.survivor},
    )
    q = "query($u: String!) { enterprise(uid: $u) { members { dept recordId decision score explanation } } }"
    members = api.data("regulator", q, {"u": world.survivor})["enterprise"]["members"]
    assert {(m["dept"], m["recordId"], m["decision"]) for m in members} == {
        (r["dept"], r["rid"], r["decision"]) for r in rows
    }
    assert all(m["explanation"] for m in members)


def test_relations_within_depth_and_types(api: Api, world: World) -> None:
    uid = _graph(
        world,
        "MATCH (p:Person)-[:LEGAL_REP_OF]->(e:Enterprise) RETURN e.uid AS uid ORDER BY uid LIMIT 1",
    )[0]["uid"]
    q = "query($u: String!, $d: Int, $t: [RelationType!]) { relations(uid: $u, depth: $d, types: $t) { fromUid type toUid } }"
    one = api.data("regulator", q, {"u": uid, "d": 1})["relations"]
    direct = _graph(
        world,
        "MATCH (n {uid: $u})-[r:LEGAL_REP_OF|SERVES_AS|HOLDS_SHARES|BRANCH_OF]-(m) RETURN count(r) AS n",
        {"u": uid},
    )[0]["n"]
    assert len(one) == direct
    reps = api.data("regulator", q, {"u": uid, "d": 1, "t": ["LEGAL_REP_OF"]})["relations"]
    assert reps and {r["type"] for r in reps} == {"LEGAL_REP_OF"}
    three = api.data("regulator", q, {"u": uid, "d": 3})["relations"]
    assert len(three) >= len(one)
    r = api.post("regulator", q, {"u": uid, "d": 4})
    assert r.json()["errors"][0]["message"] == "depth must be 1, 2 or 3"


def test_ultimate_controllers_match_graph_analytics(api: Api, world: World) -> None:
    store = open_store(world.uri)
    try:
        g = analytics.ownership_graph(store)
    finally:
        store.close()
    companies = sorted(n for n in g if g.nodes[n].get("label") == "Enterprise" and g.in_degree(n))
    checked = 0
    q = "query($u: String!) { ultimateControllers(uid: $u) { uid share paths } }"
    for company in companies[:15]:
        expected = analytics.beneficial_owners(g, company)
        got = api.data("regulator", q, {"u": company})["ultimateControllers"]
        assert [(c["uid"], round(c["share"], 8)) for c in got] == [
            (o.holder, round(o.share, 8)) for o in expected
        ]
        checked += bool(expected)
    assert checked > 0


def test_branches_and_parent(api: Api, world: World) -> None:
    pair = _graph(
        world,
        "MATCH (b:Enterprise)-[:BRANCH_OF]->(p:Enterprise) RETURN b.uid AS b, p.uid AS p "
        "ORDER BY b LIMIT 1",
    )[0]
    q = "query($u: String!) { enterprise(uid: $u) { parent { uid } branches { uid } } }"
    branch = api.data("regulator", q, {"u": pair["b"]})["enterprise"]
    assert branch["parent"] == {"uid": pair["p"]}
    parent = api.data("regulator", q, {"u": pair["p"]})["enterprise"]
    assert {"uid": pair["b"]} in parent["branches"] and parent["parent"] is None
