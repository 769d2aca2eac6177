"""The rule interpreter: joins each rule's inputs on golden entity and period, computes its
aggregates, and evaluates its condition and gap formula. No rule has code of its own.

Scopes (see ``catalog/rules/*.yaml``):
- ``quarter``: facts and declarations inside one quarter (monthly records add up);
- ``due``: facts whose grace period ends in the quarter (each fact is checked once, in the
  quarter it falls due), against the entity's declarations from the start of the fact's
  year to the end of that quarter;
- ``entity``: every registered entity, with its records overlapping the quarter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tax.catalog import Catalog, Rule, Selector
from tax.periods import Quarter
from tax.tables import EntityRow, Record, Tables

#: A missing expected input (e.g. no VAT return at all) lowers confidence by this factor.
MISSING_EXPECTED_FACTOR = 0.8


@dataclass(slots=True)
class Candidate:
    """A rule firing for one entity and period (a finding before it is stored)."""

    rule: str
    entity: EntityRow
    period: str
    estimated_gap: float
    confidence: float
    inputs: dict[str, Any]
    evidence: list[dict[str, Any]]

    @property
    def uid(self) -> str:
        return finding_uid(self.rule, self.entity.uid, self.period)

    @property
    def evidence_hash(self) -> str:
        return evidence_hash(self.evidence)


def finding_uid(rule: str, entity: str, period: str) -> str:
    """A finding's stable identity: rule + golden entity + period."""
    return f"{rule}:{entity}:{period}"


def evidence_hash(evidence: list[dict[str, Any]]) -> str:
    text = json.dumps(
        sorted(evidence, key=lambda e: (e["label"], e["uid"])), sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _matches(sel: Selector, rec: Record) -> bool:
    if rec.label != sel.node:
        return False
    for fld, allowed in sel.match.items():
        value = (
            rec.dept if fld == "dept" else rec.kind if fld in ("fact_type", "tax_type") else None
        )
        if fld == "unit":
            value = rec.values.get("unit")
        if value not in allowed:
            return False
    return True


def _aggregate(func: str, field: str | None, records: list[Record]) -> float:
    if func == "count":
        return float(len(records))
    key = field or ""
    nums = [float(r.values[key]) for r in records if isinstance(r.values.get(key), (int, float))]
    if func == "sum":
        return sum(nums)
    if not nums:
        return 0.0
    return max(nums) if func == "max" else min(nums)


def _entity_ok(rule: Rule, e: EntityRow) -> bool:
    def field_value(fld: str) -> str | None:
        if fld == "uscc_prefix":
            return e.uscc[:1] if e.uscc else None
        value: str | None = getattr(e, fld)
        return value

    def matches(fld: str, values: tuple[str, ...]) -> bool:
        if fld == "name_suffix":
            return bool(e.name) and any(str(e.name).endswith(v) for v in values)
        return field_value(fld) in values

    if not all(matches(fld, allowed) for fld, allowed in rule.entity_filter.items()):
        return False
    return not any(matches(fld, vals) for fld, vals in rule.exempt.items())


class RuleRunner:
    """Evaluates rules over exported tables for a list of quarters."""

    def __init__(self, catalog: Catalog, tables: Tables) -> None:
        self.catalog = catalog
        self.tables = tables

    def run(
        self,
        rules: Iterable[Rule],
        quarters: list[Quarter],
        progress: Callable[[str, int], None] | None = None,
    ) -> list[Candidate]:
        out: list[Candidate] = []
        for rule in rules:
            found = list(self.run_rule(rule, quarters))
            out.extend(found)
            if progress:
                progress(rule.id, len(found))
        return out

    def _selected(self, rule: Rule, entity: str) -> dict[str, list[Record]]:
        """Each input's records of the entity, found by (label, kind) in the index."""
        groups = self.tables.by_entity.get(entity, {})
        out: dict[str, list[Record]] = {}
        for name, sel in rule.inputs.items():
            kind_field = "fact_type" if sel.node == "Fact" else "tax_type"
            kinds = sel.match.get(kind_field)
            if kinds is not None:
                found = [r for k in kinds for r in groups.get((sel.node, k), ())]
            else:
                found = [r for (lab, _), recs in groups.items() if lab == sel.node for r in recs]
            others = set(sel.match) - {kind_field}
            out[name] = [r for r in found if _matches(sel, r)] if others else found
        return out

    def _visit(self, rule: Rule) -> list[str]:
        """The entities a rule must look at: all of them for an entity-scope rule, else the
        ones holding records of its driving inputs (due facts, else required inputs)."""
        if rule.scope == "entity":
            return sorted(self.tables.entities)
        driving = rule.due_inputs or rule.require or tuple(rule.inputs)
        found: set[str] = set()
        for name in driving:
            sel = rule.inputs[name]
            kinds = sel.match.get("fact_type" if sel.node == "Fact" else "tax_type")
            for (lab, kind), entities in self.tables.by_kind.items():
                if lab == sel.node and (kinds is None or kind in kinds):
                    found |= entities
        return sorted(found)

    def run_rule(self, rule: Rule, quarters: list[Quarter]) -> Iterable[Candidate]:
        bounds = [(q, q.start, q.end) for q in quarters]
        for uid in self._visit(rule):
            entity = self.tables.entities.get(uid)
            if entity is None or not _entity_ok(rule, entity):
                continue
            selected = self._selected(rule, uid)
            for q, start, end in bounds:
                groups = self._group(rule, selected, q, start, end)
                if groups is None:
                    continue
                cand = self._evaluate(rule, entity, q, groups)
                if cand is not None:
                    yield cand

    def _group(
        self,
        rule: Rule,
        selected: dict[str, list[Record]],
        q: Quarter,
        start: dt.date,
        end: dt.date,
    ) -> dict[str, list[Record]] | None:
        """The records of each input that take part for quarter q (None: nothing to check)."""
        if rule.scope == "quarter":
            groups = {
                n: [r for r in recs if _inside(r, start, end)] for n, recs in selected.items()
            }
        elif rule.scope == "entity":
            groups = {
                n: [r for r in recs if _overlaps(r, start, end)] for n, recs in selected.items()
            }
        else:
            grace = dt.timedelta(days=rule.grace_days)
            due = {
                n: [r for r in selected[n] if r.start and start <= r.start + grace <= end]
                for n in rule.due_inputs
            }
            first = [r.start for recs in due.values() for r in recs if r.start]
            if not first:
                return None
            year_start = dt.date(min(first).year, 1, 1)
            groups = {
                n: due[n] if n in due else [r for r in recs if _overlaps(r, year_start, end)]
                for n, recs in selected.items()
            }
        if any(not groups[n] for n in rule.require):
            return None
        return groups

    def _evaluate(
        self, rule: Rule, entity: EntityRow, q: Quarter, groups: dict[str, list[Record]]
    ) -> Candidate | None:
        names: dict[str, Any] = dict(rule.params)
        computed: dict[str, Any] = {}
        for agg in rule.values:
            computed[agg.name] = _aggregate(agg.func, agg.field, groups[agg.input])
        for lk in rule.lookups:
            value = self.catalog.lookup(lk.table, getattr(entity, lk.key))
            if value is None:
                return None  # no benchmark for the entity's trade: not checkable
            computed[lk.name] = value
        names.update(computed)
        names["period_days"] = (q.end - q.start).days + 1
        names["days_registered"] = (q.end - entity.established).days if entity.established else None
        if names["days_registered"] is None and "days_registered" in rule.condition:
            return None
        if not rule.compiled["condition"](names):
            return None
        gap = float(rule.compiled["gap"](names))
        confidence = rule.confidence
        for n in rule.expects:
            if not groups[n]:
                confidence *= MISSING_EXPECTED_FACTOR
        evidence = [r.evidence() for n in rule.inputs for r in groups[n]]
        return Candidate(
            rule=rule.id,
            entity=entity,
            period=q.label,
            estimated_gap=round(max(gap, 0.0), 2),
            confidence=round(confidence, 2),
            inputs={k: round(v, 2) if isinstance(v, float) else v for k, v in computed.items()},
            evidence=sorted(evidence, key=lambda e: (e["label"], e["dept"], e["record_id"])),
        )


def _inside(r: Record, start: dt.date, end: dt.date) -> bool:
    return r.start is not None and r.end is not None and start <= r.start and r.end <= end


def _overlaps(r: Record, start: dt.date, end: dt.date) -> bool:
    return r.start is not None and r.end is not None and r.start <= end and r.end >= start
