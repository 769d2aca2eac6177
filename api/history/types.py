"""EntityHistory and HistoryEvent."""

from __future__ import annotations

import graphene


class HistoryEvent(graphene.ObjectType):
    seq = graphene.Int()
    entity_id = graphene.String()
    event = graphene.String(description="created, merged, split, retired, … (resolver state)")
    batch_id = graphene.String()
    at = graphene.String()
    detail = graphene.String(description="The event's detail as JSON.")


class EntityHistory(graphene.ObjectType):
    requested = graphene.String(description="The ID asked for.")
    current = graphene.String(description="Where its redirects lead (itself if live).")
    redirects = graphene.List(graphene.NonNull(graphene.String), description="The path taken.")
    events = graphene.List(graphene.NonNull(HistoryEvent))
