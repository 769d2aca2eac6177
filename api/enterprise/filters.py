"""``where`` filters and ``orderBy`` for enterprise lists, compiled to Cypher fragments.

Property names come from :data:`FIELDS` only; every value becomes a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError

#: GraphQL filter field → node property (the whitelist).
FIELDS = {
    "uid": "uid",
    "name": "name",
    "uscc": "uscc",
    "registration_status": "registration_status",
    "industry": "industry",
    "established": "established",
}
#: orderBy value → (property, direction).
ORDERS = {
    "NAME_ASC": ("name", "ASC"),
    "NAME_DESC": ("name", "DESC"),
    "UID_ASC": ("uid", "ASC"),
    "UID_DESC": ("uid", "DESC"),
    "ESTABLISHED_ASC": ("established", "ASC"),
    "ESTABLISHED_DESC": ("established", "DESC"),
}
MAX_FILTER_NODES = 50


@dataclass(slots=True)
class Compiled:
    params: dict[str, Any] = field(default_factory=dict)
    nodes: int = 0

    def param(self, value: Any) -> str:
        name = f"w{len(self.params)}"
        self.params[name] = value
        return "$" + name


def compile_where(where: dict[str, Any] | None, var: str = "e") -> tuple[str, dict[str, Any]]:
    """A ``where`` input as a Cypher condition and its parameters (``true`` when empty)."""
    c = Compiled()
    text = _node(where or {}, var, c)
    return text, c.params


def _node(where: dict[str, Any], var: str, c: Compiled) -> str:
    c.nodes += 1
    if c.nodes > MAX_FILTER_NODES:
        raise GraphQLError(f"where filter too large (more than {MAX_FILTER_NODES} conditions)")
    parts: list[str] = []
    for key, value in where.items():
        if value is None:
            continue
        if key == "AND":
            parts += [_node(w, var, c) for w in value]
        elif key == "OR":
            if value:
                parts.append("(" + " OR ".join(_node(w, var, c) for w in value) + ")")
        elif key == "NOT":
            parts.append(f"NOT ({_node(value, var, c)})")
        elif key in FIELDS:
            parts += _string_filter(f"{var}.{FIELDS[key]}", value, c)
        else:  # pragma: no cover - GraphQL validation rejects unknown input fields
            raise GraphQLError(f"unknown filter field {key!r}")
    return "(" + " AND ".join(parts) + ")" if parts else "true"


def _string_filter(prop: str, f: dict[str, Any], c: Compiled) -> list[str]:
    out = []
    if f.get("eq") is not None:
        out.append(f"{prop} = {c.param(f['eq'])}")
    values = f.get("in_", f.get("in"))
    if values is not None:
        if len(values) > 100:
            raise GraphQLError("an `in` filter takes at most 100 values")
        out.append(f"{prop} IN {c.param(list(values))}")
    if f.get("contains") is not None:
        out.append(f"{prop} CONTAINS {c.param(f['contains'])}")
    if f.get("starts_with") is not None:
        out.append(f"{prop} STARTS WITH {c.param(f['starts_with'])}")
    return out


def order_parts(order: str, var: str = "e") -> tuple[str, str, str]:
    """(key columns, ORDER BY text, keyset condition over $a1/$a2) for an orderBy value."""
    prop, direction = ORDERS[order]
    key = f"coalesce({var}.{prop}, '') AS k1, {var}.uid AS k2"
    op = ">" if direction == "ASC" else "<"
    after = (
        f"coalesce({var}.{prop}, '') {op} $a1 OR "
        f"(coalesce({var}.{prop}, '') = $a1 AND {var}.uid {op} $a2)"
    )
    return key, f"k1 {direction}, k2 {direction}", after
