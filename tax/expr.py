"""Rule expressions: conditions and gap formulas.

An expression is parsed with :mod:`ast`, checked against a small whitelist (numbers, names,
arithmetic, comparisons, ``and``/``or``/``not``, and calls of ``max``/``min``/``abs``) and
compiled once; evaluation is then a plain ``eval`` of the code object with no builtins, a
few microseconds per group (a full run evaluates hundreds of thousands).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from types import CodeType
from typing import Any

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

    def __call__(self, names: dict[str, Any]) -> Any:
        return eval(self.code, self._globals, names)
