"""Two runs written into one directory at once: the second is refused with a clear message
(never two runs' files over each other); staging left by a killed run is cleared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from resolver.state import run_files
from tests.conftest import SAMPLE
from tests.test_cli_bad_input import cli


def _writer(out: Path) -> subprocess.Popen[str]:
    """A process that has begun writing a run into ``out`` and is still at it."""
    code = (
        "import sys, time; from pathlib import Path; from resolver.state import run_files; "
        "print(run_files.begin(Path(sys.argv[1])), flush=True); time.sleep(600)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True
    )


def test_a_directory_being_written_is_refused_until_its_writer_dies(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_files.write_run(out, [("a.txt", b"x\n")], {"batch_id": "b1"})
    writer = _writer(out)
    assert writer.stdout is not None
    try:
        theirs = Path(writer.stdout.readline().strip())
        assert theirs.is_dir()
        with pytest.raises(
            run_files.RunDirBusyError, match=rf"another process \(pid {writer.pid}\)"
        ):
            run_files.begin(out)
        assert theirs.is_dir()  # left alone
        assert (out / "a.txt").read_bytes() == b"x\n"  # nor the run's files replaced
        assert [p.name for p in out.glob(run_files.STAGING_PREFIX + "*")] == [theirs.name]
        proc = cli("link", str(SAMPLE / "batch"), "--out", str(out), "--no-state")
        assert proc.returncode == 1
        assert f"another process (pid {writer.pid}) is writing a run there" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    mine = run_files.begin(out)  # the killed writer's staging is cleared
    assert [p.name for p in out.glob(run_files.STAGING_PREFIX + "*")] == [mine.name]
    assert str(os.getpid()) in mine.name
    assert not (out / run_files.MARKER).exists()  # being rewritten: not complete
