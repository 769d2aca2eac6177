"""Compare joint-supervision lists from the graph with the generator's planted truth
(``truth/lists.csv``): golden IDs are mapped to truth keys through the run's own files."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from credit.service import joint_supervision_list
from graph.store import GraphStore

Key = tuple[str, str, str]  # (entity_key, list_type, measure)


def golden_to_truth(run_dir: Path, truth_dir: Path) -> dict[str, str]:
    """Golden ID → truth key, by majority over the records, role edges and events it holds."""
    record_key: dict[tuple[str, str], str] = {}
    with (truth_dir / "entities.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            record_key[(r["dept"], r["record_id"])] = r["entity_key"]
    counterpart: dict[tuple[str, str], tuple[str, str]] = {}
    with (truth_dir / "subjects.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            counterpart[(r["dept"], r["record_id"])] = (r["subject_key"], r["counterpart_key"])
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    with (run_dir / "links.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            k = record_key.get((r["dept"], r["record_id"]))
            if k and r["entity_id"]:
                votes[r["entity_id"]][k] += 1
    with (run_dir / "edges.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            e = json.loads(line)
            src = (e["source"]["dept"], e["source"]["record_id"])
            if src in counterpart and e["type"] in ("LEGAL_REP_OF", "SERVES_AS") and e.get("from"):
                votes[e["from"]][counterpart[src][1]] += 1
    with (run_dir / "events.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            ev = json.loads(line)
            src = (ev["source"]["dept"], ev["source"]["record_id"])
            if src in counterpart and ev.get("subject"):
                votes[ev["subject"]][counterpart[src][0]] += 1
    return {uid: c.most_common(1)[0][0] for uid, c in votes.items()}


def unresolved_events(run_dir: Path) -> set[str]:
    """``dept|record_id`` of credit events the linker could not attach to an entity."""
    out = set()
    with (run_dir / "events.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            ev = json.loads(line)
            if ev["kind"] == "credit_event" and not ev.get("subject"):
                out.add(f"{ev['source']['dept']}|{ev['source']['record_id']}")
    return out


@dataclass
class Score:
    dept: str
    day: dt.date
    truth: set[Key] = field(default_factory=set)
    found: set[Key] = field(default_factory=set)
    excluded: int = 0  # truth rows whose basis event the linker left unresolved
    persons: int = 0  # truth rows reaching persons

    @property
    def precision(self) -> float:
        return len(self.truth & self.found) / len(self.found) if self.found else 1.0

    @property
    def recall(self) -> float:
        return len(self.truth & self.found) / len(self.truth) if self.truth else 1.0


def truth_rows(truth_dir: Path) -> list[dict[str, str]]:
    with (truth_dir / "lists.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@dataclass
class Truth:
    """Everything the comparison needs from a run and its truth, read once."""

    key_of: dict[str, str]
    skip: set[str]
    rows: list[dict[str, str]]

    @classmethod
    def read(cls, run_dir: Path, truth_dir: Path) -> Truth:
        return cls(
            golden_to_truth(run_dir, truth_dir), unresolved_events(run_dir), truth_rows(truth_dir)
        )


def score(store: GraphStore, truth: Truth, dept: str, day: dt.date) -> Score:
    s = Score(dept, day)
    for r in truth.rows:
        if r["dept"] != dept:
            continue
        if not (dt.date.fromisoformat(r["from"]) <= day < dt.date.fromisoformat(r["until"])):
            continue
        if r["basis"] in truth.skip:
            s.excluded += 1
            continue
        s.truth.add((r["entity_key"], r["list_type"], r["measure"]))
        s.persons += bool(r["via"]) or r["entity_key"].startswith("P")
    for e in joint_supervision_list(store, dept, day):
        s.found.add((truth.key_of.get(e.entity_id, e.entity_id), e.list_type, e.measure))
    return s
