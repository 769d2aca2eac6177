"""The root schema: only combines the domains (api/<domain>/schema.py)."""

from __future__ import annotations

import graphene

from api.admin.schema import AdminMutations, AdminQueries
from api.enterprise.schema import EnterpriseQueries
from api.history.schema import HistoryQueries
from api.jobs.schema import JobMutations, JobQueries
from api.person.schema import PersonQueries
from api.relations.schema import RelationQueries
from api.review.schema import ReviewMutations, ReviewQueries


class Query(
    EnterpriseQueries,
    PersonQueries,
    RelationQueries,
    HistoryQueries,
    ReviewQueries,
    JobQueries,
    AdminQueries,
    graphene.ObjectType,
):
    """Read access; what each role may read: docs/authorisation.md."""


class Mutation(ReviewMutations, JobMutations, AdminMutations, graphene.ObjectType):
    """Changes: review decisions, linkage jobs, API keys."""


schema = graphene.Schema(query=Query, mutation=Mutation)
