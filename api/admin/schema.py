"""``apiKeys``, ``auditLog``, ``createApiKey`` and ``revokeApiKey``."""

from __future__ import annotations

from typing import Any

import graphene
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool

from api.admin.types import ApiKey, AuditEntry, CreatedApiKey
from api.context import ctx
from api.keys import ApiKeyError


class KeyRole(graphene.Enum):
    REGULATOR = "regulator"
    TAX_OFFICER = "tax_officer"
    ADMIN = "admin"


class AdminQueries(graphene.ObjectType):
    api_keys = graphene.Field(graphene.NonNull(graphene.List(graphene.NonNull(ApiKey))))
    audit_log = graphene.Field(
        graphene.NonNull(graphene.List(graphene.NonNull(AuditEntry))),
        first=graphene.Int(default_value=50),
        before_seq=graphene.Int(description="Entries older than this sequence number."),
        key_id=graphene.String(),
        description="The audit log, newest first.",
    )

    @staticmethod
    async def resolve_api_keys(root: Any, info: graphene.ResolveInfo) -> Any:
        return await run_in_threadpool(ctx(info).services.keys.list)

    @staticmethod
    async def resolve_audit_log(
        root: Any,
        info: graphene.ResolveInfo,
        first: int,
        before_seq: int | None = None,
        key_id: str | None = None,
    ) -> Any:
        limit = ctx(info).settings.limits.max_page_size
        first = 50 if first is None else first
        if not 1 <= first <= limit:
            raise GraphQLError(f"first must be between 1 and {limit} (the maximum page size)")
        return await run_in_threadpool(ctx(info).services.audit.entries, first, before_seq, key_id)


class CreateApiKey(graphene.Mutation):
    """A new API key; the token is returned once."""

    class Arguments:
        role = KeyRole(required=True)
        name = graphene.String(required=True)

    Output = CreatedApiKey

    @staticmethod
    async def mutate(root: Any, info: graphene.ResolveInfo, role: Any, name: str) -> Any:
        value = str(getattr(role, "value", role))
        try:
            key, token = await run_in_threadpool(ctx(info).services.keys.create, value, name)
        except ApiKeyError as exc:
            raise GraphQLError(str(exc)) from None
        return {"key": key, "token": token}


class RevokeApiKey(graphene.Mutation):
    class Arguments:
        key_id = graphene.String(required=True)

    Output = ApiKey

    @staticmethod
    async def mutate(root: Any, info: graphene.ResolveInfo, key_id: str) -> Any:
        try:
            return await run_in_threadpool(ctx(info).services.keys.revoke, key_id)
        except ApiKeyError as exc:
            raise GraphQLError(str(exc)) from None


class AdminMutations(graphene.ObjectType):
    create_api_key = CreateApiKey.Field()
    revoke_api_key = RevokeApiKey.Field()
