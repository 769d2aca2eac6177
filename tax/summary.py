"""Counts and amounts of findings by rule, department, region (division code) and period."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tax.findings import STATUSES, Finding

DIMENSIONS = ("rule", "dept", "region", "period")


@dataclass(slots=True)
class SummaryRow:
    dimension: str
    key: str
    findings: int = 0
    estimated_gap: float = 0.0
    recovered: float = 0.0
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))

    def as_dict(self) -> dict[str, object]:
        return {
            "dimension": self.dimension,
            "key": self.key,
            "findings": self.findings,
            "estimated_gap": round(self.estimated_gap, 2),
            "recovered": round(self.recovered, 2),
            **self.by_status,
        }


def _keys(f: Finding, dimension: str) -> list[str]:
    if dimension == "rule":
        return [f.rule]
    if dimension == "dept":
        return f.depts or ["(none)"]  # a finding counts for every department in its evidence
    if dimension == "region":
        return [f.region or "(unknown)"]
    return [f.period]


def summarise(findings: Iterable[Finding]) -> list[SummaryRow]:
    """One row per (dimension, key), sorted by dimension then key."""
    rows: dict[tuple[str, str], SummaryRow] = {}
    for f in findings:
        for dim in DIMENSIONS:
            for key in _keys(f, dim):
                row = rows.setdefault((dim, key), SummaryRow(dim, key))
                row.findings += 1
                row.estimated_gap += f.estimated_gap
                row.recovered += f.recovered_amount or 0.0
                row.by_status[f.status] += 1
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    return sorted(rows.values(), key=lambda r: (order[r.dimension], r.key))
