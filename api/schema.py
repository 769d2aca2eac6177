"""The root schema: only combines the domains (api/<domain>/schema.py)."""

from __future__ import annotations

import graphene

from api.admin.schema import AdminMutations, AdminQueries
from api.credit.schema import CreditQueries
from api.enterprise.schema import EnterpriseQueries
from api.history.schema import HistoryQueries
from api.jobs.schema import JobMutations, JobQueries
from api.person.schema import PersonQueries
from api.relations.schema import RelationQueries
from api.review.schema import ReviewMutations, ReviewQueries
from api.tax.schema import TaxMutations, TaxQueries


class Query(
    EnterpriseQueries,
    CreditQueries,
    PersonQueries,
    RelationQueries,
    HistoryQueries,
    ReviewQueries,
    TaxQueries,
    JobQueries,
    AdminQueries,
    graphene.ObjectType,
):
    """Read access; what each role may read: docs/authorisation.md."""


class Mutation(ReviewMutations, JobMutations, AdminMutations, TaxMutations, graphene.ObjectType):
    """Changes: review decisions, linkage jobs, API keys."""


schema = graphene.Schema(query=Query, mutation=Mutation)
