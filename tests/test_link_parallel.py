"""The one-shot run's helper processes (persons; the enterprises' golden records) change
nothing but the time and the memory: the same files, byte for byte, as the run in one
process; and the pieces they rely on (resolver.workers.ForkedCall and FedCall, golden_ids,
csvsafe's fast path) agree with their plain forms."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import pytest

from resolver.csvsafe import neutralise, safe_writer
from resolver.ingest.manifest import load_manifest
from resolver.linkage.link import LinkConfig, _ingest, golden_id, golden_ids, link_kind, run_link
from resolver.workers import FedCall, ForkedCall, can_fork
from tests.conftest import SAMPLE

RUN_FILES = (
    "golden.jsonl",
    "edges.jsonl",
    "events.jsonl",
    "links.csv",
    "conflicts.csv",
    "review.csv",
    "model.json",
    "rejects.csv",
)


def _without_timings(report: dict[str, object]) -> dict[str, object]:
    out = {k: v for k, v in report.items() if k != "timings"}
    entities = report["entities"]
    assert isinstance(entities, dict)
    out["entities"] = {
        kind: {k: v for k, v in stats.items() if k != "timings"} for kind, stats in entities.items()
    }
    return out


def test_forked_workers_write_the_same_run_as_one_process(tmp_path: Path) -> None:
    if not can_fork():
        pytest.skip("one core: the run never forks here")
    cfg = LinkConfig(salt="parallel-test")
    forked = run_link(SAMPLE / "batch", tmp_path / "forked", cfg)
    alone = run_link(
        SAMPLE / "batch", tmp_path / "alone", LinkConfig(salt="parallel-test", parallel=False)
    )
    for name in RUN_FILES:
        a = (tmp_path / "forked" / name).read_bytes()
        b = (tmp_path / "alone" / name).read_bytes()
        assert a == b, name
    assert _without_timings(forked.report) == _without_timings(alone.report)
    golden = (tmp_path / "forked" / "golden.jsonl").read_text("utf-8").splitlines()
    types = [json.loads(line)["type"] for line in golden]
    persons = sum(1 for t in types if t == "Person")
    # enterprises first, then the persons the worker wrote, then mention-only entities
    assert types[: types.index("Person")] == ["Enterprise"] * types.index("Person")
    assert persons == forked.report["golden_entities"]["Person"]
    assert not list((tmp_path / "forked").glob("golden-person*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone", "forked"]  # no spilled rows
    assert forked.report["timings"]["linkage"] >= forked.report["timings"]["link_enterprise"]


def test_golden_ids_equal_golden_id_per_cluster() -> None:
    records, _rejects, _files = _ingest(load_manifest(SAMPLE / "batch"), None, workers=1)
    persons = [r for r in records.values() if r.kind == "person"]
    res = link_kind("person", persons, LinkConfig(salt="x"))
    assert len(res.clusters) > 10
    expected = [golden_id("person", [persons[i] for i in c]) for c in res.clusters]
    assert golden_ids("person", persons, res.clusters) == expected
    assert golden_ids("person", persons, []) == []


def _boom() -> int:
    raise ValueError("bad value in the worker")


def test_forked_call_returns_the_result_and_raises_the_worker_error() -> None:
    if not can_fork():
        pytest.skip("one core")
    parent = os.getpid()
    assert ForkedCall(lambda: (os.getpid() != parent, [1, 2, 3])).result() == (True, [1, 2, 3])
    with pytest.raises(RuntimeError, match="ValueError: bad value in the worker"):
        ForkedCall(_boom).result()


def _total(items: list[object], arg: object) -> tuple[int, list[object], object]:
    return os.getpid(), items, arg


def _fail_on_items(items: list[object], arg: object) -> int:
    raise ValueError(f"{len(items)} items, arg {arg}")


def test_fed_call_gets_its_items_in_order_and_returns_or_raises() -> None:
    """The helper processes of a run (forked before ingest, fed afterwards)."""
    if not can_fork():
        pytest.skip("one core")
    call = FedCall(_total)
    payload = bytes(range(256)) * 4096  # a pickled ingest group: ~1 MiB
    for item in (b"a", payload, {"x": [1, 2]}):
        call.feed(item)
    call.start(("go", 7))
    pid, items, arg = call.result()
    assert pid != os.getpid()
    assert items == [b"a", payload, {"x": [1, 2]}]
    assert arg == ("go", 7)
    call.cancel()  # started: nothing to cancel

    failing = FedCall(_fail_on_items)
    failing.feed(1)
    failing.start("z")
    with pytest.raises(RuntimeError, match="ValueError: 1 items, arg z"):
        failing.result()

    never = FedCall(_total)
    never.feed(1)
    never.cancel()
    with pytest.raises(RuntimeError, match="cancelled before it was started"):
        never.result()


def test_a_failed_run_leaves_no_helper_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that fails after its helper processes were forked (here ingest fails as a disk
    would) ends them instead of leaving them waiting for rows that never come."""
    if not can_fork():
        pytest.skip("one core")
    import multiprocessing

    from resolver.linkage import link

    def disk_gone(*_args: object) -> None:
        assert len(multiprocessing.active_children()) == 2  # the helpers, forked already
        raise OSError("disk gone")

    monkeypatch.setattr(link, "_ingest", disk_gone)
    with pytest.raises(OSError, match="disk gone"):
        run_link(SAMPLE / "batch", tmp_path / "out", LinkConfig(salt="x"))
    # (each helper is joined by its own receiving thread: poll rather than join here)
    deadline = time.monotonic() + 20
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == []
    assert list(tmp_path.iterdir()) == []  # the spilled rows' directory went too


@pytest.mark.parametrize(
    "cell",
    ["=1+2", "+7", "-12.5", "-x", "@a", "\tx", "\rx", "'=x", "''", "'a", "a", "", "中文", "1.0"],
)
def test_safe_writer_writes_what_neutralise_gives(cell: str) -> None:
    fast, plain = io.StringIO(), io.StringIO()
    safe_writer(fast).writerows([[cell, 1.5, None, cell]])
    safe_writer(fast).writerow([cell])
    w = csv.writer(plain, lineterminator="\n")
    w.writerow([neutralise(cell), 1.5, None, neutralise(cell)])
    w.writerow([neutralise(cell)])
    assert fast.getvalue() == plain.getvalue()


def test_link_workers_1_stays_in_one_process_and_writes_the_same_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`credgraph link --workers 1` (the lowest peak memory) forks nothing, neither for
    ingest nor for linkage, and writes what the default run writes."""
    from click.testing import CliRunner

    from credgraph.cli import main

    runner = CliRunner()
    args = ["link", str(SAMPLE / "batch"), "--no-state", "--out"]
    res = runner.invoke(main, [*args, str(tmp_path / "default")])
    assert res.exit_code == 0, res.output

    def no_fork() -> int:
        raise AssertionError("--workers 1 forked a process")

    monkeypatch.setattr(os, "fork", no_fork)
    res = runner.invoke(main, [*args, str(tmp_path / "one"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    for name in RUN_FILES:
        assert (tmp_path / "one" / name).read_bytes() == (
            tmp_path / "default" / name
        ).read_bytes(), name
    res = runner.invoke(main, [*args, str(tmp_path / "two"), "--workers", "2"])
    # the default and N > 1 do fork (here os.fork refuses)
    assert res.exit_code != 0 and "forked a process" in f"{res.output}{res.exception!r}"

    res = runner.invoke(
        main, [*args, str(tmp_path / "spark"), "--workers", "1", "--engine", "spark"]
    )
    assert res.exit_code == 2 and "--workers is for --engine local" in res.output
