"""``creditProfile``, ``jointSupervisionList`` and ``creditCheck``."""

from __future__ import annotations

from typing import Any

import graphene

from api.context import ctx
from api.credit import resolvers
from api.credit.types import CheckResult, CreditProfile, SupervisionConnection


class CreditQueries(graphene.ObjectType):
    credit_profile = graphene.Field(
        CreditProfile,
        uid=graphene.String(required=True, description="Golden ID, USCC or name."),
        as_of=graphene.String(description="ISO date (default today)."),
        description="Grade, listings and penalties of an enterprise (persons: signed-in roles).",
    )
    joint_supervision_list = graphene.Field(
        graphene.NonNull(SupervisionConnection),
        department=graphene.String(required=True),
        list_type=graphene.String(),
        date=graphene.String(),
        first=graphene.Int(default_value=20),
        after=graphene.String(),
        description="Whom a department must apply joint-supervision measures to on a day.",
    )
    credit_check = graphene.Field(
        graphene.NonNull(graphene.List(graphene.NonNull(CheckResult))),
        identifiers=graphene.List(graphene.NonNull(graphene.String), required=True),
        as_of=graphene.String(),
        description="List hits for each USCC or name (procurement and bidding checks).",
    )

    @staticmethod
    async def resolve_credit_profile(
        root: Any, info: graphene.ResolveInfo, uid: str, as_of: str | None = None
    ) -> Any:
        return await resolvers.credit_profile(ctx(info), uid, as_of)

    @staticmethod
    async def resolve_joint_supervision_list(
        root: Any,
        info: graphene.ResolveInfo,
        department: str,
        first: int | None = None,
        list_type: str | None = None,
        date: str | None = None,
        after: str | None = None,
    ) -> Any:
        return await resolvers.joint_supervision_list(
            ctx(info), department, list_type, date, first, after
        )

    @staticmethod
    async def resolve_credit_check(
        root: Any, info: graphene.ResolveInfo, identifiers: list[str], as_of: str | None = None
    ) -> Any:
        return await resolvers.credit_check(ctx(info), identifiers, as_of)
