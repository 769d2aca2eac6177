"""Member records of a golden entity with the explanation of each match."""

from __future__ import annotations

from typing import Any

import graphene

from api.context import RequestContext
from api.graphio import ApiGraph
from api.loaders import GroupLoader
from graph import api_queries

EXPLANATIONS = {
    "strong_id": "shares a strong identifier (USCC, org code, reg. no. or ID number) with other members",
    "probabilistic": "joined by the match model (score = its match probability)",
    "by_id": "event/mention resolved by an identifier",
    "by_name": "resolved by its unique standardised name",
    "singleton": "the only record of this entity",
}


class MemberRecord(graphene.ObjectType):
    """A department record resolved to the entity, and why it was."""

    dept = graphene.String()
    record_id = graphene.String()
    decision = graphene.String()
    score = graphene.Float()
    explanation = graphene.String()


def _member(row: dict[str, Any]) -> dict[str, Any]:
    decision = row.get("decision") or ""
    score = row.get("score")
    text = EXPLANATIONS.get(decision, decision or "no decision recorded")
    if decision == "probabilistic" and score is not None:
        text += f": p = {float(score):.3f}"
    return {
        "dept": row["dept"],
        "record_id": row["record_id"],
        "decision": decision,
        "score": score,
        "explanation": text,
    }


def members_loader(graph: ApiGraph) -> GroupLoader:
    return GroupLoader(graph, api_queries.MEMBERS, _member)


async def members_of(c: RequestContext, uid: str | None) -> list[Any]:
    if not uid:
        return []
    result: list[Any] = await c.loader("members", members_loader).load(uid)
    return result
