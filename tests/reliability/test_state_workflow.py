"""Issue 11, item 6 (state and run side): the steward's workflow, tried as a new user would."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path

import pytest

from fixtures.split import split_batch
from resolver.standardize import identifiers as ids
from tests.conftest import SAMPLE
from tests.reliability.helpers import run, with_rows

USCC_A = ids.make_uscc("9", "1", "440605", "7B3C5D2A")
USCC_B = ids.make_uscc("9", "1", "440605", "7B3C5D2B")
ROW_A = (
    "佛山市南海区测移动五金有限公司",
    "广东省佛山市南海区桂城街道南海大道北8号",
    "0757-81112222",
)
ROW_B = ("广州市天河区测留下贸易有限公司", "广东省广州市天河区石牌街道天河路99号", "020-83334444")


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return split_batch(SAMPLE / "batch", tmp_path_factory.mktemp("parts"), 3)


def test_state_with_no_state_or_as_out_is_refused(parts: list[Path], tmp_path: Path) -> None:
    res = run("link", str(parts[0]), "--out", str(tmp_path / "r"), "--state", str(tmp_path / "s"), "--no-state")  # fmt: skip
    assert res.returncode == 2
    assert "--state and --no-state contradict each other" in res.stderr
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()
    # The run files and the state in one directory: refused before anything is written.
    res = run("link", str(parts[0]), "--out", str(tmp_path / "s"), "--state", str(tmp_path / "s/."))  # fmt: skip
    assert res.returncode == 2
    assert (
        f"--out and --state are the same directory ({tmp_path / 's'}): give the run files a "
        "directory of their own"
    ) in " ".join(res.stderr.split())
    assert not (tmp_path / "s").exists()


def test_seen_records_count_as_changed_and_moves_are_counted(
    parts: list[Path], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = [("T1", USCC_A, *ROW_A), ("T2", USCC_B, *ROW_B), ("T3", USCC_B, *ROW_B), ("T4", USCC_B, *ROW_B)]  # fmt: skip
    b1 = with_rows(parts[0], tmp_path / "b1", first, "move-1")
    res = run("link", str(b1), "--out", str(tmp_path / "r1"), "--state", str(state))
    assert res.returncode == 0, res.stderr
    # T2 now carries A's identifier, name, address and phone: it moves to A's entity.
    second = [first[0], ("T2", USCC_A, *ROW_A), first[2], first[3]]
    b2 = with_rows(parts[0], tmp_path / "b2", second, "move-2")
    res = run("link", str(b2), "--out", str(tmp_path / "r2"), "--state", str(state))
    assert res.returncode == 0, res.stderr
    m = re.search(
        r"(\d[\d,]*) new records, (\d[\d,]*) changed \((\d[\d,]*) moved to another entity\), "
        r"(\d[\d,]*) unchanged",
        res.stdout,
    )
    assert m, res.stdout
    new, changed, moved, unchanged = (int(g.replace(",", "")) for g in m.groups())
    assert (new, changed, moved) == (0, 1, 1)
    report = json.loads((tmp_path / "r2" / "report.json").read_text("utf-8"))
    assert unchanged == report["state"]["records"] - 1 == report["ingest"]["accepted"] - 1
    with (tmp_path / "r2" / "links.csv").open(encoding="utf-8", newline="") as fh:
        ids_now = {
            r["record_id"]: r["entity_id"] for r in csv.DictReader(fh) if r["dept"] == "TEST"
        }
    assert ids_now["T1"] == ids_now["T2"] != ids_now["T3"] == ids_now["T4"]


def test_link_summaries_are_readable_text(parts: list[Path], tmp_path: Path) -> None:
    for args in (["--no-state"], ["--state", str(tmp_path / "state")]):
        # (the run of --state in a directory of its own: not the state's, which is refused)
        out = tmp_path / ("run-" + args[0].strip("-"))
        res = run("link", str(parts[0]), "--out", str(out), *args)
        assert res.returncode == 0, res.stderr
        assert not re.search(r"[{}]|Counter\(", res.stdout), res.stdout
        assert "refused merges: " in res.stdout and "edges: " in res.stdout
        # The summary ends saying where the run's files are and what comes next.
        files_line, next_line = res.stdout.strip().splitlines()[-2:]
        assert files_line.startswith(f"run files in {out}: links.csv, golden.jsonl, ")
        assert files_line.endswith("report.json, run.json")
        listed = files_line.split(": ", 1)[1].split(", ")
        assert all((out / name).is_file() for name in listed)
        assert ("resolved.csv" in listed) == (args[0] == "--state")
        # A stateful run's per-kind counts are of the records it re-linked, and it says so.
        assert ("  (re-linked: the batch's new and changed records" in res.stdout) == (
            args[0] == "--state"
        )
        assert next_line.startswith(f"next: credgraph load {out}")
        report = json.loads((out / "report.json").read_text("utf-8"))
        pairs = sum(st["review_pairs"] for st in report["entities"].values())
        if args[0] == "--state" and pairs:
            assert next_line.endswith(
                f"; {pairs:,} {'pair of this batch awaits' if pairs == 1 else 'pairs of this batch await'} review: "
                f"credgraph review list --state {tmp_path / 'state'}"
            )
        else:
            assert next_line == f"next: credgraph load {out}"
    # A later batch of the state says which batches the graph must hold before it.
    res = run("link", str(parts[1]), "--out", str(tmp_path / "second"), "--state", str(tmp_path / "state"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert f"next: credgraph load {tmp_path / 'second'} (batch 2 of the state: the graph must hold batch 1 first)" in res.stdout  # fmt: skip
    # A run directory given as --state by mistake is named as one (linking into it would not
    # help); a directory with neither says to link a batch into it.
    for command in (["review", "list"], ["history", "E000000001"], ["links"]):
        res = run(*command, "--state", str(tmp_path / "second"))
        assert res.returncode == 1
        assert res.stderr.strip() == (
            f"Error: {tmp_path / 'second'} is a run directory (it holds run.json), not a "
            "resolution state: pass the --state directory the run was linked with"
        )
    res = run("review", "list", "--state", str(tmp_path / "nothing"))
    assert res.stderr.strip() == (
        f"Error: no resolution state in {tmp_path / 'nothing'}: run "
        f"`credgraph link BATCH --state {tmp_path / 'nothing'}` first"
    )


def test_conflicts_report_real_disagreements_only(tmp_path: Path) -> None:
    from resolver.linkage.survivorship import real_disagreement

    assert not real_disagreement("industry", ["C", "制造业"])
    assert not real_disagreement("industry", ["C3311", "制造业", "C"])
    assert real_disagreement("industry", ["C", "批发和零售业"])
    assert not real_disagreement("established", ["2013-05", "2013-05-10"])
    assert not real_disagreement("established", ["2013", "2013-05", "2013-05-10"])
    assert real_disagreement("established", ["2013-05", "2013-06-01"])
    assert real_disagreement("established", ["2013-05-10", "2013-05-11"])
    res = run("link", str(SAMPLE / "batch"), "--out", str(tmp_path / "run"), "--no-state")
    assert res.returncode == 0, res.stderr
    with (tmp_path / "run" / "conflicts.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows  # real conflicts are still reported
    for r in rows:
        values = r["values"].split(" | ")
        assert real_disagreement(r["attribute"], values), r


def test_review_list_shows_totals_status_and_evidence(parts: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "state"
    # Same rare names, other addresses and phones, no identifier: uncertain pairs.
    rows = [
        (f"R{k}{side}", "", f"佛山市测审{k}号贸易有限公司", f"广东省佛山市禅城区{side}路{k}号", f"0757-8{k:03d}{side * 4}")
        for k in range(1, 6)
        for side in (1, 2)
    ]  # fmt: skip
    batch = with_rows(parts[0], tmp_path / "b1", rows, "review-1")
    res = run(
        "link",
        str(batch),
        "--out",
        str(tmp_path / "r1"),
        "--state",
        str(state),
        "--match-threshold",
        "1.0",
    )  # fmt: skip: every probabilistic pair goes to review
    assert res.returncode == 0, res.stderr
    listed = run("review", "list", "--state", str(state), "--limit", "3")
    assert listed.returncode == 0, listed.stderr
    head = re.match(r"([\d,]+) pairs awaiting review, ([\d,]+) decided", listed.stdout)
    assert head, listed.stdout
    n_open = int(head.group(1).replace(",", ""))
    assert n_open >= 2 and int(head.group(2)) == 0
    assert listed.stdout.count("[open]") == 3
    assert listed.stdout.count("\n  A ") == 3 and listed.stdout.count("\n  B ") == 3
    # Each side names the file and line of the batch that delivered it (files repeat by name
    # from one delivery to the next).
    assert listed.stdout.count(" (batch review-1); name ") == 6, listed.stdout
    assert "weights: " in listed.stdout and "name " in listed.stdout
    # Phones and ID numbers only masked: no run of 11 digits (a mobile number) in clear.
    assert not re.search(r"\d{11}", re.sub(r"USCC \w+", "", listed.stdout))
    assert "phone " in listed.stdout and "****" in listed.stdout
    pair = re.search(r"#1 \w+  (\S+) ~ (\S+)", listed.stdout)
    assert pair
    decided = run("review", "decide", pair.group(1), pair.group(2), "--no-match", "--by", "steward-7", "--state", str(state))  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    after = run("review", "list", "--state", str(state), "--limit", "1000")
    assert after.stdout.startswith(f"{n_open - 1:,} pairs awaiting review, 1 decided")
    assert f"{pair.group(1)} ~ {pair.group(2)}" not in after.stdout
    everything = run("review", "list", "--state", str(state), "--all", "--limit", "1000")
    line = next(
        x for x in everything.stdout.splitlines() if f"{pair.group(1)} ~ {pair.group(2)}" in x
    )
    assert re.search(r"\[decided no_match by steward-7 at \d{4}-\d\d-\d\dT", line), line


def test_a_pair_scored_again_by_a_later_batch_is_listed_once(
    parts: list[Path], tmp_path: Path
) -> None:
    """Batch 2 re-links the clusters of batch 1's uncertain pairs (a changed row): the state
    keeps both batches' scorings, and `review list` shows each pair once, as batch 2 scored it."""
    state = tmp_path / "state"
    rows = [
        (f"R{k}{side}", "", f"佛山市测复{k}号贸易有限公司", f"广东省佛山市禅城区{side}路{k}号", f"0757-8{k:03d}{side * 4}")
        for k in range(1, 4)
        for side in (1, 2)
    ]  # fmt: skip
    for i, part in enumerate(parts[:2]):
        if i:  # every row again, the first of each pair at another address
            rows = [
                (r[0], r[1], r[2], r[3] + "之一" if r[0].endswith("1") else r[3], r[4])
                for r in rows
            ]
        batch = with_rows(part, tmp_path / f"b{i}", rows, f"again-{i}")
        res = run("link", str(batch), "--out", str(tmp_path / f"r{i}"), "--state", str(state), "--match-threshold", "1.0")  # fmt: skip
        assert res.returncode == 0, res.stderr
    db = sqlite3.connect(state / "state.db")
    try:
        stored = db.execute(
            "SELECT a_record, b_record, batch_id FROM review WHERE a_dept = 'TEST' AND b_dept = 'TEST'"
        ).fetchall()
    finally:
        db.close()
    pairs = {frozenset(p[:2]) for p in stored}
    assert len(stored) > len(pairs) >= 2  # scored by both batches
    listed = run("review", "list", "--state", str(state), "--limit", "1000").stdout
    shown = re.findall(r"#\d+ enterprise  TEST:(\S+) ~ TEST:(\S+)", listed)
    assert sorted(tuple(sorted(p)) for p in shown) == sorted(tuple(sorted(p)) for p in pairs)
    head = re.match(r"([\d,]+) pairs awaiting review", listed)
    assert head and int(head[1].replace(",", "")) == listed.count("[open]")
