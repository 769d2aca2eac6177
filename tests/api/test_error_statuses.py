"""HTTP statuses of GraphQL errors follow one rule (docs/api-errors.md): a client's mistake
is 4xx wherever it surfaced — a mutation's argument as much as a query's — and a request
whose persisted-query id and query text name different operations is refused."""

from __future__ import annotations

import hashlib
from typing import Any

from api.persisted import public_queries
from tests.api.conftest import Api

START = "mutation($p: String!) { startLinkageJob(batchPath: $p) { id status } }"
SEARCH = "query($t: String!) { search(text: $t, first: 3) { totalCount } }"


def _codes(r: Any) -> list[str]:
    return [e["extensions"]["code"] for e in r.json()["errors"]]


def test_bad_input_is_400_in_a_mutation_as_in_a_query(api: Api) -> None:
    job = api.post("tax_officer", START, {"p": "../outside"})
    assert job.status_code == 400, job.text
    assert _codes(job) == ["BAD_USER_INPUT"]
    assert job.json()["data"] == {"startLinkageJob": None}  # a nullable field: data stays
    short = api.post("regulator", SEARCH, {"t": "有"})
    assert short.status_code == 400 and _codes(short) == ["BAD_USER_INPUT"]
    assert short.json()["errors"][0]["message"] == "search text must have at least 2 characters"


def test_a_partly_bad_request_is_400_and_keeps_the_fields_that_ran(api: Api) -> None:
    q = 'query { ok: search(text: "有限公司", first: 1) { totalCount } bad: search(text: "x") { totalCount } }'
    r = api.post("regulator", q)
    assert r.status_code == 400
    assert _codes(r) == ["BAD_USER_INPUT"] and r.json()["errors"][0]["path"] == ["bad"]
    # a non-null field's error nulls the whole data, as GraphQL propagates it
    assert r.json()["data"] is None
    fine = api.post("regulator", 'query { ok: search(text: "有限公司", first: 1) { totalCount } }')
    assert fine.status_code == 200 and fine.json()["data"]["ok"]["totalCount"] > 0


def _by_id(api: Api, pid: str, query: str | None, token: str | None = None) -> Any:
    body: dict[str, Any] = {
        "variables": {"text": "有限公司", "first": 3},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": pid}},
    }
    if query is not None:
        body["query"] = query
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return api.client.post("/graphql", json=body, headers=headers)


def test_a_persisted_id_with_another_query_text_is_refused(api: Api) -> None:
    ids = api.client.get("/page/queries.json").json()
    own = public_queries()["PublicSearch"]
    other = public_queries()["PublicSuggest"]
    alone = _by_id(api, ids["PublicSearch"], None)
    assert alone.status_code == 200 and "totalCount" in alone.json()["data"]["search"]
    with_own = _by_id(api, ids["PublicSearch"], own)
    assert with_own.status_code == 200 and with_own.json()["data"] == alone.json()["data"]
    reformatted = _by_id(api, ids["PublicSearch"], "  " + own.replace("\n", " "))
    assert reformatted.status_code == 200
    for role in ("public", "regulator"):
        token = api.tokens[role] or None
        # another published query, and a text the role could otherwise run
        for text in (other, "query { enterprises(first: 1) { totalCount } }"):
            r = _by_id(api, ids["PublicSearch"], text, token)
            assert r.status_code == 400, (role, r.text)
            assert _codes(r) == ["PERSISTED_QUERY_MISMATCH"]
            assert "data" not in r.json()
    # a signed-in client's own (automatic) persisted query: the id is the text's hash
    text = "query { enterprises(first: 1) { totalCount } }"
    own_hash = hashlib.sha256(text.encode()).hexdigest()
    token = api.tokens["regulator"]
    assert _by_id(api, own_hash, text, token).status_code == 200
    wrong = _by_id(api, "0" * 64, text, token)
    assert wrong.status_code == 400 and _codes(wrong) == ["PERSISTED_QUERY_MISMATCH"]
