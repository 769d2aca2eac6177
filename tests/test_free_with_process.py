"""What a command run as the ``credgraph`` process reads is freed with the process, not
object by object; in-process callers (tests, the API) free it as usual."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

PROBE = """
import gc, weakref
from resolver import gcpause
class Table(list):
    pass
if {owned}:
    gcpause.owns_process()
table = Table(["x"] * 1000)
ref = weakref.ref(table)
gcpause.free_with_process(table)
del table
gc.collect()
print("kept" if ref() is not None else "freed")
"""


def _probe(owned: bool) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(owned=owned)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_kept_until_the_process_ends_when_the_command_owns_it() -> None:
    assert _probe(True) == "kept"


def test_freed_as_usual_for_in_process_callers() -> None:
    assert _probe(False) == "freed"


def test_the_console_script_marks_the_process_as_the_commands() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "credgraph"]
    assert script.value == "credgraph.cli:run"
