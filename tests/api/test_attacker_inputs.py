"""Requests an attacker (or a careless client) sends: a field that does not exist is a
validation error (400), not a permission refusal; an API key's name cannot carry terminal
escape sequences or run to megabytes, through the API as through `credgraph apikey`."""

from __future__ import annotations

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
