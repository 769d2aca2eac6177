"""The authorisation matrix, cell by cell (role × type × field), over the real app; plus the
attempts through aliases, fragments, unions and nested relations; masking; and the
reconstruction test for the regulator's view of an ID number."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLObjectType, MiddlewareManager, execute, get_named_type, parse

from api import permissions
from api.context import RequestContext
from api.field_guard import FieldGuard
from api.graphio import ApiGraph
from api.schema import schema
from graph.store import open_async_store, open_store
from tests.api.conftest import ROLES, Api, World

REGIONS = Path(__file__).resolve().parents[2] / "resolver" / "data" / "regions" / "areas.csv"


def _one(world: World, query: str) -> str:
    store = open_store(world.uri)
    try:
        return str(store.read(query)[0]["uid"])
    finally:
        store.close()


@pytest.fixture(scope="module")
def uids(world: World) -> dict[str, str]:
    return {
        "ent": _one(
            world,
            "MATCH (p:Person)-[:LEGAL_REP_OF]->(e:Enterprise)-[:SUBJECT_OF]->(:TaxDeclaration) "
            "WHERE p.id_masked IS NOT NULL RETURN e.uid AS uid ORDER BY uid LIMIT 1",
        ),
        "company": _one(
            world,
            "MATCH (:Person)-[:HOLDS_SHARES]->(e:Enterprise) RETURN e.uid AS uid ORDER BY uid LIMIT 1",
        ),
    }


#: How to reach each type: a selection with {F} where the field goes.
def _paths(u: dict[str, str], world: World) -> dict[str, str]:
    e, c = u["ent"], u["company"]
    return {
        "Enterprise": f'query {{ enterprise(uid: "{e}") {{ {{F}} }} }}',
        "Person": f'query {{ enterprise(uid: "{e}") {{ legalRepresentative {{ {{F}} }} }} }}',
        "MemberRecord": f'query {{ enterprise(uid: "{e}") {{ members {{ {{F}} }} }} }}',
        "Shareholder": f'query {{ enterprise(uid: "{c}") {{ shareholders {{ {{F}} }} }} }}',
        "TaxDeclaration": f'query {{ enterprise(uid: "{e}") {{ taxDeclarations {{ {{F}} }} }} }}',
        "Relation": f'query {{ relations(uid: "{e}") {{ {{F}} }} }}',
        "Controller": f'query {{ ultimateControllers(uid: "{c}") {{ {{F}} }} }}',
        "EntityHistory": f'query {{ entityHistory(uid: "{world.absorbed}") {{ {{F}} }} }}',
        "HistoryEvent": f'query {{ entityHistory(uid: "{world.absorbed}") {{ events {{ {{F}} }} }} }}',
        "ReviewPair": "query { reviewQueue(first: 3) { {F} } }",
        "FeatureWeight": "query { reviewQueue(first: 3) { weights { {F} } } }",
        "Judgement": 'mutation { decideReview(recordA: "X:1", recordB: "Y:2", match: false) { {F} } }',
        "LinkageJob": "query { linkageJobs { {F} } }",
        "ApiKey": "query { apiKeys { {F} } }",
        "CreatedApiKey": 'mutation { createApiKey(role: REGULATOR, name: "matrix test") { {F} } }',
        "AuditEntry": "query { auditLog(first: 2) { {F} } }",
    }


ROOT_CALLS = {
    "search": 'search(text: "有限公司", first: 2) { totalCount }',
    "enterprise": 'enterprise(uid: "{ent}") { uid }',
    "enterprises": "enterprises(first: 2) { totalCount }",
    "person": 'person(uid: "P000000001") { __typename }',
    "relations": 'relations(uid: "{ent}") { type }',
    "ultimateControllers": 'ultimateControllers(uid: "{company}") { share }',
    "entityHistory": 'entityHistory(uid: "{ent}") { current }',
    "reviewQueue": "reviewQueue(first: 1) { kind }",
    "linkageJobs": "linkageJobs { id }",
    "linkageJob": 'linkageJob(id: "job-none") { id }',
    "apiKeys": "apiKeys { keyId }",
    "auditLog": "auditLog(first: 1) { seq }",
    "decideReview": 'decideReview(recordA: "X:1", recordB: "Y:2", match: true) { by }',
    "startLinkageJob": 'startLinkageJob(batchPath: "../outside") { id }',
    "createApiKey": 'createApiKey(role: REGULATOR, name: "matrix root") { token }',
    "revokeApiKey": 'revokeApiKey(keyId: "nokey") { keyId }',
}


def _selection(type_name: str, field: str) -> str:
    gtype = schema.graphql_schema.get_type(type_name)
    assert isinstance(gtype, GraphQLObjectType)
    inner = get_named_type(gtype.fields[field].type)
    return f"{field} {{ __typename }}" if isinstance(inner, GraphQLObjectType) else field


def _cells() -> list[tuple[str, str, str]]:
    return [
        (role, t, f) for t, fields in permissions.MATRIX.items() for f in fields for role in ROLES
    ]


def _forbidden(body: dict[str, Any]) -> list[str]:
    return [
        e["message"]
        for e in body.get("errors", [])
        if e.get("extensions", {}).get("code") == "FORBIDDEN"
    ]


@pytest.mark.parametrize(("role", "type_name", "field"), _cells())
def test_matrix_cell(
    open_api: Api, world: World, uids: dict[str, str], role: str, type_name: str, field: str
) -> None:
    if type_name in ("Query", "Mutation"):
        call = ROOT_CALLS[field].replace("{ent}", uids["ent"]).replace("{company}", uids["company"])
        query = ("mutation" if type_name == "Mutation" else "query") + " { " + call + " }"
    else:
        query = _paths(uids, world)[type_name].replace("{F}", _selection(type_name, field))
    r = open_api.post(role, query)
    body = r.json()
    if permissions.allowed(role, type_name, field):
        assert r.status_code != 403 and not _forbidden(body), body
    else:
        assert r.status_code == 403, body
        assert f"role {role} may not read {type_name}.{field}" in _forbidden(body)
        assert "data" not in body  # refused before anything ran


def test_every_schema_field_has_a_matrix_row() -> None:
    for name, gtype in schema.graphql_schema.type_map.items():
        if name.startswith("__") or not isinstance(gtype, GraphQLObjectType):
            continue
        if name in permissions.OPEN_TYPES:
            continue
        assert set(gtype.fields) == set(permissions.MATRIX.get(name, {})), name


def test_docs_match_the_matrix() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "authorisation.md"
    assert doc.read_text("utf-8") == permissions.render_markdown()


@pytest.mark.parametrize(
    ("role", "query", "denied"),
    [
        # an alias does not rename the field the rule sees
        (
            "public",
            'query { enterprise(uid: "{ent}") { legalRepresentative { n: idNumber } } }',
            "Person.idNumber",
        ),
        # named fragments and inline fragments on the union
        (
            "public",
            'fragment P on Person { uid } query { enterprise(uid: "{ent}") { legalRepresentative { ...P } } }',
            "Person.uid",
        ),
        (
            "public",
            'query { search(text: "有限") { edges { node { ... on Person { gender } } } } }',
            "Person.gender",
        ),
        ("public", 'query { a: enterprise(uid: "{ent}") { phone } }', "Enterprise.phone"),
        # nested relations: tax data and private person data below allowed fields
        (
            "regulator",
            'query { search(text: "有限") { edges { node { ... on Enterprise { taxDeclarations { taxPaid } } } } } }',
            "Enterprise.taxDeclarations",
        ),
        (
            "regulator",
            'query { enterprise(uid: "{ent}") { legalRepresentative { ...on Person { birthDate } } } }',
            "Person.birthDate",
        ),
        (
            "regulator",
            'fragment T on TaxDeclaration { taxPaid } query { enterprise(uid: "{ent}") { taxDeclarations { ...T } } }',
            "TaxDeclaration.taxPaid",
        ),
        ("public", 'query { relations(uid: "{ent}") { fromUid } }', "Query.relations"),
        ("tax_officer", "query { x: auditLog(first: 1) { seq } }", "Query.auditLog"),
    ],
)
def test_attempts_through_aliases_fragments_and_nesting(
    open_api: Api, uids: dict[str, str], role: str, query: str, denied: str
) -> None:
    r = open_api.post(role, query.replace("{ent}", uids["ent"]))
    assert r.status_code == 403
    assert f"role {role} may not read {denied}" in _forbidden(r.json())


def test_public_runs_only_persisted_queries(api: Api, uids: dict[str, str]) -> None:
    from api.persisted import public_queries

    r = api.post("public", f'query {{ enterprise(uid: "{uids["ent"]}") {{ name }} }}')
    assert r.status_code == 403
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    ids = api.client.get("/page/queries.json").json()
    assert set(ids) == set(public_queries())
    by_id = api.client.post(
        "/graphql",
        json={
            "operationName": "PublicSearch",
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": ids["PublicSearch"]}},
            "variables": {"text": "有限公司", "first": 3},
        },
    )
    assert by_id.status_code == 200, by_id.text
    nodes = [e["node"] for e in by_id.json()["data"]["search"]["edges"]]
    assert len(nodes) == 3 and all(
        set(n) == {"uid", "name", "uscc", "registrationStatus", "address"} for n in nodes
    )
    # every published query passes the public field rules
    for name, q in public_queries().items():
        variables = {"uid": uids["ent"]} if "$uid" in q else {"text": "有限公司", "first": 3}
        r = api.post("public", q, variables)
        assert r.status_code == 200 and "errors" not in r.json(), (name, r.json())


def test_the_public_page_is_served(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200 and "信用" in page.text
    assert "/page/app.js" in page.text
    js = api.client.get("/page/app.js")
    assert js.status_code == 200 and "persistedQuery" in js.text


def test_masks_per_role(open_api: Api, uids: dict[str, str]) -> None:
    q = 'query {{ enterprise(uid: "{}") {{ phone legalRepresentative {{ idNumber }} }} }}'.format(
        uids["ent"]
    )
    seen = {role: open_api.data(role, q)["enterprise"] for role in ROLES[1:]}
    stored = seen["admin"]["legalRepresentative"]["idNumber"]
    assert stored and stored[4:14] == "*" * 10  # the 4+4 mask the resolver stores
    assert seen["tax_officer"]["legalRepresentative"]["idNumber"] == stored
    reg = seen["regulator"]["legalRepresentative"]["idNumber"]
    assert reg == stored[:2] + "*" * 16
    assert (
        seen["regulator"]["phone"].startswith("*")
        and seen["regulator"]["phone"][-4:] == seen["admin"]["phone"][-4:]
    )
    assert seen["admin"]["phone"] != seen["regulator"]["phone"]


def test_regulator_view_leaves_at_least_10000_id_candidates(
    open_api: Api, uids: dict[str, str]
) -> None:
    """Reconstruct the ID number from all a regulator can read about a person: count the
    18-digit numbers consistent with it (region codes under the visible prefix × birth
    dates a living adult can have × sequence numbers of the visible gender; the check
    digit follows from the rest)."""
    person_fields = [
        f for f in permissions.MATRIX["Person"] if permissions.allowed("regulator", "Person", f)
    ]
    assert not {"birthDate", "address", "phone"} & set(person_fields)
    sel = " ".join(_selection("Person", f) for f in person_fields)
    q = 'query {{ enterprise(uid: "{}") {{ legalRepresentative {{ {} }} }} }}'.format(
        uids["ent"], sel
    )
    person = open_api.data("regulator", q)["enterprise"]["legalRepresentative"]
    masked = person["idNumber"]
    visible = masked.rstrip("*")
    assert len(visible) == 2 and visible.isdigit()
    with REGIONS.open(encoding="utf-8") as fh:
        regions = [r["code"] for r in csv.DictReader(fh) if r["code"].startswith(visible)]
    today = dt.date.today()
    days = (today - dt.date(today.year - 100, 1, 1)).days - (
        today - dt.date(today.year - 16, 1, 1)
    ).days
    sequences = 500 if person.get("gender") in ("M", "F") else 1000
    candidates = len(regions) * days * sequences
    assert candidates >= 10_000, candidates
    # Even if a regulator somehow knew the exact birth date, the county and sequence alone
    # leave more than 10,000.
    assert len(regions) * sequences >= 10_000


def test_runtime_guard_refuses_what_validation_would(world: World, uids: dict[str, str]) -> None:
    """Defence in depth: executed without the validation rule, the field guard still
    refuses the public a person's ID number and masks nothing it should not."""

    async def run() -> Any:
        graph = ApiGraph(open_async_store(world.uri), 5.0)
        c = RequestContext("t", "public", None, graph, None, None)  # type: ignore[arg-type]
        try:
            doc = parse(
                '{{ enterprise(uid: "{}") {{ name legalRepresentative {{ name idNumber }} }} }}'.format(
                    uids["ent"]
                )
            )
            return await execute(  # type: ignore[misc]
                schema.graphql_schema,
                doc,
                context_value=c,
                middleware=MiddlewareManager(FieldGuard()),
            )
        finally:
            await graph.close()

    result = asyncio.run(run())
    assert result.data["enterprise"]["name"]
    assert result.data["enterprise"]["legalRepresentative"]["idNumber"] is None
    assert [e.message for e in result.errors] == ["role public may not read Person.idNumber"]


def test_public_sees_person_shareholders_by_surname_only(
    open_api: Api, world: World, uids: dict[str, str]
) -> None:
    q = f'query {{ enterprise(uid: "{uids["company"]}") {{ shareholders {{ label name ratio }} }} }}'
    public = open_api.data("public", q)["enterprise"]["shareholders"]
    full = open_api.data("regulator", q)["enterprise"]["shareholders"]
    assert [s["ratio"] for s in public] == [s["ratio"] for s in full]
    people = [(p, f) for p, f in zip(public, full, strict=True) if f["label"] == "Person"]
    assert people
    for p, f in people:
        assert p["name"] == f["name"][0] + "＊" and len(f["name"]) >= 2
    for p, f in zip(public, full, strict=True):
        if f["label"] == "Enterprise":
            assert p["name"] == f["name"]
