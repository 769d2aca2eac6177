"""Enterprise queries: by uid (old IDs follow their redirects) or USCC, filtered lists, search."""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLError

from api import permissions
from api.context import RequestContext
from api.enterprise import dataloaders, filters
from api.loaders import node
from api.pagination import encode_cursor, page_request
from graph import api_queries
from resolver.standardize.identifiers import normalise_identifier
from resolver.standardize.names import basic_normalise

MAX_REDIRECT_HOPS = 20
_ID_PREFIX = re.compile(r"^[0-9A-Z]{4,18}$")


async def live_node(c: RequestContext, uid: str, label: str) -> Any:
    """The node of a golden ID, following ``merged_into`` redirects (a merged ID resolves
    to its survivor); look-ups go through the label's loader (indexed, batched)."""
    if label == "Person":
        from api.person.dataloaders import persons_by_uid as make
    else:
        make = dataloaders.enterprises_by_uid
    loader = c.loader("persons" if label == "Person" else "enterprises", make)
    found = await loader.load(uid)
    for _ in range(MAX_REDIRECT_HOPS):
        if found is None or not found.get("merged_into"):
            return found
        found = await loader.load(str(found["merged_into"]))
    return found


async def current_uid(c: RequestContext, uid: str) -> str:
    """Where a golden ID's redirects lead (itself when live or unknown)."""
    found = await live_node(c, uid, "Person" if uid.startswith("P") else "Enterprise")
    return str(found["uid"]) if found else uid


async def enterprise(c: RequestContext, uid: str | None, uscc: str | None) -> Any:
    if (uid is None) == (uscc is None):
        raise GraphQLError("pass exactly one of uid or uscc")
    if uscc is not None:
        code = normalise_identifier(uscc)
        if not code:
            return None
        rows = await c.graph.read(api_queries.ENTERPRISE_BY_USCC, {"uscc": code})
        return node(rows[0]["node"], "Enterprise") if rows else None
    assert uid is not None
    return await live_node(c, uid, "Enterprise")


def connection(
    items: list[tuple[Any, list[Any]]], has_next: bool, total: int | None
) -> dict[str, Any]:
    edges = [{"node": n, "cursor": encode_cursor(k)} for n, k in items]
    return {
        "edges": edges,
        "total_count": total,
        "page_info": {
            "has_next_page": has_next,
            "has_previous_page": False,
            "start_cursor": edges[0]["cursor"] if edges else None,
            "end_cursor": edges[-1]["cursor"] if edges else None,
        },
    }


async def enterprises(
    c: RequestContext,
    where: dict[str, Any] | None,
    order_by: str,
    first: int | None,
    after: str | None,
    count: bool = True,
) -> dict[str, Any]:
    page = page_request(first, after, c.settings.limits.max_page_size, 2)
    cond, params = filters.compile_where(where)
    key, order, after_cond = filters.order_parts(order_by)
    if page.after is not None:
        params = {**params, "a1": page.after[0], "a2": page.after[1]}
    text = api_queries.ENTERPRISE_PAGE.format(
        where=cond, after=after_cond if page.after is not None else "true", key=key, order=order
    )
    rows = await c.graph.read(text, {**params, "limit": page.first + 1})
    total = None
    if count:
        found = await c.graph.read(api_queries.ENTERPRISE_COUNT.format(where=cond), params)
        total = int(found[0]["n"])
    items = [(node(r["node"], "Enterprise"), [r["k1"], r["k2"]]) for r in rows[: page.first]]
    return connection(items, len(rows) > page.first, total)


def standardise_query(text: str) -> tuple[str, str | None]:
    """The search text as the linker standardises input: (name form, identifier form)."""
    name = basic_normalise(text)
    ident = normalise_identifier(text)
    return name, ident if ident and _ID_PREFIX.match(ident) else None


async def search(
    c: RequestContext, text: str, first: int | None, after: str | None, count: bool = True
) -> Any:
    """Enterprises (names, former names, identifier prefixes), then persons for roles that
    may see them; one keyset over (kind, name length, uid)."""
    page = page_request(first, after, c.settings.limits.max_page_size, 3)
    name, ident = standardise_query(text)
    if len(name) < 2 and not ident:
        raise GraphQLError("search text must have at least 2 characters")
    cond = api_queries.SEARCH_NAME_COND
    params: dict[str, Any] = {"text": name}
    if ident:
        cond = f"({cond} OR {api_queries.SEARCH_ID_COND.replace('$text', '$ident')})"
        params["ident"] = ident
    with_persons = c.role in permissions.TYPE_ROLES["Person"]
    kind, k1, k2 = page.after if page.after is not None else (0, -1, "")
    items: list[tuple[Any, list[Any]]] = []
    keyset = "size(e.name) > $k1 OR (size(e.name) = $k1 AND e.uid > $k2)"
    matches: list[int] | None = None
    if kind == 0 and not ident and c.name_index is not None:
        index = await c.name_index.get()
        matches = index.search(name)
        start = 0 if page.after is None else index.after(matches, (k1, k2))
        chosen = [index.entries[i] for i in matches[start : start + page.first + 1]]
        loader = c.loader("enterprises", dataloaders.enterprises_by_uid)
        nodes = await loader.load_many([e.uid for e in chosen])
        items = [(n, [0, len(e.name), e.uid]) for e, n in zip(chosen, nodes, strict=True) if n]
        k1, k2 = -1, ""
    elif kind == 0:
        q = api_queries.ENTERPRISE_PAGE.format(
            where=cond, after=keyset, key="size(e.name) AS k1, e.uid AS k2", order="k1, k2"
        )
        rows = await c.graph.read(q, {**params, "k1": k1, "k2": k2, "limit": page.first + 1})
        items = [(node(r["node"], "Enterprise"), [0, r["k1"], r["k2"]]) for r in rows]
        k1, k2 = -1, ""
    person_matches: list[int] | None = None
    if with_persons and len(items) <= page.first and c.name_index is not None:
        people = await c.name_index.get_persons()
        person_matches = people.search(name)
        start = 0 if kind == 0 else people.after(person_matches, (k1, k2))
        room = page.first + 1 - len(items)
        chosen_p = [people.entries[i] for i in person_matches[start : start + room]]
        from api.person.dataloaders import persons_by_uid

        found = await c.loader("persons", persons_by_uid).load_many([e.uid for e in chosen_p])
        items += [(n, [1, len(e.name), e.uid]) for e, n in zip(chosen_p, found, strict=True) if n]
    elif with_persons and len(items) <= page.first:
        keyset_p = "size(p.name) > $k1 OR (size(p.name) = $k1 AND p.uid > $k2)"
        q = api_queries.PERSON_PAGE.format(cond=api_queries.SEARCH_PERSON_COND, after=keyset_p)
        rows = await c.graph.read(
            q, {"text": name, "k1": k1, "k2": k2, "limit": page.first + 1 - len(items)}
        )
        items += [(node(r["node"], "Person"), [1, r["k1"], r["k2"]]) for r in rows]
    if not count:
        return connection(items[: page.first], len(items) > page.first, None)
    if matches is not None:
        total = len(matches)
    else:
        total_rows = await c.graph.read(api_queries.ENTERPRISE_COUNT.format(where=cond), params)
        total = int(total_rows[0]["n"])
    if with_persons and person_matches is None and c.name_index is not None:
        # the page was full of enterprises: the persons still count, from the same index
        # (a CONTAINS count over every person would scan the graph on each search)
        person_matches = (await c.name_index.get_persons()).search(name)
    if person_matches is not None:
        total += len(person_matches)
    elif with_persons:
        pr = await c.graph.read(
            api_queries.PERSON_COUNT.format(cond=api_queries.SEARCH_PERSON_COND), {"text": name}
        )
        total += int(pr[0]["n"])
    return connection(items[: page.first], len(items) > page.first, total)
