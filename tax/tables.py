"""The tables the rules read, exported from the graph in a few parameterised reads.

Rules run over these in-memory tables rather than as one Cypher query per rule: the joins
(entity × period × several inputs, due dates with grace periods) are plain Python over
dictionaries, identical on both backends, and a full run reads each node once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from graph.store import GraphStore
from tax import queries
from tax.catalog import Catalog, Rule
from tax.periods import Quarter, iso

#: The values each evidence record keeps (besides dept, record_id, kind and period).
VALUE_KEYS = ("amount", "quantity", "unit", "reference", "taxable_amount", "tax_paid")


@dataclass(frozen=True, slots=True)
class EntityRow:
    uid: str
    uscc: str | None
    name: str | None
    industry: str | None
    registration_status: str | None
    established: dt.date | None

    @property
    def region(self) -> str | None:
        """The administrative division code a USCC carries (characters 3–8)."""
        return self.uscc[2:8] if self.uscc and len(self.uscc) == 18 else None


@dataclass(frozen=True, slots=True)
class Record:
    """A Fact or TaxDeclaration node with its subject, as a rule reads it."""

    label: str
    uid: str
    entity: str
    dept: str
    record_id: str
    kind: str
    period: str | None
    start: dt.date | None
    end: dt.date | None
    values: dict[str, Any]

    def evidence(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "uid": self.uid,
            "dept": self.dept,
            "record_id": self.record_id,
            "kind": self.kind,
            "period": self.period,
            "values": self.values,
        }


@dataclass(slots=True)
class Tables:
    entities: dict[str, EntityRow]
    facts: list[Record]
    declarations: list[Record]
    by_entity: dict[str, list[Record]] = field(default_factory=dict)

    def index(self) -> None:
        grouped: dict[str, list[Record]] = defaultdict(list)
        for r in self.facts:
            grouped[r.entity].append(r)
        for r in self.declarations:
            grouped[r.entity].append(r)
        self.by_entity = dict(grouped)


def _record(label: str, row: dict[str, Any]) -> Record:
    return Record(
        label=label,
        uid=row["uid"],
        entity=row["entity"],
        dept=row["dept"] or "",
        record_id=row["record_id"] or "",
        kind=row["kind"] or "",
        period=row.get("period"),
        start=iso(row.get("start")),
        end=iso(row.get("end")),
        values={k: row[k] for k in VALUE_KEYS if row.get(k) is not None},
    )


def read_window(rules: list[Rule], quarters: list[Quarter]) -> tuple[dt.date, dt.date]:
    """The date range the tables must cover: the run's quarters, reaching back by the longest
    grace period (a due fact dates from before its quarter) and to the start of that year
    (declarations of a due rule count from the year the fact falls in)."""
    start, end = quarters[0].start, quarters[-1].end
    grace = max((r.grace_days for r in rules), default=0)
    back = start - dt.timedelta(days=grace)
    return dt.date(back.year, 1, 1), end


def export_tables(
    store: GraphStore, catalog: Catalog, rules: list[Rule], quarters: list[Quarter]
) -> Tables:
    """Read the entities, facts and declarations the given rules need for the quarters."""
    start, end = read_window(rules, quarters)
    params = {"start": start.isoformat(), "end": end.isoformat()}
    fact_kinds: set[str] = set()
    decl_kinds: set[str] = set()
    any_declaration = False
    for rule in rules:
        for sel in rule.inputs.values():
            kinds = sel.match.get("fact_type" if sel.node == "Fact" else "tax_type")
            if sel.node == "Fact":
                fact_kinds.update(kinds or ())
            elif kinds:
                decl_kinds.update(kinds)
            else:
                any_declaration = True
    entities = {}
    for row in store.read(queries.ENTITIES):
        entities[row["uid"]] = EntityRow(
            uid=row["uid"],
            uscc=row.get("uscc"),
            name=row.get("name"),
            industry=row.get("industry") or catalog.industry_from_name(row.get("name")),
            registration_status=row.get("registration_status"),
            established=iso(row.get("established")),
        )
    facts = (
        [
            _record("Fact", r)
            for r in store.read(queries.FACTS, {**params, "kinds": sorted(fact_kinds)})
        ]
        if fact_kinds
        else []
    )
    if any_declaration:
        rows = store.read(queries.ALL_DECLARATIONS, params)
    elif decl_kinds:
        rows = store.read(queries.DECLARATIONS, {**params, "kinds": sorted(decl_kinds)})
    else:
        rows = []
    tables = Tables(entities, facts, [_record("TaxDeclaration", r) for r in rows])
    tables.index()
    return tables
