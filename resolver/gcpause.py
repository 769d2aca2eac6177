"""The cyclic garbage collector paused for the length of a run.

A link run or a graph load holds a million records (a few million dicts and strings) and allocates millions
of small objects on top of them; each full collection walks all of them, and CPython starts
one whenever enough new objects have survived — at a million records that is most of the
run's time spent in collections that free nothing (the run's data holds no reference
cycles: records, pairs and payloads are trees). Reference counting still frees everything
as usual; cycles left over are collected when the collector is enabled again.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector inside the block (restored afterwards, also on error)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def without_gc(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` with the cyclic collector paused (:func:`paused_gc`)."""

    @wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused_gc():
            return func(*args, **kwargs)

    return run
