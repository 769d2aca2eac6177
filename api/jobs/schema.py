"""``linkageJobs``, ``linkageJob(id)`` and ``startLinkageJob(batchPath)``."""

from __future__ import annotations

from typing import Any

import graphene
from starlette.concurrency import run_in_threadpool

from api.context import ctx
from api.jobs.types import LinkageJob


class JobQueries(graphene.ObjectType):
    linkage_jobs = graphene.Field(
        graphene.NonNull(graphene.List(graphene.NonNull(LinkageJob))),
        first=graphene.Int(default_value=20),
    )
    linkage_job = graphene.Field(LinkageJob, id=graphene.String(required=True))

    @staticmethod
    async def resolve_linkage_jobs(root: Any, info: graphene.ResolveInfo, first: int) -> Any:
        return await run_in_threadpool(
            ctx(info).services.jobs.list, max(1, min(20 if first is None else first, 100))
        )

    @staticmethod
    async def resolve_linkage_job(root: Any, info: graphene.ResolveInfo, id: str) -> Any:
        return await run_in_threadpool(ctx(info).services.jobs.get, id)


class StartLinkageJob(graphene.Mutation):
    """Link a batch from the inbox into the state and load it into the graph (background)."""

    class Arguments:
        batch_path = graphene.String(required=True)

    Output = LinkageJob

    @staticmethod
    async def mutate(root: Any, info: graphene.ResolveInfo, batch_path: str) -> Any:
        c = ctx(info)
        return await run_in_threadpool(c.services.jobs.start, batch_path, c.who)


class JobMutations(graphene.ObjectType):
    start_linkage_job = StartLinkageJob.Field()
