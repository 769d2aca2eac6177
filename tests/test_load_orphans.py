"""A load killed with SIGKILL leaves none of its forked processes behind: the run's second
reader (graph/load.py) and the bulk path's relationship packer (graph/bulk.py) die with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from tests.test_bulk_payload import _run as awkward_run


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _child_outlives_a_kill(code: str, *args: str) -> bool:
    """Run ``code`` (it prints its forked child's PID, then sleeps), kill it with SIGKILL:
    whether the child is still running a while later."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    try:
        assert _alive(child)  # at work, or waiting for its output to be read
        proc.kill()
        assert proc.wait() == -signal.SIGKILL
        for _ in range(200):  # the kernel's SIGKILL is at once; allow for a loaded machine
            if not _alive(child):
                return False
            time.sleep(0.05)
        return True
    finally:
        with suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        proc.stdout.close()


def test_the_second_reader_dies_with_the_load(tmp_path: Path) -> None:
    run = awkward_run(tmp_path)
    edges = run / "edges.jsonl"
    edges.unlink()
    os.mkfifo(edges)  # nobody writes it: its reader waits for as long as it lives
    code = (
        "import sys, time; from pathlib import Path; from graph import load; "
        "load.SPLIT_READ_BYTES = 0; reader = load._MentionReader(Path(sys.argv[1])); "
        "print(reader.proc.pid, flush=True); time.sleep(600)"
    )
    assert not _child_outlives_a_kill(code, str(run)), "the forked reader outlived the load"


def test_the_relationship_packer_dies_with_the_load() -> None:
    # More tokens than a pipe holds: unread, the packer waits on its queue for ever.
    code = """
import time
from graph import bulk
from graph.load import RunGraph
n = 20_000
g = RunGraph()
g.nodes = {
    "Enterprise": [{"uid": f"E{i}", "props": {"uid": f"E{i}"}} for i in range(n)],
    "Person": [{"uid": "P0", "props": {"uid": "P0"}}],
}
g.rels = {
    ("HOLDS_SHARES", "Person", "Enterprise"): [
        {"src": "P0", "dst": f"E{i}", "props": {"ratio": 0.5}, "w": 1} for i in range(n)
    ]
}
packer = bulk._RelPacker(g, bulk.node_ids(g))
print(packer.proc.pid, flush=True)
time.sleep(600)
"""
    assert not _child_outlives_a_kill(code), "the packing process outlived the load"
