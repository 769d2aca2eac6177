"""The rule catalog: ``catalog/rules/*.yaml`` and ``catalog/tables.yaml``, loaded and validated
once. Errors name the file, the key and the line; code elsewhere only interprets the model."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tax.expr import Expression

CATALOG_DIR = Path(__file__).parent / "catalog"
SCOPES = ("quarter", "due", "entity")
NODES = ("Fact", "TaxDeclaration")
#: Fields a selector may match on, per node label.
MATCH_FIELDS = {"Fact": ("fact_type", "dept"), "TaxDeclaration": ("tax_type", "dept")}
#: Numeric fields an aggregate may read, per node label.
VALUE_FIELDS = {
    "Fact": ("amount", "quantity"),
    "TaxDeclaration": ("taxable_amount", "tax_paid"),
}
AGGREGATES = ("sum", "count", "max", "min")
ENTITY_FIELDS = ("registration_status", "industry", "uscc_prefix", "name_suffix")
#: Names the engine provides to every expression besides values, params and lookups.
BUILTIN_NAMES = ("days_registered", "period_days")
_AGG = re.compile(r"^\s*(sum|count|max|min)\(\s*([a-z_][a-z0-9_]*)(?:\.([a-z_]+))?\s*\)\s*$")
_ID = re.compile(r"^T\d{2}$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class CatalogError(ValueError):
    """A catalog file that does not follow the schema (message: file:line: key: problem)."""


@dataclass(frozen=True, slots=True)
class Selector:
    name: str
    node: str
    match: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Aggregate:
    name: str
    func: str
    input: str
    field: str | None


@dataclass(frozen=True, slots=True)
class Lookup:
    name: str
    table: str
    key: str


@dataclass(slots=True)
class Rule:
    id: str
    title: str
    description: str
    scope: str
    inputs: dict[str, Selector]
    values: list[Aggregate]
    params: dict[str, float]
    condition: str
    gap: str
    confidence: float
    source: str
    require: tuple[str, ...] = ()
    expects: tuple[str, ...] = ()
    due_inputs: tuple[str, ...] = ()
    grace_days: int = 0
    lookups: list[Lookup] = field(default_factory=list)
    entity_filter: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exempt: dict[str, tuple[str, ...]] = field(default_factory=dict)
    compiled: dict[str, Expression] = field(default_factory=dict)


@dataclass(slots=True)
class Catalog:
    rules: dict[str, Rule]
    tables: dict[str, dict[str, float]]
    aliases: dict[str, str]
    name_industries: dict[str, str] = field(default_factory=dict)

    def industry_from_name(self, name: str | None) -> str | None:
        """The industry section the trade word of a name implies (longest word first)."""
        if not name:
            return None
        hits = [w for w in self.name_industries if w in name]
        return self.name_industries[max(hits, key=len)] if hits else None

    def lookup(self, table: str, key: str | None) -> float | None:
        """A table value for a key (section names are mapped to their letter first)."""
        if key is None:
            return None
        return self.tables[table].get(self.aliases.get(key, key))


def _build(node: yaml.Node, lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> Any:
    """A YAML node as Python data, recording the line of every mapping key."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for k, v in node.value:
            key = str(k.value)
            lines[(*path, key)] = k.start_mark.line + 1
            out[key] = _build(v, lines, (*path, key))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, lines, (*path, str(i))) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _read(path: Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    lines: dict[tuple[str, ...], int] = {}
    try:
        node = yaml.compose(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise CatalogError(f"{path}:{line}: not valid YAML ({exc})") from exc
    if node is None:
        raise CatalogError(f"{path}:1: the file is empty")
    return _build(node, lines, ()), lines


class _Checker:
    def __init__(self, path: Path, lines: dict[tuple[str, ...], int]) -> None:
        self.path = path
        self.lines = lines

    def fail(self, keys: tuple[str, ...], problem: str) -> CatalogError:
        line = 1
        for n in range(len(keys), -1, -1):
            if keys[:n] in self.lines:
                line = self.lines[keys[:n]]
                break
        where = ".".join(keys) or "(top)"
        return CatalogError(f"{self.path}:{line}: {where}: {problem}")

    def mapping(self, data: Any, keys: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(keys, "expected a mapping")
        return data

    def strings(self, data: Any, keys: tuple[str, ...]) -> tuple[str, ...]:
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise self.fail(keys, "expected a list of strings")
        return tuple(data)

    def number(self, data: Any, keys: tuple[str, ...]) -> float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise self.fail(keys, f"expected a number, got {data!r}")
        return float(data)


def load_catalog(directory: Path = CATALOG_DIR) -> Catalog:
    """Load and validate every rule and the lookup tables."""
    tables_path = directory / "tables.yaml"
    data, lines = _read(tables_path)
    chk = _Checker(tables_path, lines)
    top = chk.mapping(data, ())
    for key in top:
        if key not in ("aliases", "tables", "name_industries"):
            raise chk.fail((key,), "unknown key (allowed: aliases, name_industries, tables)")
    aliases = {str(k): str(v) for k, v in chk.mapping(top.get("aliases", {}), ("aliases",)).items()}
    tables: dict[str, dict[str, float]] = {}
    for name, table in chk.mapping(top.get("tables", {}), ("tables",)).items():
        rows = chk.mapping(table, ("tables", name))
        tables[name] = {str(k): chk.number(v, ("tables", name, str(k))) for k, v in rows.items()}
    name_industries = {
        str(k): str(v)
        for k, v in chk.mapping(top.get("name_industries", {}), ("name_industries",)).items()
    }
    rules: dict[str, Rule] = {}
    files = sorted((directory / "rules").glob("*.yaml"))
    if not files:
        raise CatalogError(f"{directory / 'rules'}: no rule files")
    for path in files:
        rule = _rule(path, tables)
        if rule.id in rules:
            raise CatalogError(f"{path}:1: id: {rule.id} is defined twice")
        rules[rule.id] = rule
    return Catalog(rules=rules, tables=tables, aliases=aliases, name_industries=name_industries)


_RULE_KEYS = {
    "id",
    "title",
    "description",
    "scope",
    "due",
    "inputs",
    "require",
    "expects",
    "values",
    "lookups",
    "params",
    "condition",
    "gap",
    "confidence",
    "entity_filter",
    "exempt",
}


def _rule(path: Path, tables: dict[str, dict[str, float]]) -> Rule:
    data, lines = _read(path)
    chk = _Checker(path, lines)
    top = chk.mapping(data, ())
    for key in top:
        if key not in _RULE_KEYS:
            raise chk.fail((key,), f"unknown key (allowed: {', '.join(sorted(_RULE_KEYS))})")
    for key in ("id", "title", "scope", "inputs", "values", "condition", "gap", "confidence"):
        if key not in top:
            raise chk.fail((), f"missing required key {key!r}")
    rid = str(top["id"])
    if not _ID.match(rid):
        raise chk.fail(("id",), f"{rid!r} is not a rule id like T07")
    scope = top["scope"]
    if scope not in SCOPES:
        raise chk.fail(("scope",), f"{scope!r} is not one of {', '.join(SCOPES)}")
    inputs: dict[str, Selector] = {}
    for name, spec in chk.mapping(top["inputs"], ("inputs",)).items():
        keys = ("inputs", name)
        if not _NAME.match(name):
            raise chk.fail(keys, "an input name is lower_case letters, digits and _")
        spec = chk.mapping(spec, keys)
        node = spec.get("node")
        if node not in NODES:
            raise chk.fail((*keys, "node"), f"{node!r} is not one of {', '.join(NODES)}")
        match: dict[str, tuple[str, ...]] = {}
        for fld, vals in chk.mapping(spec.get("match", {}), (*keys, "match")).items():
            if fld not in MATCH_FIELDS[node]:
                raise chk.fail(
                    (*keys, "match", fld),
                    f"a {node} matches on {', '.join(MATCH_FIELDS[node])}",
                )
            match[fld] = chk.strings(vals, (*keys, "match", fld))
        inputs[name] = Selector(name, node, match)
    known_inputs = set(inputs)

    def input_list(key: str) -> tuple[str, ...]:
        names = chk.strings(top.get(key, []), (key,))
        for n in names:
            if n not in known_inputs:
                raise chk.fail((key,), f"{n!r} is not an input of this rule")
        return names

    params = {
        str(k): chk.number(v, ("params", str(k)))
        for k, v in chk.mapping(top.get("params", {}), ("params",)).items()
    }
    values: list[Aggregate] = []
    for name, text in chk.mapping(top["values"], ("values",)).items():
        keys = ("values", name)
        m = _AGG.match(str(text))
        if not m:
            raise chk.fail(keys, f"{text!r}: write AGG(input.field), AGG one of {AGGREGATES}")
        func, inp, fld = m.groups()
        if inp not in inputs:
            raise chk.fail(keys, f"{inp!r} is not an input of this rule")
        if func != "count" and fld not in VALUE_FIELDS[inputs[inp].node]:
            raise chk.fail(
                keys,
                f"{func} needs a field of {inputs[inp].node}: {', '.join(VALUE_FIELDS[inputs[inp].node])}",
            )
        values.append(Aggregate(name, func, inp, fld))
    lookups: list[Lookup] = []
    for name, spec in chk.mapping(top.get("lookups", {}), ("lookups",)).items():
        spec = chk.mapping(spec, ("lookups", name))
        if spec.get("table") not in tables:
            raise chk.fail(("lookups", name, "table"), f"no table {spec.get('table')!r}")
        if spec.get("key") not in ("industry",):
            raise chk.fail(("lookups", name, "key"), "the key is an entity field: industry")
        lookups.append(Lookup(name, str(spec["table"]), str(spec["key"])))
    names = {a.name for a in values} | set(params) | {lk.name for lk in lookups}
    names |= set(BUILTIN_NAMES)
    compiled: dict[str, Expression] = {}
    for key in ("condition", "gap"):
        try:
            expr = Expression(str(top[key]))
        except SyntaxError as exc:
            raise chk.fail((key,), f"not a valid expression: {exc.msg}") from exc
        unknown = sorted(expr.names - names)
        if unknown:
            raise chk.fail((key,), f"unknown name {unknown[0]!r}")
        compiled[key] = expr
    due_inputs: tuple[str, ...] = ()
    grace = 0
    if scope == "due":
        due = chk.mapping(top.get("due"), ("due",))
        due_inputs = chk.strings(due.get("inputs"), ("due", "inputs"))
        for n in due_inputs:
            if n not in known_inputs or inputs[n].node != "Fact":
                raise chk.fail(("due", "inputs"), f"{n!r} is not a Fact input of this rule")
        grace = int(chk.number(due.get("grace_days"), ("due", "grace_days")))
    elif "due" in top:
        raise chk.fail(("due",), "only a rule with scope 'due' has a due block")
    confidence = chk.number(top["confidence"], ("confidence",))
    if not 0 < confidence <= 1:
        raise chk.fail(("confidence",), "a confidence is in (0, 1]")

    def field_filter(key: str) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for name, vals in chk.mapping(top.get(key, {}), (key,)).items():
            if name not in ENTITY_FIELDS:
                raise chk.fail((key, name), f"an entity field is one of {', '.join(ENTITY_FIELDS)}")
            out[name] = chk.strings(vals, (key, name))
        return out

    return Rule(
        id=rid,
        title=str(top["title"]),
        description=str(top.get("description", "")),
        scope=scope,
        inputs=inputs,
        values=values,
        params=params,
        condition=str(top["condition"]),
        gap=str(top["gap"]),
        confidence=confidence,
        source=str(path),
        require=input_list("require"),
        expects=input_list("expects"),
        due_inputs=due_inputs,
        grace_days=grace,
        lookups=lookups,
        entity_filter=field_filter("entity_filter"),
        exempt=field_filter("exempt"),
        compiled=compiled,
    )
