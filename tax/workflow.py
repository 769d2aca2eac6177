"""The officers' workflow on a finding:

    open → assigned → under_review → confirmed (recovered amount) | dismissed (reason)

Every transition is appended to the finding's history with who and when. A finding flagged
for re-review (its evidence changed in a later run) must go (back) to ``under_review``, which
adopts the new evidence and gap and records that in the history; a confirmed or dismissed
finding may be reopened only that way. Anything else is refused with the reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator
from typing import Any

from graph.store import AsyncGraphStore, GraphStore, Row
from tax import queries
from tax.findings import STATUSES, Finding, from_row, now, relink_statements

#: Allowed moves for a finding that is not flagged for re-review.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("assigned",),
    "assigned": ("assigned", "under_review"),
    "under_review": ("confirmed", "dismissed", "assigned"),
    "confirmed": (),
    "dismissed": (),
}


#: The largest recovered amount a finding takes (元): a trillion, beyond any one taxpayer's
#: arrears, and small enough that a float keeps its fen exact.
MAX_AMOUNT = 1e12


class WorkflowError(ValueError):
    """A transition that is refused (the message says why)."""


def check_amount(amount: float) -> None:
    """Raise WorkflowError unless ``amount`` is a finite number of 元 in [0, MAX_AMOUNT]."""
    if not math.isfinite(amount) or not 0 <= amount <= MAX_AMOUNT:
        raise WorkflowError(
            f"the recovered amount must be a number from 0 to {MAX_AMOUNT:,.0f} 元, not {amount:g}"
        )


def check_transition(
    finding: Finding,
    status: str,
    by: str,
    amount: float | None,
    reason: str | None,
) -> None:
    """Raise WorkflowError when the transition makes no sense."""
    if status not in STATUSES:
        raise WorkflowError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    if not by.strip():
        raise WorkflowError("say who makes the change (--by)")
    cur = finding.status
    fid = finding.finding_id
    if finding.review_flag:
        if status != "under_review":
            raise WorkflowError(
                f"{fid} is flagged for re-review ({finding.review_flag}): move it to "
                f"under_review first to review the new evidence"
            )
        if cur == "open":
            raise WorkflowError(f"{fid} is open: assign it to an officer first")
    elif status not in TRANSITIONS[cur]:
        allowed = ", ".join(TRANSITIONS[cur]) or "none (the finding is closed)"
        raise WorkflowError(f"{fid} is {cur}: cannot move to {status} (allowed: {allowed})")
    if status == "confirmed":
        if amount is None:
            raise WorkflowError(f"confirming {fid} needs the recovered amount (--amount)")
        check_amount(amount)
    elif amount is not None:
        raise WorkflowError("an amount goes only with confirmed")
    if status == "dismissed" and not (reason and reason.strip()):
        raise WorkflowError(f"dismissing {fid} needs a reason (--reason)")


#: One step of a status change: ("read" | "run", statement, parameters); the driver sends
#: back the rows.
Step = tuple[str, str, dict[str, Any]]


def _set_status_plan(
    finding_id: str,
    status: str,
    by: str,
    amount: float | None,
    reason: str | None,
    officer: str | None,
) -> Generator[Step, list[Row], Finding]:
    """A status change as the statements it needs, written once for both store kinds."""
    if amount is not None:
        check_amount(amount)  # before the graph is read: a bad number is wrong in any state
    rows = yield "read", queries.FINDINGS_BY_UID, {"uids": [finding_id]}
    if not rows:
        raise WorkflowError(f"no finding {finding_id!r}")
    finding = from_row(rows[0])
    check_transition(finding, status, by, amount, reason)
    at = now()
    entry: dict[str, object] = {"at": at, "by": by, "from": finding.status, "to": status}
    props: dict[str, object] = {"status": status, "updated_at": at}
    if status == "assigned":
        props["assigned_to"] = officer or by
        entry["officer"] = props["assigned_to"]
    if status == "confirmed":
        props["recovered_amount"] = float(amount or 0.0)
        entry["amount"] = props["recovered_amount"]
    if status == "dismissed":
        props["dismiss_reason"] = reason
        entry["reason"] = reason
    adopt = finding.review_flag is not None and status == "under_review"
    if adopt:
        entry["adopted"] = finding.review_flag
        entry["previous_gap"] = finding.estimated_gap
        entry["previous_evidence_hash"] = finding.evidence_hash
        finding.evidence = finding.pending_evidence or []
        finding.estimated_gap = float(finding.pending_gap or 0.0)
        finding.inputs = finding.pending_inputs or {}
        props.update(
            {
                "evidence": json.dumps(finding.evidence, ensure_ascii=False, sort_keys=True),
                "evidence_hash": finding.pending_hash or "",
                "estimated_gap": finding.estimated_gap,
                "inputs": json.dumps(finding.inputs, ensure_ascii=False, sort_keys=True),
                "depts": sorted({e["dept"] for e in finding.evidence if e.get("dept")}),
                "review_flag": None,
                "pending_evidence": None,
                "pending_hash": None,
                "pending_gap": None,
                "pending_inputs": None,
                "recovered_amount": None,
                "dismiss_reason": None,
            }
        )
    history = [json.dumps(h, ensure_ascii=False, sort_keys=True) for h in finding.history]
    history.append(json.dumps(entry, ensure_ascii=False, sort_keys=True))
    props["history"] = history
    yield "run", queries.UPDATE_FINDINGS, {"rows": [{"uid": finding_id, "props": props}]}
    if adopt:
        for query, params in relink_statements(finding):
            yield "run", query, params
    rows = yield "read", queries.FINDINGS_BY_UID, {"uids": [finding_id]}
    assert rows
    return from_row(rows[0])


def set_status(
    store: GraphStore,
    finding_id: str,
    status: str,
    by: str,
    amount: float | None = None,
    reason: str | None = None,
    officer: str | None = None,
) -> Finding:
    """Move a finding to a new status (assigned: to ``officer``, default ``by``)."""
    plan = _set_status_plan(finding_id, status, by, amount, reason, officer)
    try:
        mode, query, params = next(plan)
        while True:
            rows = store.read(query, params) if mode == "read" else store.run(query, params)
            mode, query, params = plan.send(rows)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def set_status_async(
    store: AsyncGraphStore,
    finding_id: str,
    status: str,
    by: str,
    amount: float | None = None,
    reason: str | None = None,
    officer: str | None = None,
) -> Finding:
    """:func:`set_status` over the async store (the API's)."""
    plan = _set_status_plan(finding_id, status, by, amount, reason, officer)
    try:
        mode, query, params = next(plan)
        while True:
            if mode == "read":
                rows = await store.read(query, params)
            else:
                rows = await store.run(query, params)
            mode, query, params = plan.send(rows)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
