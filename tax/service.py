"""The tax-coordination functions the CLI and the API call (sync, and async for the API).

run(store, quarters)            evaluate the rules, store findings (idempotent)
list_findings / get_finding     read findings (filters: rule, status, entity, period, region)
set_status(_async)              move a finding through the workflow
summary                         counts and amounts by rule, department, region, period
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graph.dialect import ensure_schema
from graph.store import AsyncGraphStore, GraphStore, GraphStoreError
from tax import queries
from tax.catalog import Catalog, load_catalog
from tax.engine import Candidate, RuleRunner
from tax.findings import Finding, SaveReport, from_row, save_candidates
from tax.periods import Quarter
from tax.summary import SummaryRow, summarise
from tax.tables import evidence_details, export_tables
from tax.workflow import WorkflowError, check_amount, set_status, set_status_async

__all__ = [
    "Finding",
    "RunReport",
    "WorkflowError",
    "check_amount",
    "get_finding",
    "get_finding_async",
    "list_findings",
    "list_findings_async",
    "run",
    "set_status",
    "set_status_async",
    "summary",
    "summary_async",
]

Progress = Callable[[str, int], None]
MAX_LIMIT = 1_000_000


@dataclass(slots=True)
class RunReport:
    periods: list[str]
    rules: list[str]
    by_rule: dict[str, int] = field(default_factory=dict)
    saved: SaveReport = field(default_factory=SaveReport)
    records_read: int = 0
    seconds_export: float = 0.0
    seconds_rules: float = 0.0
    seconds_store: float = 0.0


def run(
    store: GraphStore,
    quarters: list[Quarter],
    rule_ids: list[str] | None = None,
    catalog: Catalog | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Evaluate the rules for the quarters and store the findings (re-running is harmless)."""
    cat = catalog or load_catalog()
    unknown = sorted(set(rule_ids or ()) - set(cat.rules))
    if unknown:
        raise ValueError(f"unknown rule {', '.join(unknown)} (known: {', '.join(cat.rules)})")
    rules = [cat.rules[r] for r in (rule_ids or sorted(cat.rules))]
    report = RunReport([q.label for q in quarters], [r.id for r in rules])
    ensure_schema(store)
    t0 = time.perf_counter()
    if progress:
        progress("export", 0)
    tables = export_tables(store, cat, rules, quarters)
    report.records_read = len(tables.records)
    t1 = time.perf_counter()
    candidates = RuleRunner(cat, tables).run(rules, quarters, progress)
    _complete_evidence(store, candidates)
    _add_registration_evidence(store, cat, candidates)
    t2 = time.perf_counter()
    for r in rules:
        report.by_rule[r.id] = sum(1 for c in candidates if c.rule == r.id)
    report.saved = save_candidates(store, candidates, report.rules, report.periods)
    report.seconds_export, report.seconds_rules = t1 - t0, t2 - t1
    report.seconds_store = time.perf_counter() - t2
    return report


def _complete_evidence(store: GraphStore, candidates: list[Candidate]) -> None:
    """Replace each cited record's exported numbers with its full stored values."""
    wanted: dict[str, set[str]] = {}
    for c in candidates:
        for e in c.evidence:
            wanted.setdefault(e["label"], set()).add(e["uid"])
    details = evidence_details(store, wanted)
    for c in candidates:
        for e in c.evidence:
            d = details.get(e["uid"])
            if d is None:
                continue
            e["dept"], e["record_id"], e["period"] = d["dept"], d["record_id"], d["period"]
            e["values"] = {
                k: v
                for k, v in d.items()
                if k not in ("uid", "dept", "record_id", "period") and v is not None
            }
        c.evidence.sort(key=lambda e: (e["label"], e["dept"], e["record_id"]))


def _add_registration_evidence(
    store: GraphStore, cat: Catalog, candidates: list[Candidate]
) -> None:
    """Entity-scope findings (T10) are evidenced by the entity's registration records."""
    wanted = [c for c in candidates if cat.rules[c.rule].scope == "entity"]
    if not wanted:
        return
    records: dict[str, list[dict[str, Any]]] = {}
    uids = sorted({c.entity.uid for c in wanted})
    for i in range(0, len(uids), 5000):
        for r in store.read(queries.SOURCE_RECORDS, {"uids": uids[i : i + 5000]}):
            records.setdefault(r["entity"], []).append(r)
    for c in wanted:
        for r in sorted(records.get(c.entity.uid, []), key=lambda r: r["uid"]):
            values = {
                "registration_status": c.entity.registration_status,
                "established": c.entity.established.isoformat() if c.entity.established else None,
            }
            c.evidence.append(
                {
                    "label": "SourceRecord",
                    "uid": r["uid"],
                    "dept": r["dept"],
                    "record_id": r["record_id"],
                    "kind": "registration",
                    "period": None,
                    "values": values,
                }
            )


def _read(store: GraphStore, query: str, params: dict[str, Any] | None = None) -> list[Any]:
    """A read that treats a graph nothing was ever written to as empty (FalkorDB refuses to
    read a graph key that does not exist yet)."""
    try:
        return store.read(query, params)
    except GraphStoreError as exc:
        if "empty key" in str(exc):
            return []
        raise


async def _read_async(
    store: AsyncGraphStore, query: str, params: dict[str, Any] | None = None
) -> list[Any]:
    try:
        return await store.read(query, params)
    except GraphStoreError as exc:
        if "empty key" in str(exc):
            return []
        raise


def _filters(
    rule: str | None,
    status: str | None,
    entity: str | None,
    period: str | None,
    region: str | None,
    skip: int,
    limit: int | None,
) -> dict[str, Any]:
    return {
        "rule": rule,
        "status": status,
        "entity": entity,
        "period": period,
        "region": region,
        "skip": max(skip, 0),
        "limit": MAX_LIMIT if limit is None else max(limit, 0),
    }


def list_findings(
    store: GraphStore,
    rule: str | None = None,
    status: str | None = None,
    entity: str | None = None,
    period: str | None = None,
    region: str | None = None,
    skip: int = 0,
    limit: int | None = None,
) -> list[Finding]:
    """Findings ordered by id, filtered by any of the arguments."""
    params = _filters(rule, status, entity, period, region, skip, limit)
    return [from_row(r) for r in _read(store, queries.FINDINGS_FILTERED, params)]


async def list_findings_async(
    store: AsyncGraphStore,
    rule: str | None = None,
    status: str | None = None,
    entity: str | None = None,
    period: str | None = None,
    region: str | None = None,
    skip: int = 0,
    limit: int | None = None,
) -> list[Finding]:
    params = _filters(rule, status, entity, period, region, skip, limit)
    return [from_row(r) for r in await _read_async(store, queries.FINDINGS_FILTERED, params)]


def get_finding(store: GraphStore, finding_id: str) -> Finding | None:
    rows = _read(store, queries.FINDINGS_BY_UID, {"uids": [finding_id]})
    return from_row(rows[0]) if rows else None


async def get_finding_async(store: AsyncGraphStore, finding_id: str) -> Finding | None:
    rows = await _read_async(store, queries.FINDINGS_BY_UID, {"uids": [finding_id]})
    return from_row(rows[0]) if rows else None


def summary(store: GraphStore) -> list[SummaryRow]:
    return summarise(from_row(r) for r in _read(store, queries.FINDINGS))


async def summary_async(store: AsyncGraphStore) -> list[SummaryRow]:
    return summarise(from_row(r) for r in await _read_async(store, queries.FINDINGS))
