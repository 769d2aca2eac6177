"""Fuzzing the running app with hypothesis-graphql, for each role: no 500, no unmasked
error (stack trace, Cypher, exception names), no field beyond the role, no ID number or
phone in a form the role may not see. At least 2,000 generated queries per role."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx2
import pytest
from graphql import GraphQLObjectType, TypeInfo, TypeInfoVisitor, Visitor, parse, visit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, queries

from api import permissions
from api.app import create_app
from api.schema import schema
from tests.api.conftest import ROLES, Api

QUERIES_PER_ROLE = 2000
MUTATIONS_PER_ROLE = 150
KNOWN_CODES = {
    "FORBIDDEN",
    "INTROSPECTION_DISABLED",
    "BAD_USER_INPUT",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_DEEP",
    "QUERY_TOO_COSTLY",
    "PERSISTED_QUERY_REQUIRED",
}
LEAKS = re.compile(r"Traceback|File \"|MATCH |RETURN |GraphStoreError|redis|sqlite|Error:", re.I)
STORED_ID_MASK = re.compile(r"\d{4}\*{10}[0-9X]{4}")
PHONE = re.compile(r"\+86\d{6,}")


class _Fields(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.pairs: set[tuple[str, str]] = set()

    def enter_field(self, node: Any, *_: Any) -> None:
        parent = self.type_info.get_parent_type()
        if isinstance(parent, GraphQLObjectType):
            self.pairs.add((parent.name, node.name.value))


def _fields_of(query: str) -> set[tuple[str, str]]:
    type_info = TypeInfo(schema.graphql_schema)
    collector = _Fields(type_info)
    visit(parse(query), TypeInfoVisitor(type_info, collector))
    return collector.pairs


def _check(r: Any, role: str, query: str) -> None:
    assert r.status_code < 500, (r.status_code, query, r.text)
    body = r.json()
    for e in body.get("errors", []):
        assert e["extensions"]["code"] in KNOWN_CODES, (query, e)
        assert e["extensions"]["requestId"]
        assert not LEAKS.search(e["message"]), (query, e)
    beyond = {p for p in _fields_of(query) if not permissions.allowed(role, *p)}
    if beyond:
        assert r.status_code == 403 and "data" not in body, (query, beyond, body)
    text = r.text
    if role in ("public", "regulator"):
        assert not STORED_ID_MASK.search(text), query
    if role == "public":
        assert not PHONE.search(text) and "**" not in text, query


def _generate(strategy: st.SearchStrategy[str], n: int) -> list[str]:
    """``n`` distinct documents from a hypothesis strategy (generated once, sent as every
    role: generation costs more than the requests)."""
    corpus: dict[str, None] = {}

    @settings(
        max_examples=n * 3,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(query: str) -> None:
        if len(corpus) < n:
            corpus[query] = None

    collect()
    return list(corpus)


@pytest.fixture(scope="module")
def query_corpus() -> list[str]:
    return _generate(queries(schema.graphql_schema, allow_x00=True), QUERIES_PER_ROLE)


@pytest.fixture(scope="module")
def mutation_corpus() -> list[str]:
    return _generate(mutations(schema.graphql_schema), MUTATIONS_PER_ROLE)


def _send_all(api: Api, role: str, corpus: list[str]) -> int:
    """Send every document as ``role`` through the app in one event loop (the ASGI app
    itself, lifespan included; no thread hop per request as with the TestClient)."""
    app = create_app(api.settings)
    headers = {"Authorization": f"Bearer {api.tokens[role]}"} if role != "public" else {}

    async def run() -> int:
        sent = 0
        async with (
            app.router.lifespan_context(app),
            httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1"
            ) as client,
        ):
            for query in corpus:
                r = await client.post("/graphql", json={"query": query}, headers=headers)
                _check(r, role, query)
                sent += 1
        return sent

    return asyncio.run(run())


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_queries(open_api: Api, query_corpus: list[str], role: str) -> None:
    assert len(query_corpus) >= QUERIES_PER_ROLE
    assert _send_all(open_api, role, query_corpus) == len(query_corpus)


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_mutations(open_api: Api, mutation_corpus: list[str], role: str) -> None:
    assert len(mutation_corpus) >= MUTATIONS_PER_ROLE
    assert _send_all(open_api, role, mutation_corpus) == len(mutation_corpus)


def test_fuzz_public_against_the_deployed_allowlist(api: Api, query_corpus: list[str]) -> None:
    assert _send_all(api, "public", query_corpus[:300]) == 300
