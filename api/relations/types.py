"""Relation and Controller types."""

from __future__ import annotations

import graphene


class RelationType(graphene.Enum):
    LEGAL_REP_OF = "LEGAL_REP_OF"
    SERVES_AS = "SERVES_AS"
    HOLDS_SHARES = "HOLDS_SHARES"
    BRANCH_OF = "BRANCH_OF"


class Relation(graphene.ObjectType):
    """One relationship: from → to, its type, the role or share ratio."""

    from_uid = graphene.String()
    from_label = graphene.String()
    from_name = graphene.String()
    to_uid = graphene.String()
    to_label = graphene.String()
    to_name = graphene.String()
    type = graphene.String()
    role = graphene.String()
    ratio = graphene.Float()


class Controller(graphene.ObjectType):
    """A holder at the top of the ownership chains with its effective share."""

    uid = graphene.String()
    label = graphene.String()
    name = graphene.String()
    share = graphene.Float()
    paths = graphene.List(graphene.NonNull(graphene.List(graphene.NonNull(graphene.String))))
