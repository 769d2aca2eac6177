"""The rule interpreter: joins each rule's inputs on golden entity and period, computes its
aggregates, and evaluates its condition and gap formula. No rule has code of its own.

Each rule runs over columns, for every entity × quarter of the run at once (pandas group-by
sums over the exported record table, then the condition and gap formula vectorised, see
tax.expr); evidence records are gathered only for the groups that fire.

Scopes (see ``catalog/rules/*.yaml``):
- ``quarter``: facts and declarations inside one quarter (monthly records add up);
- ``due``: facts whose grace period ends in the quarter (each fact is checked once, in the
  quarter it falls due), against the entity's declarations from the start of the fact's
  year to the end of that quarter;
- ``entity``: every registered entity, with its records overlapping the quarter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tax.catalog import Catalog, Rule
from tax.periods import Quarter
from tax.tables import NUMBER_FIELDS, EntityRow, Tables

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


KEY = ["entity", "qi"]


def _entity_mask(rule: Rule, entities: pd.DataFrame) -> pd.Series:
    """Which entities the rule looks at: its entity filter holds and no exemption applies."""

    def matches(fld: str, values: tuple[str, ...]) -> pd.Series:
        if fld == "name_suffix":
            names = entities["name"].where(entities["name"].map(lambda v: isinstance(v, str)), "")
            return names.map(lambda n: bool(n) and n.endswith(values))
        if fld == "uscc_prefix":
            col = entities["uscc"].map(lambda v: v[:1] if isinstance(v, str) and v else None)
        else:
            col = entities[fld]
        return col.isin(values)

    ok = pd.Series(True, index=entities.index)
    for fld, allowed in rule.entity_filter.items():
        ok &= matches(fld, allowed)
    for fld, vals in rule.exempt.items():
        ok &= ~matches(fld, vals)
    return ok


class RuleRunner:
    """Evaluates rules over exported tables for a list of quarters."""

    def __init__(self, catalog: Catalog, tables: Tables) -> None:
        self.catalog = catalog
        self.tables = tables
        #: (label, kind) -> the records of that kind whose subject is a known entity.
        records = tables.records[tables.records["entity"].isin(tables.entities.index)]
        self.by_kind: dict[tuple[str, str], pd.DataFrame] = {
            (str(lab), str(kind)): frame
            for (lab, kind), frame in records.groupby(["label", "kind"], sort=False)
        }

    def run(
        self,
        rules: Iterable[Rule],
        quarters: list[Quarter],
        progress: Callable[[str, int], None] | None = None,
    ) -> list[Candidate]:
        out: list[Candidate] = []
        for rule in rules:
            found = self.run_rule(rule, quarters)
            out.extend(found)
            if progress:
                progress(rule.id, len(found))
        return out

    def _selected(self, rule: Rule, entities: pd.Index | None) -> pd.DataFrame:
        """Every input's records (of the given entities; None: all), with the input's name
        in ``inp``."""
        parts = []
        for name, sel in rule.inputs.items():
            kinds = sel.match.get("fact_type" if sel.node == "Fact" else "tax_type")
            frames = [
                f
                for (lab, kind), f in self.by_kind.items()
                if lab == sel.node and (kinds is None or kind in kinds)
            ]
            if not frames:
                continue
            recs = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            mask = np.ones(len(recs), dtype=bool)
            if entities is not None:
                mask &= recs["entity"].isin(entities).to_numpy()
            if "dept" in sel.match:
                mask &= recs["dept"].isin(sel.match["dept"]).to_numpy()
            parts.append(recs[mask].assign(inp=name))
        if not parts:  # typed empty columns, so that date comparisons still apply
            return self.tables.records.iloc[0:0].assign(inp=pd.Series(dtype=object))
        return pd.concat(parts, ignore_index=True)

    def _long(
        self, rule: Rule, selected: pd.DataFrame, quarters: list[Quarter]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The records taking part in each (entity, quarter index ``qi``) group, and the groups
        to evaluate (columns entity, qi)."""
        start, end = selected["start"], selected["end"]
        parts = []
        if rule.scope in ("quarter", "entity"):
            for qi, q in enumerate(quarters):
                qs, qe = pd.Timestamp(q.start), pd.Timestamp(q.end)
                if rule.scope == "quarter":
                    m = (start >= qs) & (end <= qe)
                else:
                    m = (start <= qe) & (end >= qs)
                parts.append(selected[m].assign(qi=qi))
            long = pd.concat(parts, ignore_index=True)
            if rule.scope == "entity":
                ok = self.tables.entities.index[_entity_mask(rule, self.tables.entities)]
                groups = pd.DataFrame(
                    {
                        "entity": np.repeat(np.asarray(ok, dtype=object), len(quarters)),
                        "qi": np.tile(np.arange(len(quarters)), len(ok)),
                    }
                )
            elif rule.require:
                groups = long.loc[long["inp"] == rule.require[0], KEY].drop_duplicates()
            else:
                driving = selected["entity"].unique()
                groups = pd.DataFrame(
                    {
                        "entity": np.repeat(driving, len(quarters)),
                        "qi": np.tile(np.arange(len(quarters)), len(driving)),
                    }
                )
            return long, groups
        grace = pd.Timedelta(days=rule.grace_days)
        is_due = selected["inp"].isin(rule.due_inputs)
        due_recs, others = selected[is_due], selected[~is_due]
        for qi, q in enumerate(quarters):
            qs, qe = pd.Timestamp(q.start), pd.Timestamp(q.end)
            falls = due_recs["start"] + grace
            parts.append(due_recs[(falls >= qs) & (falls <= qe)].assign(qi=qi))
        due = pd.concat(parts, ignore_index=True)
        groups = due.groupby(KEY, sort=False)["start"].min().reset_index()
        # Declarations (and other inputs) count from the start of the year of the group's
        # first due fact to the end of its quarter.
        groups["from"] = pd.to_datetime(groups["start"].dt.year.astype(str) + "-01-01")
        groups["to"] = pd.to_datetime(
            pd.Series([quarters[i].end for i in groups["qi"]], index=groups.index, dtype=object)
        )
        joined = others.merge(groups[[*KEY, "from", "to"]], on="entity")
        joined = joined[(joined["start"] <= joined["to"]) & (joined["end"] >= joined["from"])]
        long = pd.concat([due, joined.drop(columns=["from", "to"])], ignore_index=True)
        return long, groups[KEY]

    def run_rule(self, rule: Rule, quarters: list[Quarter]) -> list[Candidate]:
        entities = self.tables.entities
        filtered = bool(rule.entity_filter or rule.exempt)
        ok = entities.index[_entity_mask(rule, entities)] if filtered else None
        selected = self._selected(rule, ok)
        long, groups = self._long(rule, selected, quarters)
        if groups.empty:
            return []
        index = pd.MultiIndex.from_frame(groups[KEY])
        counts = (
            long.groupby([*KEY, "inp"], sort=False).size().unstack("inp").reindex(index)
            if not long.empty
            else pd.DataFrame(index=index)
        )

        def count_of(name: str) -> np.ndarray:
            if name not in counts.columns:
                return np.zeros(len(index))
            out: np.ndarray = counts[name].fillna(0).to_numpy(dtype="float64")
            return out

        keep = np.ones(len(index), dtype=bool)
        for n in rule.require:
            keep &= count_of(n) > 0
        computed: dict[str, np.ndarray] = {}
        for agg in rule.values:
            recs = long[long["inp"] == agg.input]
            if agg.func == "count":
                col = recs.groupby(KEY, sort=False).size().astype("float64")
            else:
                first = NUMBER_FIELDS[rule.inputs[agg.input].node][0]
                field = "a" if agg.field == first else "b"
                col = recs.groupby(KEY, sort=False)[field].agg(agg.func)
            computed[agg.name] = col.reindex(index).fillna(0.0).to_numpy(dtype="float64")
        ents = groups["entity"].to_numpy()
        for lk in rule.lookups:
            keys = entities[lk.key]
            table = {k: self.catalog.lookup(lk.table, k) for k in keys.dropna().unique() if k}
            per_entity = keys.map(table)
            values = pd.to_numeric(per_entity.reindex(ents), errors="coerce").to_numpy(
                dtype="float64"
            )
            keep &= ~np.isnan(values)  # no benchmark for the entity's trade: not checkable
            computed[lk.name] = values
        qi = groups["qi"].to_numpy()
        q_end = np.array([np.datetime64(q.end, "D") for q in quarters])[qi]
        q_start = np.array([np.datetime64(q.start, "D") for q in quarters])[qi]
        established = entities["established"].reindex(ents).to_numpy(dtype="datetime64[D]")
        days = (q_end - established).astype("float64")  # NaT becomes NaN
        if "days_registered" in rule.condition:
            keep &= ~np.isnan(days)
        names: dict[str, Any] = dict(rule.params)
        names.update(computed)
        names["period_days"] = (q_end - q_start).astype("float64") + 1
        names["days_registered"] = days
        size = len(index)
        fired = keep & rule.compiled["condition"].columns(names, size).astype(bool)
        if not fired.any():
            return []
        gap = rule.compiled["gap"].columns(names, size).astype("float64")
        missing = np.zeros(size)
        for n in rule.expects:
            missing += count_of(n) == 0
        confidence = rule.confidence * MISSING_EXPECTED_FACTOR**missing
        return self._candidates(rule, quarters, groups, long, fired, gap, confidence, computed)

    def _candidates(
        self,
        rule: Rule,
        quarters: list[Quarter],
        groups: pd.DataFrame,
        long: pd.DataFrame,
        fired: np.ndarray,
        gap: np.ndarray,
        confidence: np.ndarray,
        computed: dict[str, np.ndarray],
    ) -> list[Candidate]:
        hits = groups[fired].reset_index(drop=True)
        evidence: dict[tuple[str, int], list[dict[str, Any]]] = {}
        cited = long.merge(hits[KEY], on=KEY)
        order = {name: i for i, name in enumerate(rule.inputs)}
        cited = cited.assign(_o=cited["inp"].map(order)).sort_values("_o", kind="stable")
        for rec in cited.itertuples(index=False):
            evidence.setdefault((rec.entity, rec.qi), []).append(_evidence(rec))
        out: list[Candidate] = []
        rows = self.tables.entity_rows(list(hits["entity"]))
        where = np.flatnonzero(fired)
        for i, (uid, q) in enumerate(zip(hits["entity"], hits["qi"], strict=True)):
            k = where[i]
            inputs = {name: round(float(col[k]), 2) for name, col in computed.items()}
            found = evidence.get((uid, q), [])
            out.append(
                Candidate(
                    rule=rule.id,
                    entity=rows[uid],
                    period=quarters[q].label,
                    estimated_gap=round(max(float(gap[k]), 0.0), 2),
                    confidence=round(float(confidence[k]), 2),
                    inputs=inputs,
                    evidence=sorted(found, key=lambda e: (e["label"], e["dept"], e["record_id"])),
                )
            )
        out.sort(key=lambda c: (c.entity.uid, c.period))
        return out


def _evidence(rec: Any) -> dict[str, Any]:
    """A cited record as an evidence entry (service completes it with the stored values)."""
    fa, fb = NUMBER_FIELDS[rec.label]
    values = {k: float(v) for k, v in ((fa, rec.a), (fb, rec.b)) if not pd.isna(v)}
    _dept, _, record_id = str(rec.uid).partition("|")
    return {
        "label": rec.label,
        "uid": rec.uid,
        "dept": rec.dept,
        "record_id": record_id,
        "kind": rec.kind,
        "period": None,
        "values": values,
    }
