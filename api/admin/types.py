"""ApiKey, CreatedApiKey and AuditEntry."""

from __future__ import annotations

import graphene


class ApiKey(graphene.ObjectType):
    key_id = graphene.String()
    name = graphene.String()
    role = graphene.String()
    created_at = graphene.String()
    revoked_at = graphene.String()


class CreatedApiKey(graphene.ObjectType):
    key = graphene.Field(ApiKey)
    token = graphene.String(description="The bearer token; shown once, stored only hashed.")


class AuditEntry(graphene.ObjectType):
    seq = graphene.Int()
    at = graphene.String()
    request_id = graphene.String()
    key_id = graphene.String()
    role = graphene.String()
    operation = graphene.String()
    variables_hash = graphene.String()
    entity_ids = graphene.List(graphene.NonNull(graphene.String))
    result_size = graphene.Int()
    status = graphene.Int()
