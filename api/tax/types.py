"""Finding, FindingConnection, SummaryRow."""

from __future__ import annotations

import graphene


class Finding(graphene.ObjectType):
    finding_id = graphene.String()
    rule = graphene.String()
    entity_id = graphene.String()
    uscc = graphene.String()
    entity_name = graphene.String()
    period = graphene.String()
    region = graphene.String()
    depts = graphene.List(graphene.NonNull(graphene.String))
    estimated_gap = graphene.Float()
    confidence = graphene.Float()
    status = graphene.String()
    assigned_to = graphene.String()
    recovered_amount = graphene.Float()
    dismiss_reason = graphene.String()
    evidence = graphene.String(description="The evidence chain as JSON.")
    history = graphene.String(description="The workflow history as JSON.")


class FindingEdge(graphene.ObjectType):
    cursor = graphene.String(required=True)
    node = graphene.Field(Finding)


class FindingConnection(graphene.ObjectType):
    total_count = graphene.Int(required=True)
    page_info = graphene.Field(graphene.relay.PageInfo, required=True)
    edges = graphene.List(graphene.NonNull(FindingEdge), required=True)


class StatusCount(graphene.ObjectType):
    status = graphene.String()
    count = graphene.Int()


class TaxSummaryRow(graphene.ObjectType):
    dimension = graphene.String()
    key = graphene.String()
    findings = graphene.Int()
    estimated_gap = graphene.Float()
    recovered = graphene.Float()
    by_status = graphene.List(graphene.NonNull(StatusCount))


class FindingWhere(graphene.InputObjectType):
    rule = graphene.String()
    status = graphene.String()
    region = graphene.String()
    period = graphene.String()
    entity = graphene.String()


class FindingOrder(graphene.Enum):
    ID_ASC = "ID_ASC"
    GAP_DESC = "GAP_DESC"
