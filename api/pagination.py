"""Relay connections with opaque keyset cursors.

A cursor is the sort key of the last row seen (base64 of its JSON), never an offset: the
next page is "rows after this key", so inserts before it do not shift or repeat rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfo,
    InlineFragmentNode,
)


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int
    after: list[Any] | None


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    """The key a cursor holds; a clear error for anything not made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise GraphQLError("invalid cursor: pass a cursor from pageInfo.endCursor") from None
    if not isinstance(key, list) or len(key) != width:
        raise GraphQLError("invalid cursor: pass a cursor from pageInfo.endCursor")
    if not all(isinstance(v, (str, int, float)) for v in key):
        raise GraphQLError("invalid cursor: pass a cursor from pageInfo.endCursor")
    return key


def selects(info: GraphQLResolveInfo, name: str) -> bool:
    """Whether the field being resolved selects ``name`` directly (through fragments too):
    a connection counts its rows only when ``totalCount`` is asked for."""

    def walk(selection_set: Any) -> bool:
        for s in selection_set.selections if selection_set else ():
            if isinstance(s, FieldNode) and s.name.value == name:
                return True
            if isinstance(s, InlineFragmentNode) and walk(s.selection_set):
                return True
            if isinstance(s, FragmentSpreadNode):
                frag = info.fragments.get(s.name.value)
                if frag is not None and walk(frag.selection_set):
                    return True
        return False

    return any(walk(f.selection_set) for f in info.field_nodes)


def page_request(first: int | None, after: str | None, max_size: int, width: int) -> PageRequest:
    n = 20 if first is None else first
    if n < 1 or n > max_size:
        raise GraphQLError(f"first must be between 1 and {max_size} (the maximum page size)")
    return PageRequest(n, decode_cursor(after, width) if after else None)
