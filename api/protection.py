"""What a request must pass before it runs: the role's field access (the matrix in
:mod:`api.permissions`), no introspection for the public, a depth limit and a cost limit.

Access and introspection are validation rules (they see the parent type of every field,
through aliases, fragments and inline fragments alike); depth and cost are measured on the
validated document with the request's variables (``first: $n`` counts as ``n``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)

from api import permissions

#: How many items a list field is assumed to return when no ``first`` argument says so.
LIST_ESTIMATES = {
    "members": 10,
    "relations": 50,
    "ultimateControllers": 10,
    "taxDeclarations": 10,
    "weights": 10,
    "paths": 5,
    "events": 10,
    "apiKeys": 20,
    "formerNames": 2,
    "redirects": 2,
    "entityIds": 1,
    # connections and lists with a ``first`` argument, at its default
    "search": 20,
    "enterprises": 20,
    "linkageJobs": 20,
    "reviewQueue": 20,
    "auditLog": 50,
}


def access_rule(role: str) -> type[ValidationRule]:
    """A validation rule refusing every field the role may not read, and — for the
    public — introspection."""

    class RoleAccess(ValidationRule):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            parent = self.context.get_parent_type()
            if parent is None:
                return
            field = node.name.value
            if field in ("__schema", "__type") and role == permissions.PUBLIC:
                self.report_error(
                    GraphQLError(
                        "introspection is off for the public role",
                        node,
                        extensions={"code": "INTROSPECTION_DISABLED"},
                    )
                )
                return
            if field not in getattr(parent, "fields", {}) and not field.startswith("__"):
                return  # no such field: graphql's own rule says so (not "may not read" it)
            if not permissions.allowed(role, parent.name, field):
                self.report_error(
                    GraphQLError(
                        f"role {role} may not read {parent.name}.{field}",
                        node,
                        extensions={"code": "FORBIDDEN"},
                    )
                )

    return RoleAccess


@dataclass(frozen=True, slots=True)
class Measure:
    depth: int
    cost: int


def measure(
    document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None
) -> Measure:
    """Depth and cost of the operation that will run (each field costs 1 per item of every
    list above it)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        ops = [o for o in ops if o.name and o.name.value == operation_name]
    if not ops:
        return Measure(0, 0)
    vars_ = variables or {}
    return _walk(ops[0].selection_set, fragments, vars_, 1, frozenset())


def _first(node: FieldNode, variables: dict[str, Any]) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value != "first":
            continue
        v = arg.value
        if isinstance(v, IntValueNode):
            return int(v.value)
        if isinstance(v, VariableNode):
            value = variables.get(v.name.value)
            return value if isinstance(value, int) else None
    return None


def _fields(
    sel: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> Iterable[FieldNode]:
    for s in sel.selections:
        if isinstance(s, FieldNode):
            yield s
        elif isinstance(s, InlineFragmentNode):
            yield from _fields(s.selection_set, fragments, seen)
        elif isinstance(s, FragmentSpreadNode):
            name = s.name.value
            if name in fragments and name not in seen:
                yield from _fields(fragments[name].selection_set, fragments, seen | {name})


def _walk(
    sel: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    multiplier: int,
    seen: frozenset[str],
) -> Measure:
    depth, cost = 0, 0
    for f in _fields(sel, fragments, seen):
        cost += multiplier
        if f.selection_set is None:
            depth = max(depth, 1)
            continue
        name = f.name.value
        first = _first(f, variables)
        items = first if first is not None else LIST_ESTIMATES.get(name, 1)
        if name in ("edges", "node", "pageInfo"):
            items = 1
        inner = _walk(f.selection_set, fragments, variables, multiplier * max(1, items), seen)
        # Introspection's ``ofType`` unwraps one list/non-null wrapper: one object, as deep
        # as the schema wraps a type (nothing multiplies), which a client's standard
        # introspection query (GraphiQL's) follows nine levels down.
        depth = max(depth, inner.depth + (0 if name == "ofType" else 1))
        cost += inner.cost
    return Measure(depth, cost)


def validation_rules(role: str) -> list[type[ValidationRule]]:
    return [access_rule(role)]
