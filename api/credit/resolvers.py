"""Credit resolvers: shape credit/service.py's results for GraphQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from functools import cached_property
from typing import Any

from graphql import GraphQLError

from api import permissions
from api.context import RequestContext
from api.credit.dataloaders import is_golden_id, profiles
from api.pagination import page_request
from credit.service import (
    CreditError,
    credit_check_async,
    credit_profile_async,
    joint_supervision_list_async,
)

MAX_CHECK = 1000


def parse_day(text: str | None, field: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise GraphQLError(f"{field} must be a date like 2026-11-01, not {text!r}") from None


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def _listing(m: Any) -> dict[str, Any]:
    return {
        "list_type": m.list_type,
        "list_name": m.list_type,  # the catalog names a list by its type (失信被执行人, …)
        "basis": m.basis_decision or m.basis_event,
        "authority": m.issuer,
        "from_": _iso(m.start),
        "until": _iso(m.until),
        "via": m.via,
        "measures": [{"dept": d, "measure": x} for d, x in m.measures],
    }


#: The reason shown to the public for the points of events it may not see.
UNDISCLOSED = "其他不予公开的信用信息（not publicly disclosable）"


def _explanation(p: Any, public: bool) -> list[dict[str, Any]]:
    """The grade's lines; for the public, the points of events that are not publicly
    disclosable (restricted records, penalties out of publicity or repaired) are summed into
    one line without naming the events, so the lines still add up to the score."""
    grade = p.grade
    if grade is None:
        return []
    disclosed = {e.uid for e in p.events if e.public}
    lines: list[dict[str, Any]] = []
    hidden = 0.0
    direct_hidden = public and any(uid not in disclosed for uid in grade.direct_d)
    for i, line in enumerate(grade.lines):
        if public and line.event_uid is not None and line.event_uid not in disclosed:
            hidden += line.points
            continue
        if direct_hidden and i == len(grade.lines) - 1 and line.event_uid is None:
            # the "grade D regardless of score" line names the event types that force it
            line_reason = f"grade {grade.grade} regardless of score: {UNDISCLOSED}"
            lines.append({"points": line.points, "reason": line_reason, "event_type": None})
            continue
        lines.append({"points": line.points, "reason": line.reason, "event_type": line.event_type})
    if hidden:
        lines.append({"points": hidden, "reason": UNDISCLOSED, "event_type": None})
    return lines


class ShapedProfile:
    """A credit profile as GraphQL returns it. ``public``: only what credit publicity allows
    (the catalog's ``disclosure: public`` events that are active and published — never
    after their publicity period or a repair — and the listings based on them).

    The lists are shaped when a query asks for them (an attribute read by the default
    resolver), not for every request: ``events`` alone costs more than the rest together."""

    def __init__(self, p: Any, public: bool) -> None:
        self.p, self.public = p, public
        grade = p.grade
        self.entity_id = p.entity_id
        self.entity_type = p.entity_type
        self.name = p.name
        self.as_of = p.as_of.isoformat()
        self.grade = grade.grade if grade else None
        self.score = grade.score if grade else None
        self.scorecard = grade.scorecard if grade else None
        self.redirected_from = p.redirected_from

    @cached_property
    def _disclosed(self) -> set[str]:
        return {e.uid for e in self.p.events if e.public}

    @cached_property
    def _lists(self) -> list[Any]:
        return [m for m in self.p.lists if not self.public or m.basis_event in self._disclosed]

    @cached_property
    def explanation(self) -> list[dict[str, Any]]:
        return _explanation(self.p, self.public)

    @cached_property
    def black_lists(self) -> list[dict[str, Any]]:
        return [_listing(m) for m in self._lists if m.kind == "punishment"]

    @cached_property
    def red_lists(self) -> list[dict[str, Any]]:
        return [_listing(m) for m in self._lists if m.kind == "incentive"]

    @cached_property
    def penalties(self) -> list[dict[str, Any]]:
        return [
            {
                "decision_no": e.decision_no,
                "date": _iso(e.date),
                "authority": e.authority,
                "description": e.description,
                "publicity_until": _iso(e.until),
            }
            for e in self.p.events
            if e.category == "penalty" and e.public
        ]

    @cached_property
    def events(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.p.events]


def shape_profile(p: Any, public: bool) -> ShapedProfile:
    return ShapedProfile(p, public)


async def credit_profile(c: RequestContext, uid: str, as_of: str | None) -> Any:
    if c.role not in permissions.TYPE_ROLES["Person"] and uid.startswith("P"):
        raise GraphQLError("the public may look up enterprises only")
    signed_in = c.role != permissions.PUBLIC
    day = parse_day(as_of, "asOf")
    key = uid.strip()
    if is_golden_id(key):  # batched: a list of profiles costs a fixed number of queries
        p = await c.loader("credit_profiles", profiles).load((key, day, signed_in))
        if p is None:
            return None
    else:
        try:
            p = await credit_profile_async(c.graph, uid, day, include_restricted=signed_in)
        except CreditError:
            return None
    if p.entity_type == "Person" and not signed_in:
        return None
    c.returned_ids.add(p.entity_id)
    return shape_profile(p, public=not signed_in)


async def joint_supervision_list(
    c: RequestContext,
    department: str,
    list_type: str | None,
    date: str | None,
    first: int | None,
    after: str | None,
) -> dict[str, Any]:
    page = page_request(first, after, c.settings.limits.max_page_size, 3)
    try:
        entries = await joint_supervision_list_async(c.graph, department, parse_day(date, "date"))
    except CreditError as exc:
        raise GraphQLError(str(exc)) from None
    rows = sorted(
        (e for e in entries if list_type is None or e.list_type == list_type),
        key=lambda e: (e.entity_id, e.list_type, e.measure),
    )
    total = len(rows)
    if page.after is not None:
        if not all(isinstance(v, str) for v in page.after):
            raise GraphQLError("invalid cursor: pass a cursor from pageInfo.endCursor")
        key = tuple(page.after)
        rows = [e for e in rows if (e.entity_id, e.list_type, e.measure) > key]
    from api.enterprise.resolvers import connection

    chosen = rows[: page.first]
    c.returned_ids.update(e.entity_id for e in chosen)
    items = [
        (
            {
                "dept": e.dept,
                "entity_id": e.entity_id,
                "entity_type": e.entity_type,
                "name": e.name,
                "list_type": e.list_type,
                "kind": e.kind,
                "measure": e.measure,
                "basis_decisions": list(e.basis_decisions),
                "from_": _iso(e.start),
                "until": _iso(e.until),
                "via": e.via,
            },
            [e.entity_id, e.list_type, e.measure],
        )
        for e in chosen
    ]
    return connection(items, len(rows) > page.first, total)


async def credit_check(c: RequestContext, identifiers: list[str], as_of: str | None) -> Any:
    if not 1 <= len(identifiers) <= MAX_CHECK:
        raise GraphQLError(f"identifiers takes 1 to {MAX_CHECK} values")
    results = await credit_check_async(c.graph, identifiers, parse_day(as_of, "asOf"))
    out = []
    for r in results:
        if r.entity_id:
            c.returned_ids.add(r.entity_id)
        out.append(asdict(r))
    return out
