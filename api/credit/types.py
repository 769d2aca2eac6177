"""Credit types. Which role reads which field: api.permissions."""

from __future__ import annotations

import graphene


class ExplanationLine(graphene.ObjectType):
    points = graphene.Float()
    reason = graphene.String()
    event_type = graphene.String()


class SupervisionMeasure(graphene.ObjectType):
    dept = graphene.String()
    measure = graphene.String()


class ListEntry(graphene.ObjectType):
    """A listing (黑名单 / 红名单) of the entity with its basis and period."""

    list_type = graphene.String()
    list_name = graphene.String()
    basis = graphene.String(description="The basis decision (or event) of the listing.")
    authority = graphene.String(description="The issuing department.")
    from_ = graphene.String(name="from")
    until = graphene.String()
    via = graphene.String(description="The role through which a person is listed.")
    measures = graphene.List(graphene.NonNull(SupervisionMeasure))


class Penalty(graphene.ObjectType):
    """An administrative penalty under publicity (行政处罚公示)."""

    decision_no = graphene.String()
    date = graphene.String()
    authority = graphene.String()
    description = graphene.String()
    publicity_until = graphene.String()


class CreditEventView(graphene.ObjectType):
    uid = graphene.String()
    event_type = graphene.String()
    category = graphene.String()
    dept = graphene.String()
    decision_no = graphene.String()
    authority = graphene.String()
    date = graphene.String()
    severity = graphene.String()
    status = graphene.String()
    until = graphene.String()
    public = graphene.Boolean()
    amount = graphene.Float()
    description = graphene.String()


class CreditProfile(graphene.ObjectType):
    """Grade, listings and penalties on a day (as computed by credit/service.py)."""

    entity_id = graphene.String()
    entity_type = graphene.String()
    name = graphene.String()
    as_of = graphene.String()
    grade = graphene.String()
    score = graphene.Float()
    scorecard = graphene.String()
    explanation = graphene.List(graphene.NonNull(ExplanationLine))
    black_lists = graphene.List(graphene.NonNull(ListEntry))
    red_lists = graphene.List(graphene.NonNull(ListEntry))
    penalties = graphene.List(graphene.NonNull(Penalty))
    events = graphene.List(graphene.NonNull(CreditEventView))
    redirected_from = graphene.String()


class SupervisionEntry(graphene.ObjectType):
    """One line of a department's joint-supervision list."""

    dept = graphene.String()
    entity_id = graphene.String()
    entity_type = graphene.String()
    name = graphene.String()
    list_type = graphene.String()
    kind = graphene.String()
    measure = graphene.String()
    basis_decisions = graphene.List(graphene.NonNull(graphene.String))
    from_ = graphene.String(name="from")
    until = graphene.String()
    via = graphene.String()


class SupervisionEdge(graphene.ObjectType):
    cursor = graphene.String(required=True)
    node = graphene.Field(SupervisionEntry)


class SupervisionConnection(graphene.ObjectType):
    total_count = graphene.Int(required=True)
    page_info = graphene.Field(graphene.relay.PageInfo, required=True)
    edges = graphene.List(graphene.NonNull(SupervisionEdge), required=True)


class CheckResult(graphene.ObjectType):
    """One input of a credit check (procurement / bidding)."""

    line = graphene.Int()
    input = graphene.String()
    entity_id = graphene.String()
    name = graphene.String()
    match = graphene.String(description="exact | probable | ambiguous | none")
    hit = graphene.Boolean()
    list_types = graphene.List(graphene.NonNull(graphene.String))
    measures = graphene.List(graphene.NonNull(graphene.String))
    candidates = graphene.List(graphene.NonNull(graphene.String))
    note = graphene.String()
