"""The spilled ingest rows of a parallel run (a directory next to --out) do not outlive a
run killed with SIGKILL: the next run there removes them, and leaves alone those of a run
still going in the same parent directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resolver.linkage.link import SPILL_PREFIX, LinkConfig, run_link
from resolver.state import run_files
from resolver.workers import ForkedCall, can_fork
from tests.conftest import SAMPLE
from tests.test_cli_bad_input import cli


def _kill_once_spilling(out: Path) -> str:
    """Start ``credgraph link`` into ``out``, SIGKILL it as soon as its spill directory
    exists; the name of that directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDGRAPH_GRAPH")}
    args = ["link", str(SAMPLE / "batch"), "--out", str(out), "--no-state", "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "credgraph.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(out.parent.glob(SPILL_PREFIX + "*"))
            if found:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return found[0].name
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    pytest.fail(f"the run ended (exit code {proc.returncode}) before its rows were spilled")


def test_a_killed_runs_spilled_rows_are_removed_by_the_next_run(tmp_path: Path) -> None:
    if not can_fork():
        pytest.skip("one core: the run never forks here")
    out = tmp_path / "run dir 运行"  # a path with a space and Chinese
    left = _kill_once_spilling(out)
    assert (tmp_path / left).is_dir()  # what SIGKILL leaves: no clean-up ran
    result = run_link(SAMPLE / "batch", out, LinkConfig(salt="spill-test"))
    assert result.report["golden_entities"]
    assert (out / run_files.MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_spill_directories_of_running_processes_are_left_alone(tmp_path: Path) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        deadline = time.monotonic() + 20
        tag = None
        while tag is None and time.monotonic() < deadline:
            tag = run_files._process_tag(alive.pid)
        assert tag is not None
        theirs = tmp_path / f"{SPILL_PREFIX}{tag}-abc123"
        theirs.mkdir()
        unnamed = tmp_path / f"{SPILL_PREFIX}k2j4_x9q"  # no owner in the name: not touched
        unnamed.mkdir()
        dead_pid = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dead = tmp_path / f"{SPILL_PREFIX}{dead_pid}-12345-zz9"
        dead.mkdir()
        (dead / "group-0.pickle").write_bytes(b"x")
        mine = run_files.owned_temp_dir(tmp_path, SPILL_PREFIX)
        assert mine.name.startswith(f"{SPILL_PREFIX}{run_files._process_tag(os.getpid())}-")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [theirs.name, unnamed.name, mine.name]
        )
        alive.kill()
        alive.wait()
        again = run_files.owned_temp_dir(tmp_path, SPILL_PREFIX)  # theirs died since
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [unnamed.name, mine.name, again.name]
        )
    finally:
        alive.kill()
        alive.wait()


def _write_into(path: Path) -> None:
    path.write_text("x")  # path's parent is a file: NotADirectoryError


def test_a_helper_processes_os_error_arrives_as_an_os_error(tmp_path: Path) -> None:
    """(a full disk in a helper process: the command's one-line error, not a traceback)"""
    if not can_fork():
        pytest.skip("one core")
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "out.txt"
    with pytest.raises(NotADirectoryError) as caught:
        ForkedCall(lambda: _write_into(target)).result()
    assert caught.value.filename == str(target)
    assert "_write_into" in str(caught.value.__cause__)  # the child's traceback kept


def test_an_out_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for workers in ("1", "2"):
        proc = cli(
            *("link", str(SAMPLE / "batch"), "--out", str(tmp_path / "file" / "run")),
            *("--no-state", "--workers", workers),
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        # (one process: the run directory is not made; with helpers: their spill directory)
        said = proc.stderr.strip().splitlines()
        assert said in (
            [f"Error: cannot write the run: File exists ({tmp_path / 'file'})"],
            [f"Error: cannot write the run: Not a directory ({tmp_path / 'file' / 'run'})"],
        ), said
