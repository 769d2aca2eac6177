"""Requests an attacker (or a careless client) sends: a field that does not exist is a
validation error (400), not a permission refusal; an API key's name cannot carry terminal
escape sequences or run to megabytes, through the API as through `credgraph apikey`."""

from __future__ import annotations

import base64

import pytest

from api.keys import MAX_NAME, ApiKeyError, KeyStore
from tests.api.conftest import Api


def test_an_unknown_field_is_a_validation_error_not_forbidden(open_api: Api) -> None:
    r = open_api.post("regulator", '{ search(text: "公司") { totalCount nosuchfield } }')
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["GRAPHQL_VALIDATION_FAILED"]
    assert errors[0]["message"] == "Cannot query field 'nosuchfield' on type 'SearchConnection'."
    # a field that exists but the role may not read is still refused as such
    r = open_api.post("regulator", "{ taxSummary { key } }")
    assert r.status_code == 403 and "role regulator may not read Query.taxSummary" in r.text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a\x1b[2Jb", "a key's name holds the control character U+001B"),
        ("x" * (MAX_NAME + 1), f"a key's name is at most {MAX_NAME} characters, not 201"),
    ],
)
def test_api_key_names_are_plain_and_short(open_api: Api, name: str, message: str) -> None:
    m = "mutation($n: String!) { createApiKey(role: REGULATOR, name: $n) { key { keyId } } }"
    before = len(KeyStore(open_api.settings.keys_db).list())
    r = open_api.post("admin", m, {"n": name})
    assert r.json()["errors"][0]["message"] == message
    assert len(KeyStore(open_api.settings.keys_db).list()) == before
    with pytest.raises(ApiKeyError, match=message[:30]):
        KeyStore(open_api.settings.keys_db).create("regulator", name)


def test_deeply_nested_json_is_a_bad_request_not_a_crash(open_api: Api) -> None:
    """20,000 nested brackets fit in the body cap; json recursed per level and the server
    answered a bare 500 (a traceback on its console, no request id)."""
    body = '{"query": "{ __typename }", "variables": {"a": ' + "[" * 20_000 + "]" * 20_000 + "}}"
    r = open_api.client.post(
        "/graphql",
        content=body.encode(),
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {open_api.tokens['regulator']}",
        },
    )
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["message"] == "the body's JSON is nested too deeply"
    # an `after` cursor that is deeply nested JSON in base64 is an invalid cursor
    cursor = base64.urlsafe_b64encode(("[" * 5_000 + "]" * 5_000).encode()).decode()
    r = open_api.post(
        "regulator",
        'query($c: String) { search(text: "公司", after: $c) { totalCount } }',
        {"c": cursor},
    )
    assert (
        r.json()["errors"][0]["message"] == "invalid cursor: pass a cursor from pageInfo.endCursor"
    )
