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
    #: entity -> (label, kind) -> records: the join key of every rule input.
    by_entity: dict[str, dict[tuple[str, str], list[Record]]] = field(default_factory=dict)
    #: (label, kind) -> the entities with such records (which entities a rule must visit).
    by_kind: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def index(self) -> None:
        grouped: dict[str, dict[tuple[str, str], list[Record]]] = defaultdict(dict)
        kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in (*self.facts, *self.declarations):
            grouped[r.entity].setdefault((r.label, r.kind), []).append(r)
            kinds[(r.label, r.kind)].add(r.entity)
        self.by_entity = dict(grouped)
        self.by_kind = dict(kinds)


NUMBER_FIELDS = {"Fact": ("amount", "quantity"), "TaxDeclaration": ("taxable_amount", "tax_paid")}


def _number(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _record(label: str, row: dict[str, Any]) -> Record:
    """A record from an export row (see tax.queries: packed entity, dates and numbers)."""
    entity, start, end, a, b = row["packed"].split("\t")
    dept, _, record_id = str(row["uid"]).partition("|")
    fa, fb = NUMBER_FIELDS[label]
    values = {k: v for k, v in ((fa, _number(a)), (fb, _number(b))) if v is not None}
    return Record(
        label=label,
        uid=row["uid"],
        entity=entity,
        dept=dept,
        record_id=record_id,
        kind=row["kind"] or "",
        period=None,
        start=iso(start),
        end=iso(end),
        values=values,
    )


def _entity(row: dict[str, Any], catalog: Catalog) -> EntityRow:
    parts = row["packed"].split("\t")
    uid, uscc, established = parts[0], "\t".join(parts[1:-1]), parts[-1]
    return EntityRow(
        uid=uid,
        uscc=uscc or None,
        name=row.get("name"),
        industry=row.get("industry") or catalog.industry_from_name(row.get("name")),
        registration_status=row.get("registration_status"),
        established=iso(established),
    )


def evidence_details(store: GraphStore, uids: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    """The full stored values (dept, record_id, period, amounts, unit, reference) of the
    records findings cite, by uid (``uids``: label -> uids)."""
    out: dict[str, dict[str, Any]] = {}
    for lab, wanted in uids.items():
        query = queries.EVIDENCE_RECORDS.get(lab)
        ordered = sorted(wanted)
        for i in range(0 if query else len(ordered), len(ordered), 5000):
            for r in store.read(query or "", {"uids": ordered[i : i + 5000]}):
                out[r["uid"]] = r
    return out


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
    entities = {e.uid: e for e in (_entity(r, catalog) for r in store.read(queries.ENTITIES))}
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
