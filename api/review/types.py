"""ReviewPair, FeatureWeight and Judgement."""

from __future__ import annotations

import graphene


class FeatureWeight(graphene.ObjectType):
    feature = graphene.String()
    weight = graphene.Float(description="Log-odds weight (None when the feature was missing).")
    comparison = graphene.String(description="How the two values compared.")


class ReviewPair(graphene.ObjectType):
    kind = graphene.String()
    record_a = graphene.String(description="DEPT:RECORD_ID")
    record_b = graphene.String()
    name_a = graphene.String()
    name_b = graphene.String()
    probability = graphene.Float()
    weights = graphene.List(graphene.NonNull(FeatureWeight))
    comparison = graphene.String(description="The comparison levels as JSON.")
    batch_id = graphene.String()


class Judgement(graphene.ObjectType):
    record_a = graphene.String()
    record_b = graphene.String()
    decision = graphene.String()
    by = graphene.String()
