"""``relations`` and ``ultimateControllers``."""

from __future__ import annotations

from typing import Any

import graphene

from api.context import ctx
from api.relations import resolvers
from api.relations.types import Controller, Relation, RelationType


class RelationQueries(graphene.ObjectType):
    relations = graphene.Field(
        graphene.NonNull(graphene.List(graphene.NonNull(Relation))),
        uid=graphene.String(required=True),
        depth=graphene.Int(default_value=1, description="1 to 3 hops."),
        types=graphene.List(graphene.NonNull(RelationType)),
        description="Relationships within `depth` hops of an entity (at most 500).",
    )
    ultimate_controllers = graphene.Field(
        graphene.NonNull(graphene.List(graphene.NonNull(Controller))),
        uid=graphene.String(required=True),
        threshold=graphene.Float(default_value=0.25),
        description="Top holders whose effective share reaches the threshold.",
    )

    @staticmethod
    async def resolve_relations(
        root: Any, info: graphene.ResolveInfo, uid: str, depth: int, types: list[Any] | None = None
    ) -> Any:
        names = [t.value if hasattr(t, "value") else str(t) for t in types] if types else None
        return await resolvers.relations(ctx(info), uid, 1 if depth is None else depth, names)

    @staticmethod
    async def resolve_ultimate_controllers(
        root: Any, info: graphene.ResolveInfo, uid: str, threshold: float
    ) -> Any:
        level = 0.25 if threshold is None else threshold
        return await resolvers.ultimate_controllers(ctx(info), uid, level)
