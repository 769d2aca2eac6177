"""Rule expressions: conditions and gap formulas, parsed once and evaluated safely with
``simpleeval`` (arithmetic, comparisons, and/or and a few functions; no attribute access)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from simpleeval import SimpleEval

FUNCTIONS: dict[str, Callable[..., Any]] = {"max": max, "min": min, "abs": abs}


def compile_expression(text: str) -> ast.AST:
    """The parsed expression (raises SyntaxError with the parser's message)."""
    tree: ast.AST = SimpleEval().parse(" ".join(text.split()))
    return tree


class Evaluator:
    """Evaluates compiled expressions over a mapping of names (one per rule run)."""

    def __init__(self) -> None:
        self._eval = SimpleEval(functions=dict(FUNCTIONS))

    def __call__(self, tree: ast.AST, names: dict[str, Any]) -> Any:
        self._eval.names = names
        return self._eval.eval("", previously_parsed=tree)
