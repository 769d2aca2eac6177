"""The resolution-time half of the authorisation matrix: every field is checked again as it
resolves (defence in depth behind :mod:`api.protection`), masks are applied, and the golden
IDs of entities returned are noted for the audit log."""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, MiddlewareManager

from api import permissions
from api.context import ctx


def _note(value: Any, ids: set[str]) -> None:
    if isinstance(value, dict) and value.get("_label") in ("Enterprise", "Person"):
        if value.get("uid"):
            ids.add(str(value["uid"]))
    elif isinstance(value, list):
        for v in value:
            _note(v, ids)


@lru_cache(maxsize=8192)
def decision(role: str, type_name: str, field: str) -> tuple[bool, str | None]:
    """(allowed, mask) of a field for a role: the matrix is fixed for the process's life,
    and a response resolves the same few fields over and over."""
    return permissions.allowed(role, type_name, field), permissions.mask_name(
        role, type_name, field
    )


class FieldGuard:
    """graphql-core middleware; stateless (the request's role and ids come from the
    context), so one instance wrapped once serves every request: see :data:`GUARD`."""

    def resolve(self, next_: Any, root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        c = ctx(info)
        type_name, field = info.parent_type.name, info.field_name
        allowed, mask = decision(c.role, type_name, field)
        if not allowed:
            raise GraphQLError(
                f"role {c.role} may not read {type_name}.{field}", extensions={"code": "FORBIDDEN"}
            )
        result = next_(root, info, **args)
        if inspect.isawaitable(result):
            return self._finish_async(result, mask, root, c.returned_ids)
        return self._finish(result, mask, root, c.returned_ids)

    @staticmethod
    def _finish(value: Any, mask: str | None, root: Any, ids: set[str]) -> Any:
        if mask is not None:
            return permissions.MASKS[mask](None if value is None else str(value), root)
        _note(value, ids)
        return value

    async def _finish_async(self, pending: Any, mask: str | None, root: Any, ids: set[str]) -> Any:
        return self._finish(await pending, mask, root, ids)


#: The app's one middleware manager: graphql-core caches each field's wrapped resolver in
#: it, so it is built once, not per request.
GUARD = MiddlewareManager(FieldGuard())
