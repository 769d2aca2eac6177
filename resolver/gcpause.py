"""The cyclic garbage collector paused for the length of a run.

A link run or a graph load holds a million records (a few million dicts and strings) and allocates millions
of small objects on top of them; each full collection walks all of them, and CPython starts
one whenever enough new objects have survived — at a million records that is most of the
run's time spent in collections that free nothing (the run's data holds no reference
cycles: records, pairs and payloads are trees). Reference counting still frees everything
as usual; cycles left over are collected when the collector is enabled again.

At exit, CPython runs one last full collection over every object still alive (module caches,
tables loaded once): a command that ends with the process skips it
(:func:`no_collection_at_exit`); the memory goes back to the system with the process anyway.

A command run as the ``credgraph`` process (not called in-process by a test or the API)
may hand what it read to the process's end instead of freeing it object by object
(:func:`free_with_process`): a graph load's tables are a few million strings, ≈ 0.35 CPU s
to free, and the system takes the memory back with the process anyway.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

_EXIT_HOOK: list[bool] = []

#: Set by the console script: the running command is the whole life of this process.
_PROCESS_OWNED: list[bool] = []

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


def no_collection_at_exit() -> None:
    """Freeze the collector when the interpreter exits, so that its final full collection
    (a few tenths of a second after a run that loaded its tables and caches) is skipped;
    files are closed by ``with`` blocks, never left to a collection. Registered once."""
    if not _EXIT_HOOK:
        atexit.register(gc.freeze)
        _EXIT_HOOK.append(True)


def owns_process() -> None:
    """Mark that the command about to run is the whole life of this process (called by the
    ``credgraph`` console script only, never by in-process callers)."""
    _PROCESS_OWNED.append(True)


def free_with_process(obj: object) -> None:
    """When the process is the command's own (:func:`owns_process`), keep ``obj`` until the
    process ends and never free it object by object: it is put in a reference cycle that the
    collector no longer examines (:func:`gc.freeze`), and the interpreter's teardown does not
    reach it either. In-process callers free ``obj`` as usual when they drop it. Use only for
    plain data (no open files, no finalisers)."""
    if not _PROCESS_OWNED:
        return
    holder: list[object] = [obj]
    holder.append(holder)
    gc.freeze()
