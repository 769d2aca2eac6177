"""``entityHistory(uid)``."""

from __future__ import annotations

import json
from typing import Any

import graphene
from starlette.concurrency import run_in_threadpool

from api.context import ctx
from api.history.types import EntityHistory


def _history(state_dir: Any, uid: str) -> dict[str, Any] | None:
    from resolver.state.store import State, StateError

    if not (state_dir / "state.db").exists():
        return None
    with State(state_dir) as state:
        try:
            current, path = state.resolve(uid)
        except StateError:
            return None
        events = state.history(current)
    return {
        "requested": uid,
        "current": current,
        "redirects": path,
        "events": [
            {
                **e,
                "detail": None
                if e["detail"] is None
                else json.dumps(e["detail"], ensure_ascii=False, sort_keys=True),
            }
            for e in events
        ],
    }


class HistoryQueries(graphene.ObjectType):
    entity_history = graphene.Field(
        EntityHistory,
        uid=graphene.String(required=True),
        description="Merges, splits and redirects of an entity; a merged ID resolves.",
    )

    @staticmethod
    async def resolve_entity_history(root: Any, info: graphene.ResolveInfo, uid: str) -> Any:
        c = ctx(info)
        result = await run_in_threadpool(_history, c.services.state_dir, uid)
        if result:
            c.returned_ids.add(result["current"])
        return result
