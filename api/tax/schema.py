"""``taxFindings``, ``taxSummary`` and ``setFindingStatus`` (tax officers and admins)."""

from __future__ import annotations

import json
from typing import Any

import graphene
from graphql import GraphQLError

from api.context import ctx
from api.pagination import page_request
from api.tax.types import Finding, FindingConnection, FindingOrder, FindingWhere, TaxSummaryRow
from graph.store import GraphStoreError


def _shape(f: Any) -> dict[str, Any]:
    return {
        "finding_id": f.finding_id,
        "rule": f.rule,
        "entity_id": f.entity_id,
        "uscc": f.uscc,
        "entity_name": f.entity_name,
        "period": f.period,
        "region": f.region,
        "depts": list(f.depts),
        "estimated_gap": f.estimated_gap,
        "confidence": f.confidence,
        "status": f.status,
        "assigned_to": f.assigned_to,
        "recovered_amount": f.recovered_amount,
        "dismiss_reason": f.dismiss_reason,
        "evidence": json.dumps(f.evidence, ensure_ascii=False, sort_keys=True, default=str),
        "history": json.dumps(f.history, ensure_ascii=False, sort_keys=True, default=str),
    }


def _key(f: Any, order: str) -> list[Any]:
    return (
        [-float(f.estimated_gap or 0), f.finding_id] if order == "GAP_DESC" else ["", f.finding_id]
    )


def _after(key: list[Any], order: str) -> list[Any]:
    """A decoded cursor checked against the order it must come from."""
    first_ok = isinstance(key[0], (int, float)) if order == "GAP_DESC" else key[0] == ""
    if not first_ok or not isinstance(key[1], str):
        raise GraphQLError("invalid cursor: pass a cursor from pageInfo.endCursor of this orderBy")
    return key


class TaxQueries(graphene.ObjectType):
    tax_findings = graphene.Field(
        graphene.NonNull(FindingConnection),
        where=FindingWhere(),
        order_by=FindingOrder(default_value="ID_ASC"),
        first=graphene.Int(default_value=20),
        after=graphene.String(),
        description="Tax-coordination findings, filtered and keyset-paginated.",
    )
    tax_summary = graphene.Field(graphene.NonNull(graphene.List(graphene.NonNull(TaxSummaryRow))))

    @staticmethod
    async def resolve_tax_findings(
        root: Any,
        info: graphene.ResolveInfo,
        order_by: Any = None,
        first: int | None = None,
        where: dict[str, Any] | None = None,
        after: str | None = None,
    ) -> Any:
        from api.enterprise.resolvers import connection
        from tax.service import list_findings_async

        c = ctx(info)
        order = str(getattr(order_by, "value", order_by) or "ID_ASC")
        page = page_request(first, after, c.settings.limits.max_page_size, 2)
        w = dict(where or {})
        found = await list_findings_async(
            c.graph,
            rule=w.get("rule"),
            status=w.get("status"),
            entity=w.get("entity"),
            period=w.get("period"),
            region=w.get("region"),
        )
        rows = sorted(found, key=lambda f: _key(f, order))
        total = len(rows)
        if page.after is not None:
            after_key = _after(page.after, order)
            rows = [f for f in rows if _key(f, order) > after_key]
        chosen = rows[: page.first]
        c.returned_ids.update(f.entity_id for f in chosen if f.entity_id)
        items = [(_shape(f), _key(f, order)) for f in chosen]
        return connection(items, len(rows) > page.first, total)

    @staticmethod
    async def resolve_tax_summary(root: Any, info: graphene.ResolveInfo) -> Any:
        from tax.service import summary_async

        rows = await summary_async(ctx(info).graph)
        return [
            {
                "dimension": r.dimension,
                "key": r.key,
                "findings": r.findings,
                "estimated_gap": r.estimated_gap,
                "recovered": r.recovered,
                "by_status": [{"status": k, "count": v} for k, v in r.by_status.items()],
            }
            for r in rows
        ]


class SetFindingStatus(graphene.Mutation):
    """Move a finding through the workflow (assign, confirm, recover, dismiss, …)."""

    class Arguments:
        finding_id = graphene.String(required=True)
        status = graphene.String(required=True)
        amount = graphene.Float()
        reason = graphene.String()
        officer = graphene.String()

    Output = Finding

    @staticmethod
    async def mutate(
        root: Any,
        info: graphene.ResolveInfo,
        finding_id: str,
        status: str,
        amount: float | None = None,
        reason: str | None = None,
        officer: str | None = None,
    ) -> Any:
        from tax.service import set_status_async

        c = ctx(info)
        try:
            async with c.graph.write_lock:  # one status change at a time: read, check, write
                f = await set_status_async(
                    c.graph, finding_id, status, c.who, amount, reason, officer
                )
        except (ValueError, LookupError) as exc:
            raise GraphQLError(str(exc)) from None
        except GraphStoreError as exc:
            if str(exc).lower().startswith("control character"):  # refused before the graph
                raise GraphQLError(f"input text: {exc}") from None
            raise
        return _shape(f)


class TaxMutations(graphene.ObjectType):
    set_finding_status = SetFindingStatus.Field()
