"""Worker processes that never outlive the command that started them.

A process pool's workers wait for work on a pipe; if the parent is killed with SIGKILL
(no clean-up runs), they would stay alive as orphans. Each worker asks the Linux kernel to
send it SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and checks that the
parent did not die before the request was made.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1


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
