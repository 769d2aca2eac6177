"""The Enterprise type and its connection. Which role reads which field: api.permissions."""

from __future__ import annotations

from typing import Any

import graphene

from api.context import ctx
from api.enterprise import dataloaders
from api.enterprise.members import MemberRecord, members_of
from api.lifecycle import lifecycle_of, registration_status_of
from api.person.types import Person


class TaxDeclaration(graphene.ObjectType):
    """A tax declaration attached to the enterprise (tax officers and admins)."""

    uid = graphene.String()
    dept = graphene.String()
    tax_type = graphene.String()
    period = graphene.String()
    taxable_amount = graphene.Float()
    tax_paid = graphene.Float()


class Shareholder(graphene.ObjectType):
    """A holder of the enterprise's shares; a person's name is masked for the public."""

    uid = graphene.String()
    label = graphene.String(description="Person or Enterprise")
    name = graphene.String()
    ratio = graphene.Float()


class Enterprise(graphene.ObjectType):
    """A golden enterprise (企业): registration data, legal representative, evidence."""

    uid = graphene.String()
    name = graphene.String()
    former_names = graphene.List(graphene.NonNull(graphene.String))
    uscc = graphene.String(description="Unified social credit code (统一社会信用代码).")
    org_code = graphene.String()
    reg_no = graphene.String()
    registration_status = graphene.String(description="存续, 在业, 吊销, 注销, 迁出, …")
    lifecycle = graphene.String(description="active, merged or retired (golden record).")
    legal_representative = graphene.Field(Person)
    address = graphene.String()
    established = graphene.String()
    registered_capital = graphene.Float()
    industry = graphene.String()
    is_branch = graphene.Boolean()
    registration_authority = graphene.String()
    shareholders = graphene.List(graphene.NonNull(Shareholder))
    branches = graphene.List(graphene.NonNull(lambda: Enterprise))
    parent = graphene.Field(lambda: Enterprise, description="The head office of a branch.")
    phone = graphene.String()
    members = graphene.List(graphene.NonNull(MemberRecord), description="Source records.")
    tax_declarations = graphene.List(graphene.NonNull(TaxDeclaration))

    @staticmethod
    def resolve_registration_status(root: dict[str, Any], info: graphene.ResolveInfo) -> Any:
        return registration_status_of(root)

    @staticmethod
    def resolve_lifecycle(root: dict[str, Any], info: graphene.ResolveInfo) -> str:
        return lifecycle_of(root)

    @staticmethod
    def resolve_registered_capital(root: dict[str, Any], info: graphene.ResolveInfo) -> Any:
        return root.get("reg_capital")

    @staticmethod
    async def resolve_legal_representative(
        root: dict[str, Any], info: graphene.ResolveInfo
    ) -> dict[str, Any] | None:
        reps = await ctx(info).loader("legal_reps", dataloaders.legal_reps).load(root["uid"])
        if reps:
            rep: dict[str, Any] = reps[0]
            return rep
        if root.get("legal_rep_name"):  # named by the registry, not resolved to a person
            return {"name": root["legal_rep_name"], "_label": "Person"}
        return None

    @staticmethod
    async def resolve_shareholders(root: dict[str, Any], info: graphene.ResolveInfo) -> Any:
        return await ctx(info).loader("shareholders", dataloaders.shareholders).load(root["uid"])

    @staticmethod
    async def resolve_branches(root: dict[str, Any], info: graphene.ResolveInfo) -> Any:
        return await ctx(info).loader("branches", dataloaders.branches).load(root["uid"])

    @staticmethod
    async def resolve_parent(root: dict[str, Any], info: graphene.ResolveInfo) -> Any:
        found = await ctx(info).loader("parents", dataloaders.parents).load(root["uid"])
        return found[0] if found else None

    @staticmethod
    async def resolve_members(root: dict[str, Any], info: graphene.ResolveInfo) -> list[Any]:
        return await members_of(ctx(info), root.get("uid"))

    @staticmethod
    async def resolve_tax_declarations(root: dict[str, Any], info: graphene.ResolveInfo) -> Any:
        return (
            await ctx(info)
            .loader("tax_declarations", dataloaders.tax_declarations)
            .load(root["uid"])
        )


class EnterpriseConnection(graphene.relay.Connection):
    class Meta:
        node = Enterprise

    total_count = graphene.Int(required=True)


class SearchResult(graphene.Union):
    class Meta:
        types = (Enterprise, Person)

    @classmethod
    def resolve_type(cls, instance: Any, info: graphene.ResolveInfo) -> Any:
        return Person if instance.get("_label") == "Person" else Enterprise


class SearchConnection(graphene.relay.Connection):
    class Meta:
        node = SearchResult

    total_count = graphene.Int(required=True)


class StringFilter(graphene.InputObjectType):
    eq = graphene.String()
    in_ = graphene.List(graphene.NonNull(graphene.String), name="in")
    contains = graphene.String()
    starts_with = graphene.String()


class EnterpriseWhere(graphene.InputObjectType):
    uid = graphene.InputField(StringFilter)
    name = graphene.InputField(StringFilter)
    uscc = graphene.InputField(StringFilter)
    registration_status = graphene.InputField(StringFilter)
    industry = graphene.InputField(StringFilter)
    established = graphene.InputField(StringFilter)
    AND = graphene.List(graphene.NonNull(lambda: EnterpriseWhere))
    OR = graphene.List(graphene.NonNull(lambda: EnterpriseWhere))
    NOT = graphene.InputField(lambda: EnterpriseWhere)


class EnterpriseOrder(graphene.Enum):
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    UID_ASC = "UID_ASC"
    UID_DESC = "UID_DESC"
    ESTABLISHED_ASC = "ESTABLISHED_ASC"
    ESTABLISHED_DESC = "ESTABLISHED_DESC"
