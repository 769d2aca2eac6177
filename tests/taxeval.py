"""Scoring tax findings against a generated batch's planted truth (tests and benchmarks)."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tax.findings import Finding


@dataclass(slots=True)
class RuleScore:
    planted: int = 0
    found: int = 0
    true_positive: int = 0
    near_misses_flagged: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.true_positive / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return self.true_positive / self.found if self.found else 1.0


def golden_of_keys(truth: Path, run: Path) -> dict[str, str]:
    """Entity key → the golden ID most of its records resolved to."""
    key_of: dict[tuple[str, str], str] = {}
    with (truth / "entities.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            key_of[(r["dept"], r["record_id"])] = r["entity_key"]
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    with (run / "links.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            key = key_of.get((r["dept"], r["record_id"]))
            if key and r["entity_id"]:
                votes[key][r["entity_id"]] += 1
    return {k: c.most_common(1)[0][0] for k, c in votes.items()}


def read_truth(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def truth_quarters(truth: Path) -> list[str]:
    return sorted({r["period"] for r in read_truth(truth / "tax_anomalies.csv")})


def score(findings: list[Finding], truth: Path, run: Path) -> dict[str, RuleScore]:
    """Per-rule recall and precision of (rule, golden entity, period)."""
    golden = golden_of_keys(truth, run)
    planted = {
        (r["rule"], golden.get(r["entity_key"], "?" + r["entity_key"]), r["period"])
        for r in read_truth(truth / "tax_anomalies.csv")
    }
    near = {
        (r["rule"], golden.get(r["entity_key"], "?" + r["entity_key"]), r["period"])
        for r in read_truth(truth / "tax_near_misses.csv")
    }
    found = {(f.rule, f.entity_id, f.period) for f in findings}
    out: dict[str, RuleScore] = defaultdict(RuleScore)
    for t in planted:
        out[t[0]].planted += 1
        (out[t[0]].missed if t not in found else []).append(f"{t[1]}:{t[2]}")
    for t in found:
        s = out[t[0]]
        s.found += 1
        if t in planted:
            s.true_positive += 1
        else:
            s.extra.append(f"{t[1]}:{t[2]}")
            if t in near:
                s.near_misses_flagged.append(f"{t[1]}:{t[2]}")
    return dict(sorted(out.items()))
