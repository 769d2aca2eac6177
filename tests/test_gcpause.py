"""The collector's final pass at exit is skipped after ``no_collection_at_exit``."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from resolver.gcpause import no_collection_at_exit

class Cycle:
    def __del__(self):
        sys.stdout.write("collected\\n")
        sys.stdout.flush()

a = Cycle()
a.me = a
del a
if sys.argv[1] == "skip":
    no_collection_at_exit()
    no_collection_at_exit()  # registered once
"""


def _run(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_final_collection_runs_by_default_and_is_skipped_when_asked() -> None:
    assert _run("keep") == "collected\n"
    assert _run("skip") == ""
