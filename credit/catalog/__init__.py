"""The credit catalogs as data: event types, repair rules, joint-supervision lists, the
scorecard (YAML beside this module), loaded once and validated with errors that name the
file, the line and the key. Code interprets the model; it never hard-codes a list."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

CATALOG_DIR = Path(__file__).resolve().parent
FILES = (
    "departments.yaml",
    "event_types.yaml",
    "repair_rules.yaml",
    "lists.yaml",
    "scorecard.yaml",
)
SEVERITIES = ("轻微", "一般", "严重")
CATEGORIES = ("licence", "penalty", "list", "grade", "red", "record", "repair")
DISCLOSURES = ("public", "on_request", "restricted")
SUBJECTS = ("enterprise", "person")
EFFECTS = ("publishing", "sharing", "joint_measures")
_PERIOD = re.compile(r"^(\d{1,3})([dmy])$")


class CatalogError(ValueError):
    """A catalog file is wrong: the message names the file, line and key."""


@dataclass(frozen=True, slots=True)
class Period:
    """A legal period (3m, 1y …) added to dates calendar-wise (a month keeps the day)."""

    count: int
    unit: str  # d | m | y

    def after(self, day: dt.date) -> dt.date:
        if self.unit == "d":
            return day + dt.timedelta(days=self.count)
        months = self.count * (12 if self.unit == "y" else 1)
        y, m = divmod(day.month - 1 + months, 12)
        year, month = day.year + y, m + 1
        for d in (day.day, 30, 29, 28):
            try:
                return dt.date(year, month, min(day.day, d))
            except ValueError:
                continue
        raise AssertionError("unreachable")

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


@dataclass(frozen=True, slots=True)
class EventType:
    key: str
    category: str
    department: str
    severity: str | None  # None: not a failing-credit event
    disclosure: str
    publicity: str  # a period text, while_listed, rule or none
    subjects: tuple[str, ...]
    list_type: str | None = None
    period: Period | None = None
    aliases: tuple[str, ...] = ()
    basis: str = ""
    publicity_period: Period | None = None  # when ``publicity`` is a fixed period


@dataclass(frozen=True, slots=True)
class RepairClass:
    minimum: Period
    maximum: Period
    published: bool = True


@dataclass(frozen=True, slots=True)
class RepairRule:
    key: str
    title: str
    effective_from: dt.date
    effective_until: dt.date | None
    classes: dict[str, RepairClass]
    on_repair: frozenset[str]


@dataclass(frozen=True, slots=True)
class Transitional:
    new_rule: str
    shorter_maximum_applies: bool
    repair_effects: str  # new_rule | rule_at_decision


@dataclass(frozen=True, slots=True)
class Measure:
    dept: str
    measure: str
    subjects: tuple[str, ...]
    extends: bool


@dataclass(frozen=True, slots=True)
class ListType:
    key: str
    kind: str  # punishment | incentive
    issuer: str
    basis: str
    responsible: tuple[str, ...]
    measures: tuple[Measure, ...]


@dataclass(frozen=True, slots=True)
class Band:
    grade: str
    minimum: float


@dataclass(frozen=True, slots=True)
class Scorecard:
    version: str
    base: float
    grades: tuple[Band, ...]
    deductions: dict[str, float]
    recency: tuple[tuple[Period, float], ...]
    bonuses: dict[str, float]
    direct_d: frozenset[str]

    def grade_of(self, score: float) -> str:
        for band in self.grades:
            if score >= band.minimum:
                return band.grade
        return self.grades[-1].grade


@dataclass(frozen=True, slots=True)
class Catalog:
    departments: dict[str, str]
    event_types: dict[str, EventType]
    repair_rules: tuple[RepairRule, ...]  # by effective_from
    transitional: Transitional
    lists: dict[str, ListType]
    scorecard: Scorecard
    aliases: dict[str, str] = field(default_factory=dict)

    def event_type(self, name: str | None) -> EventType | None:
        """The event type a record's ``event_type`` names (aliases followed), or None."""
        if not name:
            return None
        key = self.aliases.get(name.strip(), name.strip())
        return self.event_types.get(key)

    def rule_on(self, day: dt.date) -> RepairRule | None:
        """The repair rule in force on ``day`` (None before the first one)."""
        found = None
        for rule in self.repair_rules:
            if rule.effective_from <= day and (
                rule.effective_until is None or day <= rule.effective_until
            ):
                found = rule
        return found

    def rule(self, key: str) -> RepairRule:
        return next(r for r in self.repair_rules if r.key == key)

    def measures_for(self, dept: str) -> Iterator[tuple[ListType, Measure]]:
        for lt in self.lists.values():
            for m in lt.measures:
                if m.dept == dept:
                    yield lt, m


# -- reading YAML with line numbers -------------------------------------------------------
class _Doc:
    """One catalog file: node accessors that fail with file, line and key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            root = yaml.compose(path.read_text("utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            raise CatalogError(f"{path.name}:{line}: not valid YAML: {exc}") from exc
        except OSError as exc:
            raise CatalogError(f"{path}: cannot read: {exc.strerror}") from exc
        if root is None:
            raise CatalogError(f"{path.name}:1: empty file")
        self.root = root

    def fail(self, node: Node, key: str, message: str) -> CatalogError:
        return CatalogError(f"{self.path.name}:{node.start_mark.line + 1}: {key}: {message}")

    def mapping(self, node: Node, key: str) -> list[tuple[str, Node, Node]]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, key, "expected a mapping")
        seen: dict[str, int] = {}
        out = []
        for k, v in node.value:
            name = str(k.value)
            if name in seen:
                raise self.fail(
                    k,
                    f"{key}.{name}" if key else name,
                    f"duplicate key (first on line {seen[name]})",
                )
            seen[name] = k.start_mark.line + 1
            out.append((name, k, v))
        return out

    def fields(self, node: Node, key: str) -> dict[str, Node]:
        return {name: v for name, _k, v in self.mapping(node, key)}

    def section(self, name: str) -> Node:
        top = self.fields(self.root, "")
        if name not in top:
            raise self.fail(self.root, name, "missing section")
        return top[name]

    def scalar(self, node: Node, key: str) -> str:
        if not isinstance(node, ScalarNode) or node.value == "":
            raise self.fail(node, key, "expected a value")
        return str(node.value)

    def seq(self, node: Node, key: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.fail(node, key, "expected a list")
        return list(node.value)

    def strings(self, node: Node, key: str) -> tuple[str, ...]:
        return tuple(self.scalar(n, key) for n in self.seq(node, key))

    def required(self, fields: dict[str, Node], parent: Node, key: str, name: str) -> Node:
        if name not in fields:
            raise self.fail(parent, f"{key}.{name}", "missing")
        return fields[name]

    def choice(self, node: Node, key: str, allowed: tuple[str, ...]) -> str:
        value = self.scalar(node, key)
        if value not in allowed:
            raise self.fail(node, key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def period(self, node: Node, key: str) -> Period:
        value = self.scalar(node, key)
        m = _PERIOD.match(value)
        if not m:
            raise self.fail(node, key, f"bad period {value!r} (write e.g. 90d, 3m, 1y)")
        return Period(int(m.group(1)), m.group(2))

    def date(self, node: Node, key: str) -> dt.date:
        value = self.scalar(node, key)
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.fail(node, key, f"bad date {value!r} (write YYYY-MM-DD)") from None

    def number(self, node: Node, key: str) -> float:
        value = self.scalar(node, key)
        try:
            return float(value)
        except ValueError:
            raise self.fail(node, key, f"bad number {value!r}") from None

    def boolean(self, node: Node, key: str) -> bool:
        value = self.scalar(node, key)
        if value not in ("true", "false"):
            raise self.fail(node, key, f"expected true or false, not {value!r}")
        return value == "true"

    def dept(self, node: Node, key: str, departments: dict[str, str]) -> str:
        value = self.scalar(node, key)
        if value not in departments:
            raise self.fail(node, key, f"unknown department {value!r} (departments.yaml)")
        return value


def _event_types(doc: _Doc, departments: dict[str, str]) -> dict[str, EventType]:
    out: dict[str, EventType] = {}
    for name, knode, vnode in doc.mapping(doc.section("event_types"), "event_types"):
        key = name
        f = doc.fields(vnode, key)
        allowed = {
            "category",
            "department",
            "severity",
            "disclosure",
            "publicity",
            "subjects",
            "list_type",
            "period",
            "aliases",
            "basis",
        }
        for extra in set(f) - allowed:
            raise doc.fail(f[extra], f"{key}.{extra}", "unknown field")
        category = doc.choice(
            doc.required(f, knode, key, "category"), f"{key}.category", CATEGORIES
        )
        dept = doc.dept(doc.required(f, knode, key, "department"), f"{key}.department", departments)
        severity = doc.choice(
            doc.required(f, knode, key, "severity"), f"{key}.severity", (*SEVERITIES, "none")
        )
        publicity_node = doc.required(f, knode, key, "publicity")
        publicity = doc.scalar(publicity_node, f"{key}.publicity")
        publicity_period = None
        if publicity not in ("while_listed", "rule", "none"):
            publicity_period = doc.period(publicity_node, f"{key}.publicity")
            publicity = str(publicity_period)
        subjects = doc.strings(doc.required(f, knode, key, "subjects"), f"{key}.subjects")
        for s, n in zip(subjects, doc.seq(f["subjects"], key), strict=True):
            if s not in SUBJECTS:
                raise doc.fail(n, f"{key}.subjects", f"{s!r} is not one of {', '.join(SUBJECTS)}")
        list_type = doc.scalar(f["list_type"], f"{key}.list_type") if "list_type" in f else None
        period = doc.period(f["period"], f"{key}.period") if "period" in f else None
        if list_type and period is None:
            raise doc.fail(knode, f"{key}.period", "a list event needs the listing period")
        if publicity == "while_listed" and not list_type:
            raise doc.fail(publicity_node, f"{key}.publicity", "while_listed needs a list_type")
        out[key] = EventType(
            key=key,
            category=category,
            department=dept,
            severity=None if severity == "none" else severity,
            disclosure=doc.choice(
                doc.required(f, knode, key, "disclosure"), f"{key}.disclosure", DISCLOSURES
            ),
            publicity=publicity,
            subjects=subjects,
            list_type=list_type,
            period=period,
            aliases=doc.strings(f["aliases"], f"{key}.aliases") if "aliases" in f else (),
            basis=doc.scalar(f["basis"], f"{key}.basis") if "basis" in f else "",
            publicity_period=publicity_period,
        )
    return out


def _repair_rules(doc: _Doc) -> tuple[tuple[RepairRule, ...], Transitional]:
    rules = []
    for key, knode, vnode in doc.mapping(doc.section("repair_rules"), "repair_rules"):
        f = doc.fields(vnode, key)
        classes: dict[str, RepairClass] = {}
        cnode = doc.required(f, knode, key, "classes")
        for cls, cknode, cvnode in doc.mapping(cnode, f"{key}.classes"):
            ck = f"{key}.classes.{cls}"
            if cls not in SEVERITIES:
                raise doc.fail(cknode, ck, f"unknown class (use {', '.join(SEVERITIES)})")
            cf = doc.fields(cvnode, ck)
            lo = doc.period(doc.required(cf, cknode, ck, "min"), f"{ck}.min")
            hi = doc.period(doc.required(cf, cknode, ck, "max"), f"{ck}.max")
            if hi.after(dt.date(2000, 1, 1)) < lo.after(dt.date(2000, 1, 1)):
                raise doc.fail(cf["max"], f"{ck}.max", f"bad period: max {hi} is below min {lo}")
            published = (
                doc.boolean(cf["published"], f"{ck}.published") if "published" in cf else True
            )
            classes[cls] = RepairClass(lo, hi, published)
        for cls in SEVERITIES:
            if cls not in classes:
                raise doc.fail(cnode, f"{key}.classes.{cls}", "missing")
        effects = doc.strings(doc.required(f, knode, key, "on_repair"), f"{key}.on_repair")
        for e in effects:
            if e not in EFFECTS:
                raise doc.fail(
                    f["on_repair"], f"{key}.on_repair", f"{e!r} is not one of {', '.join(EFFECTS)}"
                )
        start = doc.date(doc.required(f, knode, key, "effective_from"), f"{key}.effective_from")
        until = (
            doc.date(f["effective_until"], f"{key}.effective_until")
            if "effective_until" in f
            else None
        )
        if until is not None and until < start:
            raise doc.fail(f["effective_until"], f"{key}.effective_until", "before effective_from")
        rules.append(
            RepairRule(
                key=key,
                title=doc.scalar(doc.required(f, knode, key, "title"), f"{key}.title"),
                effective_from=start,
                effective_until=until,
                classes=classes,
                on_repair=frozenset(effects),
            )
        )
    rules.sort(key=lambda r: r.effective_from)
    for a, b in itertools.pairwise(rules):
        if a.effective_until is None or a.effective_until >= b.effective_from:
            raise CatalogError(
                f"{doc.path.name}: repair_rules.{a.key}: overlaps {b.key} (set effective_until "
                f"before {b.effective_from})"
            )
    tnode = doc.section("transitional")
    tf = doc.fields(tnode, "transitional")
    new_rule = doc.scalar(
        doc.required(tf, tnode, "transitional", "new_rule"), "transitional.new_rule"
    )
    if new_rule not in {r.key for r in rules}:
        raise doc.fail(tf["new_rule"], "transitional.new_rule", f"unknown repair rule {new_rule!r}")
    transitional = Transitional(
        new_rule=new_rule,
        shorter_maximum_applies=doc.boolean(
            doc.required(tf, tnode, "transitional", "shorter_maximum_applies"),
            "transitional.shorter_maximum_applies",
        ),
        repair_effects=doc.choice(
            doc.required(tf, tnode, "transitional", "repair_effects"),
            "transitional.repair_effects",
            ("new_rule", "rule_at_decision"),
        ),
    )
    return tuple(rules), transitional


def _lists(doc: _Doc, departments: dict[str, str]) -> dict[str, ListType]:
    out: dict[str, ListType] = {}
    for key, knode, vnode in doc.mapping(doc.section("lists"), "lists"):
        f = doc.fields(vnode, key)
        measures = []
        for i, mnode in enumerate(
            doc.seq(doc.required(f, knode, key, "measures"), f"{key}.measures")
        ):
            mk = f"{key}.measures[{i}]"
            mf = doc.fields(mnode, mk)
            subjects = doc.strings(doc.required(mf, mnode, mk, "subjects"), f"{mk}.subjects")
            for s in subjects:
                if s not in SUBJECTS:
                    raise doc.fail(
                        mf["subjects"],
                        f"{mk}.subjects",
                        f"{s!r} is not one of {', '.join(SUBJECTS)}",
                    )
            measures.append(
                Measure(
                    dept=doc.dept(doc.required(mf, mnode, mk, "dept"), f"{mk}.dept", departments),
                    measure=doc.scalar(doc.required(mf, mnode, mk, "measure"), f"{mk}.measure"),
                    subjects=subjects,
                    extends=doc.boolean(doc.required(mf, mnode, mk, "extends"), f"{mk}.extends"),
                )
            )
        out[key] = ListType(
            key=key,
            kind=doc.choice(
                doc.required(f, knode, key, "kind"), f"{key}.kind", ("punishment", "incentive")
            ),
            issuer=doc.dept(doc.required(f, knode, key, "issuer"), f"{key}.issuer", departments),
            basis=doc.scalar(f["basis"], f"{key}.basis") if "basis" in f else "",
            responsible=doc.strings(f["responsible"], f"{key}.responsible")
            if "responsible" in f
            else (),
            measures=tuple(measures),
        )
    return out


def _scorecard(doc: _Doc, event_types: dict[str, EventType]) -> Scorecard:
    root = doc.root
    f = doc.fields(root, "")
    grades = []
    for i, g in enumerate(doc.seq(doc.required(f, root, "scorecard", "grades"), "grades")):
        gf = doc.fields(g, f"grades[{i}]")
        grades.append(
            Band(
                doc.scalar(doc.required(gf, g, f"grades[{i}]", "grade"), f"grades[{i}].grade"),
                doc.number(doc.required(gf, g, f"grades[{i}]", "min"), f"grades[{i}].min"),
            )
        )
    if [b.minimum for b in grades] != sorted((b.minimum for b in grades), reverse=True):
        raise doc.fail(f["grades"], "grades", "bands must be listed from the highest min down")
    deductions = {}
    for cls, cknode, v in doc.mapping(
        doc.required(f, root, "scorecard", "deductions"), "deductions"
    ):
        if cls not in SEVERITIES:
            raise doc.fail(
                cknode, f"deductions.{cls}", f"unknown class (use {', '.join(SEVERITIES)})"
            )
        deductions[cls] = doc.number(v, f"deductions.{cls}")
    recency = []
    for i, r in enumerate(doc.seq(doc.required(f, root, "scorecard", "recency"), "recency")):
        rf = doc.fields(r, f"recency[{i}]")
        recency.append(
            (
                doc.period(doc.required(rf, r, f"recency[{i}]", "within"), f"recency[{i}].within"),
                doc.number(doc.required(rf, r, f"recency[{i}]", "factor"), f"recency[{i}].factor"),
            )
        )
    bonuses = {}
    for name, knode, v in doc.mapping(doc.required(f, root, "scorecard", "bonuses"), "bonuses"):
        if name not in event_types:
            raise doc.fail(knode, f"bonuses.{name}", "unknown event type (event_types.yaml)")
        bonuses[name] = doc.number(v, f"bonuses.{name}")
    direct = doc.strings(doc.required(f, root, "scorecard", "direct_d"), "direct_d")
    for name, n in zip(direct, doc.seq(f["direct_d"], "direct_d"), strict=True):
        if name not in event_types:
            raise doc.fail(n, f"direct_d.{name}", "unknown event type (event_types.yaml)")
    return Scorecard(
        version=doc.scalar(doc.required(f, root, "scorecard", "version"), "version"),
        base=doc.number(doc.required(f, root, "scorecard", "base"), "base"),
        grades=tuple(grades),
        deductions=deductions,
        recency=tuple(recency),
        bonuses=bonuses,
        direct_d=frozenset(direct),
    )


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load and cross-check the five catalog files of ``directory`` (default: the shipped ones)."""
    base = directory or CATALOG_DIR
    docs = {name: _Doc(base / name) for name in FILES}
    d = docs["departments.yaml"]
    departments = {
        k: d.scalar(v, f"departments.{k}")
        for k, _kn, v in d.mapping(d.section("departments"), "departments")
    }
    et_doc = docs["event_types.yaml"]
    event_types = _event_types(et_doc, departments)
    rules, transitional = _repair_rules(docs["repair_rules.yaml"])
    lists = _lists(docs["lists.yaml"], departments)
    # Cross-file checks: every list an event type names exists, every list has an event type.
    et_nodes = {
        name: k for name, k, _v in et_doc.mapping(et_doc.section("event_types"), "event_types")
    }
    for et in event_types.values():
        if et.list_type and et.list_type not in lists:
            raise et_doc.fail(
                et_nodes[et.key],
                f"{et.key}.list_type",
                f"unknown list type {et.list_type!r} (lists.yaml)",
            )
    l_doc = docs["lists.yaml"]
    listed = {et.list_type for et in event_types.values()}
    for name, knode, _v in l_doc.mapping(l_doc.section("lists"), "lists"):
        if name not in listed:
            raise l_doc.fail(
                knode, name, "no event type puts anyone on this list (event_types.yaml)"
            )
    aliases: dict[str, str] = {}
    for et in event_types.values():
        for a in et.aliases:
            if a in event_types or a in aliases:
                raise et_doc.fail(et_nodes[et.key], f"{et.key}.aliases", f"duplicate key {a!r}")
            aliases[a] = et.key
    scorecard = _scorecard(docs["scorecard.yaml"], event_types)
    return Catalog(departments, event_types, rules, transitional, lists, scorecard, aliases)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The shipped catalog, loaded once."""
    return load_catalog()
