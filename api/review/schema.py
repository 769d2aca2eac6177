"""``reviewQueue`` and ``decideReview``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import graphene
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool

from api.context import ctx
from api.review.types import Judgement, ReviewPair


class ReviewKind(graphene.Enum):
    ENTERPRISE = "enterprise"
    PERSON = "person"


def _queue(state_dir: Path, kind: str | None, limit: int) -> list[dict[str, Any]]:
    from resolver.state.store import State

    if not (state_dir / "state.db").exists():
        return []
    with State(state_dir) as state:
        pairs = state.review_pairs(kind, limit)
    out = []
    for p in pairs:
        comparison = p.get("comparison") or {}
        out.append(
            {
                "kind": p["kind"],
                "record_a": f"{p['a_dept']}:{p['a_record']}",
                "record_b": f"{p['b_dept']}:{p['b_record']}",
                "name_a": p.get("name_a"),
                "name_b": p.get("name_b"),
                "probability": p["probability"],
                "weights": [
                    {
                        "feature": k,
                        "weight": v if isinstance(v, (int, float)) else None,
                        "comparison": None if comparison.get(k) is None else str(comparison[k]),
                    }
                    for k, v in p["weights"].items()
                ],
                "comparison": json.dumps(comparison, ensure_ascii=False, sort_keys=True),
                "batch_id": p.get("batch_id"),
            }
        )
    return out


def _ref(text: str) -> tuple[str, str]:
    dept, sep, rid = text.partition(":")
    if not sep or not dept or not rid:
        raise GraphQLError(f"{text!r}: write a record as DEPT:RECORD_ID")
    return dept, rid


#: Seconds a judgement waits for a run holding the state's writer lock before it is refused.
DECIDE_LOCK_WAIT = 2.0


def _decide(state_dir: Path, a: str, b: str, match: bool, by: str, reason: str) -> dict[str, Any]:
    from resolver.state.store import State, StateError, StateLocked

    if not (state_dir / "state.db").exists():
        raise GraphQLError("no resolution state: run a linkage job first")
    with State(state_dir) as state:
        try:
            # Under the writer lock, as `review decide`: a link reads the pending judgements
            # when it starts and marks every judgement applied when it commits, so one stored
            # while it runs would be marked applied without having been applied.
            with state.lock(DECIDE_LOCK_WAIT, what="API decideReview"), state.transaction():
                state.add_judgement(_ref(a), _ref(b), "match" if match else "no_match", by, reason)
        except StateLocked:
            # (the holder's message names the server's state directory: not for API clients)
            raise GraphQLError(
                "another run holds the resolution state (a linkage run or another judgement); "
                "try again when it has finished"
            ) from None
        except StateError as exc:
            raise GraphQLError(str(exc)) from None
    return {"record_a": a, "record_b": b, "decision": "match" if match else "no_match", "by": by}


class ReviewQueries(graphene.ObjectType):
    review_queue = graphene.Field(
        graphene.NonNull(graphene.List(graphene.NonNull(ReviewPair))),
        kind=ReviewKind(),
        first=graphene.Int(default_value=20),
        description="Pairs in the review band, most likely matches first, with weights.",
    )

    @staticmethod
    async def resolve_review_queue(
        root: Any, info: graphene.ResolveInfo, first: int, kind: Any = None
    ) -> Any:
        limit = ctx(info).settings.limits.max_page_size
        first = 20 if first is None else first
        if not 1 <= first <= limit:
            raise GraphQLError(f"first must be between 1 and {limit} (the maximum page size)")
        kind_value = None if kind is None else str(getattr(kind, "value", kind))
        return await run_in_threadpool(_queue, ctx(info).services.state_dir, kind_value, first)


class DecideReview(graphene.Mutation):
    """Record a judgement between two records; it wins over the model in every later run."""

    class Arguments:
        record_a = graphene.String(required=True)
        record_b = graphene.String(required=True)
        match = graphene.Boolean(required=True)
        reason = graphene.String(default_value="")

    Output = Judgement

    @staticmethod
    async def mutate(
        root: Any,
        info: graphene.ResolveInfo,
        record_a: str,
        record_b: str,
        match: bool,
        reason: str,
    ) -> Any:
        c = ctx(info)
        return await run_in_threadpool(
            _decide, c.services.state_dir, record_a, record_b, match, c.who, reason or ""
        )


class ReviewMutations(graphene.ObjectType):
    decide_review = DecideReview.Field()
