"""Issue 12, item 3: run output is atomic and complete; `load` refuses an incomplete run; an
applied batch can always have its run files written again; a killed ingest leaves no worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from fixtures.split import split_batch
from resolver.state.incremental import run_link_stateful
from tests.conftest import SAMPLE
from tests.reliability.helpers import run

MARKER = "run.json"  # the completion marker (resolver/state/run_files.py)
COMPARED = ("links.csv", "golden.jsonl", "edges.jsonl", "events.jsonl", "conflicts.csv")


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return split_batch(SAMPLE / "batch", tmp_path_factory.mktemp("parts"), 3)


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines())


def test_kill_right_after_the_state_commit_then_rerun_writes_the_complete_run(
    parts: list[Path], tmp_path: Path
) -> None:
    base = tmp_path / "base"
    run_link_stateful(parts[0], tmp_path / "r0", base)
    reference = tmp_path / "reference"
    shutil.copytree(base, reference)
    run_link_stateful(parts[1], tmp_path / "ref-run", reference)
    out = tmp_path / "run"
    killed = run(
        "link", str(parts[1]), "--out", str(out), "--state", str(base),
        env={"CREDGRAPH_FAULT_AT": "after_commit"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    assert not (out / MARKER).exists()
    from resolver.state.run_files import IncompleteRunError, verify

    with pytest.raises(IncompleteRunError, match="not a complete run"):
        verify(out)
    # `load` refuses it before touching any graph (the URI is never contacted).
    refused = run("load", str(out), "--uri", "falkordb://127.0.0.1:1/never")
    assert refused.returncode == 1
    assert "is not a complete run" in refused.stderr and "Traceback" not in refused.stderr
    again = run("link", str(parts[1]), "--out", str(out), "--state", str(base))
    assert again.returncode == 0, again.stderr
    assert "already applied" in again.stdout and "written again from the state" in again.stdout
    marker = verify(out)
    assert marker["batch_id"] == "sample-2026-11-2" and marker["complete"] is True
    for name in COMPARED:
        assert (out / name).read_bytes() == (tmp_path / "ref-run" / name).read_bytes(), name
        assert marker["files"][name]["rows"] == _lines(out / name) - name.endswith(".csv")


def test_load_refuses_a_truncated_or_unmarked_run(parts: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = run("link", str(parts[0]), "--out", str(out), "--no-state")
    assert done.returncode == 0, done.stderr
    marker = json.loads((out / MARKER).read_text("utf-8"))
    assert set(COMPARED) <= set(marker["files"])
    links = (out / "links.csv").read_bytes().splitlines(keepends=True)
    (out / "links.csv").write_bytes(b"".join(links[: len(links) // 4]))
    refused = run("load", str(out), "--uri", "falkordb://127.0.0.1:1/never")
    assert refused.returncode == 1
    assert "links.csv does not match run.json" in refused.stderr
    neo = tmp_path / "neo4j-import"
    refused = run("graph", "export-neo4j", str(out), "--out", str(neo))
    assert refused.returncode == 1
    assert "links.csv does not match run.json" in refused.stderr
    assert not neo.exists()
    (out / MARKER).unlink()
    refused = run("load", str(out), "--uri", "falkordb://127.0.0.1:1/never")
    assert "no run.json" in refused.stderr
    refused = run("graph", "export-neo4j", str(out), "--out", str(neo))
    assert refused.returncode == 1
    assert "no run.json" in refused.stderr
    assert not neo.exists()


def test_an_applied_batch_into_a_new_out_gets_its_files_from_the_state(
    parts: list[Path], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = run("link", str(parts[0]), "--out", str(tmp_path / "r1"), "--state", str(state))
    assert first.returncode == 0, first.stderr
    same = run("link", str(parts[0]), "--out", str(tmp_path / "r1"), "--state", str(state))
    assert "its run files are complete in" in same.stdout
    new = run("link", str(parts[0]), "--out", str(tmp_path / "r2"), "--state", str(state))
    assert new.returncode == 0, new.stderr
    assert "written again from the state to" in new.stdout
    assert (tmp_path / "r2" / MARKER).exists()
    for name in (*COMPARED, "report.json", "redirects.jsonl"):
        assert (tmp_path / "r2" / name).read_bytes() == (tmp_path / "r1" / name).read_bytes()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_a_killed_ingest_leaves_no_worker_process(
    generated: tuple[Path, object], tmp_path: Path
) -> None:
    batch = generated[0] / "batch"
    # No pipes: an orphaned worker would hold them open.
    proc = subprocess.Popen(
        [sys.executable, "-m", "credgraph.cli", "link", str(batch), "--out", str(tmp_path / "run"), "--no-state"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers: list[psutil.Process] = []
    for _ in range(600):  # until the ingest pool has started its workers
        workers = _descendants(proc.pid)
        if workers or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert workers, "the ingest started no worker process"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(100):
        if not _alive(workers):
            break
        time.sleep(0.1)
    orphans = _alive(workers)
    for p in orphans:  # clean up what this test started, then fail
        p.kill()
    assert orphans == []
    assert not (tmp_path / "run" / MARKER).exists()
