"""``person(uid)`` (signed-in roles only; see api.permissions)."""

from __future__ import annotations

from typing import Any

import graphene

from api.context import ctx
from api.enterprise.resolvers import live_node
from api.person.types import Person


class PersonQueries(graphene.ObjectType):
    person = graphene.Field(
        Person, uid=graphene.String(required=True), description="One person by golden ID."
    )

    @staticmethod
    async def resolve_person(root: Any, info: graphene.ResolveInfo, uid: str) -> Any:
        return await live_node(ctx(info), uid, "Person")
