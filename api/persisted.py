"""The persisted-query allowlist: the only operations the public role may run.

These are the public lookup page's queries. A public request names one by its SHA-256
(``{"id": …}`` or Apollo's ``extensions.persistedQuery.sha256Hash``) or sends its exact
text; anything else is refused with HTTP 403 before it is parsed.
"""

from __future__ import annotations

import hashlib

PUBLIC_QUERIES: dict[str, str] = {
    "PublicSearch": """query PublicSearch($text: String!, $first: Int = 20, $after: String) {
  search(text: $text, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ... on Enterprise { uid name uscc registrationStatus } } }
  }
}""",
    "PublicEnterprise": """query PublicEnterprise($uid: String, $uscc: String) {
  enterprise(uid: $uid, uscc: $uscc) {
    uid name formerNames uscc orgCode regNo registrationStatus lifecycle
    legalRepresentative { name }
    address established registeredCapital industry isBranch
  }
}""",
}


def query_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


ALLOWLIST: dict[str, str] = {query_id(q): q for q in PUBLIC_QUERIES.values()}


def lookup(query: str | None, persisted_id: str | None) -> str | None:
    """The allowed query text a public request stands for, or None."""
    if persisted_id:
        return ALLOWLIST.get(persisted_id)
    if query is not None and query_id(query) in ALLOWLIST:
        return query
    return None
