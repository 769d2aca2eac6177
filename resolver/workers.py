"""Worker processes that never outlive the command that started them.

A process pool's workers wait for work on a pipe; if the parent is killed with SIGKILL
(no clean-up runs), they would stay alive as orphans. Each worker asks the Linux kernel to
send it SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and checks that the
parent did not die before the request was made.
"""

from __future__ import annotations

import contextlib
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


class FedCall(Generic[R]):
    """A function run in a child process forked *before* its input exists, fed afterwards.

    A child forked late shares all of this process's pages, and every page either process
    writes while the child lives is copied (CPython writes reference counts into every
    object it touches): at a million records that doubled ~1.3 GB. Forked early, while this
    process is small, the child shares next to nothing; its input comes over a pipe instead
    (:meth:`feed`, any picklable item, e.g. bytes already pickled by another worker), and
    :meth:`start` sends the last argument: the child then returns ``func(items, arg)``.
    Errors come back as with :class:`ForkedCall`; :meth:`cancel` ends a child never started.
    """

    def __init__(self, func: Callable[[list[Any], Any], R]) -> None:
        ctx = multiprocessing.get_context("fork")
        inbox, self._feed = ctx.Pipe(duplex=False)
        feed = self._feed
        self._call: ForkedCall[R] = ForkedCall(lambda: _serve(func, inbox, feed))
        inbox.close()
        self._open = True

    def feed(self, item: Any) -> None:
        """Send one item of the child's input (kept in order)."""
        self._feed.send(("item", item))

    def start(self, arg: Any) -> None:
        """Send the last argument: the child runs ``func(items, arg)`` now."""
        self._feed.send(("go", arg))
        self._close()

    def result(self) -> R:
        """Wait for the child and return what the function returned."""
        return self._call.result()

    def cancel(self) -> None:
        """End a child that was never started (no-op once started)."""
        if self._open:
            with contextlib.suppress(OSError):
                self._feed.send(("stop", None))
            self._close()

    def _close(self) -> None:
        self._open = False
        self._feed.close()


def _serve(func: Callable[[list[Any], Any], R], inbox: Connection, feed: Connection) -> R:
    feed.close()  # this process's copy of the parent's end
    items: list[Any] = []
    while True:
        tag, payload = inbox.recv()
        if tag == "item":
            items.append(payload)
        elif tag == "go":
            inbox.close()
            return func(items, payload)
        else:
            raise RuntimeError("cancelled before it was started")
