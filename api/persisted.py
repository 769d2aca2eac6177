"""The persisted-query allowlist: the only operations the public role may run — the public
page's queries in ``api/page/queries.graphql``.

Each operation's id is the SHA-256 of its printed text; the server publishes
``{operationName: id}`` at ``/page/queries.json`` and the page sends the id (Apollo's
``extensions.persistedQuery.sha256Hash``, or ``{"id": …}``), never a document. A public
request with the exact text of an allowed operation is accepted too; anything else is
refused with HTTP 403 before it is parsed. A request carrying both an id and a query text
must mean one operation: a text that is not the id's operation (nor, for an id outside the
allowlist, hashes to the id as Apollo's automatic persisted queries do) is refused
(:func:`matches`) rather than one of the two silently ignored.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from graphql import OperationDefinitionNode, parse, print_ast

QUERIES_FILE = Path(__file__).resolve().parent / "page" / "queries.graphql"


def query_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def public_queries() -> dict[str, str]:
    """Operation name → its printed text."""
    document = parse(QUERIES_FILE.read_text("utf-8"))
    out: dict[str, str] = {}
    for d in document.definitions:
        if not isinstance(d, OperationDefinitionNode) or d.name is None:
            raise ValueError(f"{QUERIES_FILE}: every definition must be a named operation")
        out[d.name.value] = print_ast(d)
    return out


@cache
def allowlist() -> dict[str, str]:
    """Id → text."""
    return {query_id(q): q for q in public_queries().values()}


def published_ids() -> dict[str, str]:
    """What /page/queries.json serves: operation name → id."""
    return {name: query_id(q) for name, q in public_queries().items()}


def lookup(query: str | None, persisted_id: str | None) -> str | None:
    """The allowed query text a public request stands for, or None."""
    if persisted_id:
        return allowlist().get(persisted_id)
    if query is not None:
        if query_id(query) in allowlist():
            return query
        printed = _printed(query)
        return printed if printed is not None and query_id(printed) in allowlist() else None
    return None


def _printed(query: str) -> str | None:
    try:
        return print_ast(parse(query, max_tokens=2000))
    except Exception:
        return None


def matches(query: str, persisted_id: str) -> bool:
    """Whether a query text sent with a persisted-query id is that id's operation: the
    allowed text (exactly or as printed) for an allowlisted id, else a text whose SHA-256
    is the id."""
    allowed = allowlist().get(persisted_id)
    if allowed is None:
        return query_id(query) == persisted_id
    return query == allowed or _printed(query) == allowed
