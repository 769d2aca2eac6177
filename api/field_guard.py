"""The resolution-time half of the authorisation matrix: every field is checked again as it
resolves (defence in depth behind :mod:`api.protection`), masks are applied, and the golden
IDs of entities returned are noted for the audit log."""

from __future__ import annotations

import inspect
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from api import permissions
from api.context import ctx


def _note(value: Any, ids: set[str]) -> None:
    if isinstance(value, dict) and value.get("_label") in ("Enterprise", "Person"):
        if value.get("uid"):
            ids.add(str(value["uid"]))
    elif isinstance(value, list):
        for v in value:
            _note(v, ids)


class FieldGuard:
    """graphql-core middleware (one instance per request)."""

    def resolve(self, next_: Any, root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        c = ctx(info)
        type_name, field = info.parent_type.name, info.field_name
        if not permissions.allowed(c.role, type_name, field):
            raise GraphQLError(
                f"role {c.role} may not read {type_name}.{field}", extensions={"code": "FORBIDDEN"}
            )
        mask = permissions.mask_name(c.role, type_name, field)
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
