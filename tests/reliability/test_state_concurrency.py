"""Issue 12, items 4 and 5: one writer per state, serial-equivalent results for concurrent
runs (real processes), and a batch identified by its id and its content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fixtures.split import split_batch
from resolver.state.incremental import run_link_stateful
from resolver.state.store import State
from tests.conftest import SAMPLE
from tests.reliability.helpers import credgraph, run, state_view, with_rows
from tests.test_incremental import _dump

USCC = "91440605MA4WTEST1X"


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return split_batch(SAMPLE / "batch", tmp_path_factory.mktemp("parts"), 3)


def _together(*commands: list[str]) -> list[tuple[int, str, str]]:
    procs = [credgraph(*c) for c in commands]
    outputs = [p.communicate(timeout=600) for p in procs]
    return [(p.returncode, *o) for p, o in zip(procs, outputs, strict=True)]


def _serial(base: Path, batches: list[Path], dest: Path) -> tuple[object, object]:
    shutil.copytree(base, dest)
    for k, b in enumerate(batches):
        run_link_stateful(b, dest.parent / f"{dest.name}-run{k}", dest)
    return state_view(dest)


def test_two_link_runs_at_once_are_serial_equivalent(parts: list[Path], tmp_path: Path) -> None:
    base = tmp_path / "base"
    run_link_stateful(parts[0], tmp_path / "r0", base)
    state = tmp_path / "state"
    shutil.copytree(base, state)
    results = _together(
        ["link", str(parts[1]), "--out", str(tmp_path / "a"), "--state", str(state)],
        ["link", str(parts[2]), "--out", str(tmp_path / "b"), "--state", str(state)],
    )
    for code, _out, err in results:
        assert code == 0, err
        assert "IntegrityError" not in err and "Traceback" not in err
    orders = [
        _serial(base, [parts[1], parts[2]], tmp_path / "ab"),
        _serial(base, [parts[2], parts[1]], tmp_path / "ba"),
    ]
    assert state_view(state) in orders
    with State(state) as st:
        assert st.batch_status("sample-2026-11-2") == st.batch_status("sample-2026-11-3")
        assert st.batch_status("sample-2026-11-2") == "completed"


def test_two_withdrawal_batches_at_once_match_a_serial_order(
    parts: list[Path], tmp_path: Path
) -> None:
    """One entity of two records; each batch withdraws one of them. Applied one after the
    other, the entity is retired; two unserialised runs each saw the other record still
    there, and left an active entity with no records."""
    rows = [
        ("W1", USCC, "佛山市南海区测撤回贸易有限公司", "广东省佛山市南海区桂城街道1号", "0757-89990000"),
        ("W2", USCC, "佛山市南海区测撤回贸易有限公司", "广东省佛山市南海区桂城街道1号", "0757-89990000"),
    ]  # fmt: skip
    base = tmp_path / "base"
    run_link_stateful(with_rows(parts[0], tmp_path / "b0", rows, "wd-0"), tmp_path / "r0", base)
    entity = state_view(base)[0][("TEST", "W1")]
    a = with_rows(parts[0], tmp_path / "ba", [], "wd-a", [("TEST", "W1")])
    b = with_rows(parts[0], tmp_path / "bb", [], "wd-b", [("TEST", "W2")])
    state = tmp_path / "state"
    shutil.copytree(base, state)
    results = _together(
        ["link", str(a), "--out", str(tmp_path / "ra"), "--state", str(state)],
        ["link", str(b), "--out", str(tmp_path / "rb"), "--state", str(state)],
    )
    for code, _out, err in results:
        assert code == 0, err
    links, status = state_view(state)
    assert ("TEST", "W1") not in links and ("TEST", "W2") not in links
    assert status[entity] == "retired"
    assert (links, status) in (
        _serial(base, [a, b], tmp_path / "ab"),
        _serial(base, [b, a], tmp_path / "ba-order"),
    )


def test_a_held_lock_is_named_with_its_holder_and_time(parts: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "state"
    run_link_stateful(parts[0], tmp_path / "r0", state)
    before = _dump(state)
    with State(state) as st, st.lock(what="test holder"):
        res = run(
            "link", str(parts[1]), "--out", str(tmp_path / "r1"), "--state", str(state),
            "--lock-wait", "0.5",
        )  # fmt: skip
        decide = run("review", "decide", "A:1", "B:2", "--match", "--by", "x",
                     "--state", str(state), "--lock-wait", "0")  # fmt: skip
    import os

    assert res.returncode == 1
    assert "another run holds this state since" in res.stderr
    assert f"(pid {os.getpid()}, test holder)" in res.stderr
    assert "Traceback" not in res.stderr
    assert decide.returncode == 1 and "another run holds this state" in decide.stderr
    assert _dump(state) == before


def test_a_reused_batch_id_with_other_content_is_refused(parts: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = with_rows(parts[0], tmp_path / "b1", [], "reused-id")
    ok = run("link", str(first), "--out", str(tmp_path / "r1"), "--state", str(state))
    assert ok.returncode == 0, ok.stderr
    before = _dump(state)
    other = with_rows(
        parts[1], tmp_path / "b2",
        [("N1", "", "佛山市测复用批次有限公司", "广东省佛山市禅城区1号", "0757-80000001")],
        "reused-id",
    )  # fmt: skip
    res = run("link", str(other), "--out", str(tmp_path / "r2"), "--state", str(state))
    assert res.returncode == 1
    assert "batch reused-id was already applied with different content" in res.stderr
    assert "give a new delivery its own batch_id" in res.stderr
    assert _dump(state) == before
    assert not (tmp_path / "r2" / "links.csv").exists()
    # The same content under the same id is still "already applied".
    again = run("link", str(first), "--out", str(tmp_path / "r3"), "--state", str(state))
    assert again.returncode == 0 and "already applied" in again.stdout
