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
    #: Misses and extras explained by linkage: a record of the entity that resolved to no
    #: entity or to another one (the rule saw a different graph than the generator planted).
    by_linkage: list[str] = field(default_factory=list)

    def unexplained(self) -> tuple[list[str], list[str]]:
        return (
            [m for m in self.missed if m not in self.by_linkage],
            [x for x in self.extra if x not in self.by_linkage],
        )

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
    misattached = _misattached(truth, run, golden)
    out: dict[str, RuleScore] = defaultdict(RuleScore)
    for t in planted:
        out[t[0]].planted += 1
        if t not in found:
            out[t[0]].missed.append(f"{t[1]}:{t[2]}")
    for t in found:
        s = out[t[0]]
        s.found += 1
        if t in planted:
            s.true_positive += 1
        else:
            s.extra.append(f"{t[1]}:{t[2]}")
            if t in near:
                s.near_misses_flagged.append(f"{t[1]}:{t[2]}")
    for s in out.values():
        s.by_linkage = [x for x in s.missed + s.extra if x.split(":")[0] in misattached]
    return dict(sorted(out.items()))


def _misattached(truth: Path, run: Path, golden: dict[str, str]) -> set[str]:
    """Golden IDs (or ?KEY for entities with none) that lost a fact or return to linkage."""
    subject: dict[tuple[str, str], str] = {}
    with (truth / "subjects.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["kind"] in ("fact", "tax_declaration"):
                subject[(r["dept"], r["record_id"])] = r["subject_key"]
    out: set[str] = set()
    with (run / "links.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            key = subject.get((r["dept"], r["record_id"]))
            if key is None:
                continue
            mine = golden.get(key, "?" + key)
            if r["entity_id"] != mine:
                out.add(mine)
                if r["entity_id"]:
                    out.add(r["entity_id"])
    return out
