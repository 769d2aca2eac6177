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

from graph.store import GraphStore
from tax import queries
from tax.findings import STATUSES, Finding, get_finding, now, relink_evidence

#: Allowed moves for a finding that is not flagged for re-review.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("assigned",),
    "assigned": ("assigned", "under_review"),
    "under_review": ("confirmed", "dismissed", "assigned"),
    "confirmed": (),
    "dismissed": (),
}


class WorkflowError(ValueError):
    """A transition that is refused (the message says why)."""


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
        if not math.isfinite(amount) or amount < 0:
            raise WorkflowError(f"the recovered amount must be a number ≥ 0, not {amount}")
    elif amount is not None:
        raise WorkflowError("an amount goes only with confirmed")
    if status == "dismissed" and not (reason and reason.strip()):
        raise WorkflowError(f"dismissing {fid} needs a reason (--reason)")


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
    finding = get_finding(store, finding_id)
    if finding is None:
        raise WorkflowError(f"no finding {finding_id!r}")
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
    store.run(queries.UPDATE_FINDINGS, {"rows": [{"uid": finding_id, "props": props}]})
    if adopt:
        relink_evidence(store, finding)
    updated = get_finding(store, finding_id)
    assert updated is not None
    return updated
