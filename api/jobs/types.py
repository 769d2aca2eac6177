"""The LinkageJob type."""

from __future__ import annotations

import graphene


class LinkageJob(graphene.ObjectType):
    """A batch being linked and loaded: status queued/running/done/failed, stage, progress."""

    id = graphene.String()
    batch_path = graphene.String()
    status = graphene.String()
    stage = graphene.String()
    done = graphene.Int()
    total = graphene.Int()
    started_by = graphene.String()
    started_at = graphene.String()
    finished_at = graphene.String()
    error = graphene.String()
    run_dir = graphene.String()
