"""Worker processes that never outlive the command that started them.

A process pool's workers wait for work on a pipe; if the parent is killed with SIGKILL
(no clean-up runs), they would stay alive as orphans. Each worker asks the Linux kernel to
send it SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and checks that the
parent did not die before the request was made.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

PR_SET_PDEATHSIG = 1
R = TypeVar("R")


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: this worker is killed as soon as ``parent_pid`` dies."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request
        os.kill(os.getpid(), signal.SIGKILL)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process, however it dies."""
    return ProcessPoolExecutor(
        max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),)
    )


class ForkedCall(Generic[R]):
    """A function run in a forked child process while this one goes on with other work.

    The child sees this process's memory as it was at the fork (copy-on-write: nothing is
    pickled on the way in) and sends back only the function's result, pickled; it dies with
    its parent like the pool workers above. Use it for independent stages of a run whose
    inputs are large and whose results are small (two entity kinds' linkage, golden records
    written to a file). An exception in the child is raised here as a ``RuntimeError``
    carrying the child's traceback.
    """

    def __init__(self, func: Callable[[], R]) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child_end = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_run_forked, args=(func, child_end, os.getpid()), daemon=True
        )
        self._proc.start()
        child_end.close()
        self._outcome: tuple[str, Any] = ("error", "the worker process ended without a result")
        # The result is taken off the pipe as soon as the child sends it, so that the child
        # (and the memory it holds) is gone even if this process is still busy.
        self._receiver = threading.Thread(target=self._receive, daemon=True)
        self._receiver.start()

    def _receive(self) -> None:
        try:
            self._outcome = self._conn.recv()
        except EOFError:
            pass
        finally:
            self._conn.close()
            self._proc.join()

    def result(self) -> R:
        """Wait for the child and return what the function returned."""
        self._receiver.join()
        status, payload = self._outcome
        if status != "ok":
            raise RuntimeError(f"{payload} (exit code {self._proc.exitcode})")
        result: R = payload
        return result


def _run_forked(func: Callable[[], Any], conn: Connection, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    try:
        out: tuple[str, Any] = ("ok", func())
    except BaseException:  # the parent re-raises it with the traceback
        out = ("error", traceback.format_exc())
    conn.send(out)
    conn.close()
    # Out now: multiprocessing's own exit flushes stdout, whose lock another thread of the
    # parent (a progress display) may have held at the fork — a child waiting on it forever.
    os._exit(0)


def can_fork() -> bool:
    """Whether :class:`ForkedCall` can run work next to this process: the fork start method
    exists (Linux, macOS) and this process may use more than one core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return cores > 1 and "fork" in multiprocessing.get_all_start_methods()
