"""Rule expressions: conditions and gap formulas.

An expression is parsed with :mod:`ast`, checked against a small whitelist (numbers, names,
arithmetic, comparisons, ``and``/``or``/``not``, and calls of ``max``/``min``/``abs``) and
compiled twice: for one group of plain numbers (``__call__``), and vectorised over columns
(``columns``: numpy arrays, one element per entity × period; ``and``/``or``/``not`` become
element-wise logic, ``max``/``min``/``abs`` element-wise functions, a chained comparison the
conjunction of its links), so a rule is evaluated for every group of a run at once.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import reduce
from types import CodeType
from typing import Any

import numpy as np

FUNCTIONS: dict[str, Callable[..., Any]] = {"max": max, "min": min, "abs": abs}
_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.UnaryOp,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.Compare,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Eq,
    ast.NotEq,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
)


def _reduce(fn: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    return lambda *args: reduce(fn, args)


VECTOR_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "_and": _reduce(np.logical_and),
    "_or": _reduce(np.logical_or),
    "_not": np.logical_not,
    "_max": _reduce(np.maximum),
    "_min": _reduce(np.minimum),
    "_abs": np.abs,
}


def _call(name: str, args: list[ast.expr]) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=[])


class _Vectorise(ast.NodeTransformer):
    """Rewrites a checked expression into its element-wise form (see the module docstring)."""

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        return _call("_and" if isinstance(node.op, ast.And) else "_or", list(node.values))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        return _call("_not", [node.operand]) if isinstance(node.op, ast.Not) else node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) == 1:
            return node
        links: list[ast.expr] = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            links.append(ast.Compare(left=left, ops=[op], comparators=[right]))
            left = right
        return _call("_and", links)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        assert isinstance(node.func, ast.Name)
        return _call("_" + node.func.id, list(node.args))


class Expression:
    """A checked, compiled expression; ``names`` lists the variables it reads."""

    def __init__(self, text: str) -> None:
        self.text = " ".join(text.split())
        tree = ast.parse(self.text, mode="eval")
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED):
                raise SyntaxError(f"{type(node).__name__} is not allowed in a rule expression")
            if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
                raise SyntaxError(f"only numbers are allowed as constants, not {node.value!r}")
            if isinstance(node, ast.Call) and (
                not isinstance(node.func, ast.Name)
                or node.func.id not in FUNCTIONS
                or node.keywords
            ):
                raise SyntaxError(f"only {', '.join(FUNCTIONS)} may be called")
        self.names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(FUNCTIONS)
        self.code: CodeType = compile(tree, "<rule>", "eval")
        self._globals: dict[str, Any] = {"__builtins__": {}, **FUNCTIONS}
        vector = ast.fix_missing_locations(_Vectorise().visit(ast.parse(self.text, mode="eval")))
        self.vector_code: CodeType = compile(vector, "<rule>", "eval")
        self._vector_globals: dict[str, Any] = {"__builtins__": {}, **VECTOR_FUNCTIONS}

    def __call__(self, names: dict[str, Any]) -> Any:
        return eval(self.code, self._globals, names)

    def columns(self, names: dict[str, Any], size: int) -> np.ndarray:
        """The expression over columns (arrays of ``size`` elements, or plain numbers) as
        an array of ``size`` elements; NaN compares false, and no arithmetic warns."""
        with np.errstate(all="ignore"):
            value = eval(self.vector_code, self._vector_globals, names)
        return np.broadcast_to(np.asarray(value), (size,))
