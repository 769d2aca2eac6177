"""The Person type. Which role reads which field: :mod:`api.permissions`."""

from __future__ import annotations

from typing import Any

import graphene

from api.context import ctx
from api.enterprise.members import MemberRecord, members_of
from api.lifecycle import lifecycle_of


class Person(graphene.ObjectType):
    """A golden person. The ID number is never held in clear (the graph keeps a mask)."""

    uid = graphene.String()
    name = graphene.String()
    gender = graphene.String()
    id_number = graphene.String(description="Masked ID number (see docs/authorisation.md).")
    birth_date = graphene.String()
    phone = graphene.String()
    address = graphene.String()
    lifecycle = graphene.String(description="active, merged or retired (golden record).")
    members = graphene.List(graphene.NonNull(MemberRecord), description="Source records.")

    @staticmethod
    def resolve_id_number(root: dict[str, Any], info: graphene.ResolveInfo) -> str | None:
        value = root.get("id_masked")
        return None if value is None else str(value)

    @staticmethod
    def resolve_lifecycle(root: dict[str, Any], info: graphene.ResolveInfo) -> str:
        return lifecycle_of(root)

    @staticmethod
    async def resolve_members(root: dict[str, Any], info: graphene.ResolveInfo) -> list[Any]:
        return await members_of(ctx(info), root.get("uid"))
