"""Enterprise queries: ``enterprise``, ``enterprises`` and ``search``."""

from __future__ import annotations

from typing import Any

import graphene

from api.context import ctx
from api.enterprise import resolvers
from api.enterprise.types import (
    Enterprise,
    EnterpriseConnection,
    EnterpriseOrder,
    EnterpriseWhere,
    SearchConnection,
)
from api.pagination import selects


class EnterpriseQueries(graphene.ObjectType):
    enterprise = graphene.Field(
        Enterprise,
        uid=graphene.String(description="Golden ID (a merged ID resolves to its survivor)."),
        uscc=graphene.String(),
        description="One enterprise by golden ID or USCC.",
    )
    enterprises = graphene.Field(
        graphene.NonNull(EnterpriseConnection),
        where=EnterpriseWhere(),
        order_by=EnterpriseOrder(default_value="NAME_ASC"),
        first=graphene.Int(default_value=20),
        after=graphene.String(),
        description="Enterprises matching a filter, keyset-paginated (at most 100 a page).",
    )
    search = graphene.Field(
        graphene.NonNull(SearchConnection),
        text=graphene.String(required=True),
        first=graphene.Int(default_value=20),
        after=graphene.String(),
        description="Names, former names, USCC / org code / reg. no. prefixes (standardised "
        "like the linker's input); persons too for roles that may see them.",
    )

    @staticmethod
    async def resolve_enterprise(
        root: Any, info: graphene.ResolveInfo, uid: str | None = None, uscc: str | None = None
    ) -> Any:
        return await resolvers.enterprise(ctx(info), uid, uscc)

    @staticmethod
    async def resolve_enterprises(
        root: Any,
        info: graphene.ResolveInfo,
        order_by: str,
        first: int,
        where: dict[str, Any] | None = None,
        after: str | None = None,
    ) -> Any:
        order = getattr(order_by, "value", order_by) or "NAME_ASC"  # an explicit null: default
        count = selects(info, "totalCount")
        return await resolvers.enterprises(ctx(info), where, str(order), first, after, count)

    @staticmethod
    async def resolve_search(
        root: Any, info: graphene.ResolveInfo, text: str, first: int, after: str | None = None
    ) -> Any:
        return await resolvers.search(ctx(info), text, first, after, selects(info, "totalCount"))
