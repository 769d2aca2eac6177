"""Findings as the graph stores them (``Finding`` nodes, Contract 3), and how a run's
candidates become findings: new ones are created, unchanged ones only touched, and a finding
whose evidence changed (or that no longer fires) is flagged for re-review — its accepted
evidence, gap and status are never changed silently."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graph.store import GraphStore
from tax import queries
from tax.engine import Candidate

STATUSES = ("open", "assigned", "under_review", "confirmed", "dismissed")
EVIDENCE_CHANGED = "evidence_changed"
NO_LONGER_FIRES = "no_longer_fires"


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class Finding:
    """One finding with its evidence chain and workflow history."""

    finding_id: str
    rule: str
    entity_id: str
    uscc: str | None
    entity_name: str | None
    period: str
    region: str | None
    depts: list[str]
    estimated_gap: float
    confidence: float
    status: str
    evidence: list[dict[str, Any]]
    inputs: dict[str, Any]
    history: list[dict[str, Any]]
    assigned_to: str | None = None
    recovered_amount: float | None = None
    dismiss_reason: str | None = None
    review_flag: str | None = None
    pending_evidence: list[dict[str, Any]] | None = None
    pending_gap: float | None = None
    pending_inputs: dict[str, Any] | None = None
    evidence_hash: str = ""
    pending_hash: str | None = None
    created_at: str = ""
    updated_at: str = ""
    last_run_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = (
        "finding_id",
        "rule",
        "entity_id",
        "uscc",
        "entity_name",
        "period",
        "region",
        "depts",
        "estimated_gap",
        "confidence",
        "status",
        "assigned_to",
        "recovered_amount",
        "review_flag",
        "evidence_records",
    )

    def as_row(self) -> dict[str, Any]:
        """The flat CSV/table row."""
        return {
            "finding_id": self.finding_id,
            "rule": self.rule,
            "entity_id": self.entity_id,
            "uscc": self.uscc or "",
            "entity_name": self.entity_name or "",
            "period": self.period,
            "region": self.region or "",
            "depts": " ".join(self.depts),
            "estimated_gap": f"{self.estimated_gap:.2f}",
            "confidence": f"{self.confidence:.2f}",
            "status": self.status,
            "assigned_to": self.assigned_to or "",
            "recovered_amount": ""
            if self.recovered_amount is None
            else f"{self.recovered_amount:.2f}",
            "review_flag": self.review_flag or "",
            "evidence_records": len(self.evidence),
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (the API and ``--format json``)."""
        return {
            "finding_id": self.finding_id,
            "rule": self.rule,
            "entity_id": self.entity_id,
            "uscc": self.uscc,
            "entity_name": self.entity_name,
            "period": self.period,
            "region": self.region,
            "depts": self.depts,
            "estimated_gap": self.estimated_gap,
            "confidence": self.confidence,
            "status": self.status,
            "assigned_to": self.assigned_to,
            "recovered_amount": self.recovered_amount,
            "dismiss_reason": self.dismiss_reason,
            "review_flag": self.review_flag,
            "inputs": self.inputs,
            "evidence": self.evidence,
            "pending_evidence": self.pending_evidence,
            "pending_gap": self.pending_gap,
            "history": self.history,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_run_at": self.last_run_at,
        }


def _loads(text: Any, default: Any) -> Any:
    return json.loads(text) if isinstance(text, str) and text else default


def from_row(row: dict[str, Any]) -> Finding:
    """A finding from the properties the finding queries return."""
    return Finding(
        finding_id=row["uid"],
        rule=row["rule"],
        entity_id=row["entity_id"],
        uscc=row.get("uscc"),
        entity_name=row.get("entity_name"),
        period=row["period"],
        region=row.get("region"),
        depts=list(row.get("depts") or []),
        estimated_gap=float(row.get("estimated_gap") or 0.0),
        confidence=float(row.get("confidence") or 0.0),
        status=row["status"],
        evidence=_loads(row.get("evidence"), []),
        inputs=_loads(row.get("inputs"), {}),
        history=[json.loads(h) for h in row.get("history") or []],
        assigned_to=row.get("assigned_to"),
        recovered_amount=row.get("recovered_amount"),
        dismiss_reason=row.get("dismiss_reason"),
        review_flag=row.get("review_flag"),
        pending_evidence=_loads(row.get("pending_evidence"), None),
        pending_gap=row.get("pending_gap"),
        pending_inputs=_loads(row.get("pending_inputs"), None),
        evidence_hash=row.get("evidence_hash") or "",
        pending_hash=row.get("pending_hash"),
        created_at=row.get("created_at") or "",
        updated_at=row.get("updated_at") or "",
        last_run_at=row.get("last_run_at") or "",
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _depts(evidence: list[dict[str, Any]]) -> list[str]:
    return sorted({e["dept"] for e in evidence if e.get("dept")})


@dataclass(slots=True)
class SaveReport:
    created: int = 0
    unchanged: int = 0
    flagged: int = 0
    no_longer_firing: int = 0


def save_candidates(
    store: GraphStore,
    candidates: list[Candidate],
    rules: list[str],
    periods: list[str],
    run_at: str | None = None,
    batch_size: int = 2000,
) -> SaveReport:
    """Store a run's candidates as findings (see the module docstring)."""
    at = run_at or now()
    report = SaveReport()
    existing = {
        r["uid"]: from_row(r)
        for r in store.read(queries.FINDINGS_IN_WINDOW, {"rules": rules, "periods": periods})
    }
    creates: list[list[Any]] = []
    touches: list[list[Any]] = []
    updates: list[dict[str, Any]] = []
    concerns: list[list[Any]] = []
    evidence_links: dict[str, list[list[Any]]] = {}
    seen: set[str] = set()
    for c in candidates:
        uid = c.uid
        seen.add(uid)
        old = existing.get(uid)
        digest = c.evidence_hash
        if old is None:
            props = {
                "rule": c.rule,
                "entity_id": c.entity.uid,
                "uscc": c.entity.uscc,
                "entity_name": c.entity.name,
                "period": c.period,
                "region": c.entity.region,
                "depts": _depts(c.evidence),
                "estimated_gap": c.estimated_gap,
                "confidence": c.confidence,
                "status": "open",
                "evidence": _dumps(c.evidence),
                "evidence_hash": digest,
                "inputs": _dumps(c.inputs),
                "history": [_dumps({"at": at, "by": "rule-run", "event": "created"})],
                "created_at": at,
                "updated_at": at,
                "last_run_at": at,
            }
            creates.append([uid, *(props[k] for k in queries.CREATED_FIELDS)])
            concerns.append([uid, c.entity.uid])
            for e in c.evidence:
                evidence_links.setdefault(e["label"], []).append([uid, e["uid"]])
            report.created += 1
        elif digest == old.evidence_hash and old.review_flag is None:
            touches.append([uid, at])
            report.unchanged += 1
        elif digest == old.pending_hash or (digest == old.evidence_hash and old.review_flag):
            # Already flagged for exactly this evidence (or flagged, and back to the accepted
            # evidence): nothing new to record.
            touches.append([uid, at])
            report.unchanged += 1
        else:
            history = [*map(_dumps, old.history)]
            history.append(
                _dumps(
                    {
                        "at": at,
                        "by": "rule-run",
                        "event": EVIDENCE_CHANGED,
                        "estimated_gap": c.estimated_gap,
                        "evidence_hash": digest,
                    }
                )
            )
            updates.append(
                {
                    "uid": uid,
                    "props": {
                        "review_flag": EVIDENCE_CHANGED,
                        "pending_evidence": _dumps(c.evidence),
                        "pending_hash": digest,
                        "pending_gap": c.estimated_gap,
                        "pending_inputs": _dumps(c.inputs),
                        "history": history,
                        "updated_at": at,
                        "last_run_at": at,
                    },
                }
            )
            report.flagged += 1
    for uid, old in existing.items():
        if uid in seen or old.review_flag == NO_LONGER_FIRES:
            continue
        history = [*map(_dumps, old.history)]
        history.append(_dumps({"at": at, "by": "rule-run", "event": NO_LONGER_FIRES}))
        updates.append(
            {
                "uid": uid,
                "props": {
                    "review_flag": NO_LONGER_FIRES,
                    "pending_evidence": "[]",
                    "pending_hash": "",
                    "pending_gap": 0.0,
                    "pending_inputs": "{}",
                    "history": history,
                    "updated_at": at,
                    "last_run_at": at,
                },
            }
        )
        report.no_longer_firing += 1
    _write_rows(store, queries.CREATE_FINDINGS, creates, batch_size)
    _write_rows(store, queries.TOUCH_FINDINGS, touches, batch_size)
    store.write_batch(queries.UPDATE_FINDINGS, updates, batch_size)
    _write_rows(store, queries.LINK_CONCERNS, concerns, batch_size)
    for lab, rows in sorted(evidence_links.items()):
        _write_rows(store, queries.LINK_EVIDENCE[lab], rows, batch_size)
    return report


def _write_rows(store: GraphStore, query: str, rows: list[list[Any]], batch_size: int) -> None:
    """A statement over list rows (``$rows``), in batches."""
    for i in range(0, len(rows), batch_size):
        store.run(query, {"rows": rows[i : i + batch_size]})


def relink_statements(finding: Finding) -> list[tuple[str, dict[str, Any]]]:
    """The writes that point the finding's EVIDENCED_BY relationships at its evidence."""
    out: list[tuple[str, dict[str, Any]]] = [(queries.UNLINK_EVIDENCE, {"uid": finding.finding_id})]
    for lab in ("Fact", "TaxDeclaration", "SourceRecord"):
        rows = [[finding.finding_id, e["uid"]] for e in finding.evidence if e["label"] == lab]
        if rows:
            out.append((queries.LINK_EVIDENCE[lab], {"rows": rows}))
    return out


def relink_evidence(store: GraphStore, finding: Finding) -> None:
    """Point the finding's EVIDENCED_BY relationships at its (newly accepted) evidence."""
    for query, params in relink_statements(finding):
        store.run(query, params)


def load_findings(store: GraphStore) -> list[Finding]:
    return [from_row(r) for r in store.read(queries.FINDINGS)]


def get_finding(store: GraphStore, uid: str) -> Finding | None:
    rows = store.read(queries.FINDINGS_BY_UID, {"uids": [uid]})
    return from_row(rows[0]) if rows else None
