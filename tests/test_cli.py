"""The command line end to end on a small generated batch."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from credgraph.cli import main
from fixtures.generate import load_catalog
from fixtures.issue_classes import FILES as ISSUE_FILES


def test_generate_check_link_evaluate(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "gen"
    res = runner.invoke(
        main,
        ["generate", "--out", str(out), "--enterprises", "150", "--persons", "200", "--seed", "3"],
    )
    assert res.exit_code == 0, res.output
    # every department's sources and the issue-11 record-class files
    files = sum(len(d["sources"]) for d in load_catalog()) + len(ISSUE_FILES)
    assert f"rows in {files} files from 32 departments" in res.output
    assert res.output.strip().endswith(str(out / "batch"))
    # the records, plus the planted repeats `check` reads as rows too: the rows it will read
    made = re.search(r"^([\d,]+) rows in ", res.output, re.M)
    repeats = re.search(
        r"^  \+ ([\d,]+) planted repeats \(.*\): `check` reads ([\d,]+) rows$", res.output, re.M
    )
    assert made and repeats, res.output
    records, extra, to_read = (int(x.replace(",", "")) for x in (made[1], *repeats.groups()))
    assert records + extra == to_read and extra > 0
    again = runner.invoke(
        main, ["generate", "--out", str(out), "--enterprises", "150", "--persons", "200"]
    )
    assert again.exit_code != 0 and "not empty" in again.output

    res = runner.invoke(
        main, ["check", str(out / "batch"), "--out", str(tmp_path / "check"), "--workers", "1"]
    )
    assert res.exit_code == 0, res.output
    assert "balanced: yes" in res.output
    assert f"{to_read:,} rows read in {files} files" in res.output
    assert (tmp_path / "check" / "quality.html").is_file()

    res = runner.invoke(
        main,
        [
            "link",
            str(out / "batch"),
            "--out",
            str(tmp_path / "run"),
            "--state",
            str(tmp_path / "state"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "golden entities" in res.output and "new records" in res.output
    again = runner.invoke(
        main,
        [
            "link",
            str(out / "batch"),
            "--out",
            str(tmp_path / "run2"),
            "--state",
            str(tmp_path / "state"),
        ],
    )
    assert again.exit_code == 0 and "already applied" in again.output

    res = runner.invoke(
        main, ["evaluate", str(tmp_path / "run"), "--truth", str(out / "truth"), "--json"]
    )
    assert res.exit_code == 0, res.output
    scores = json.loads(res.output)
    assert (
        scores["enterprise"]["pairwise"]["f1"] > 0.95 and scores["person"]["pairwise"]["f1"] > 0.9
    )


def test_link_is_deterministic(tmp_path: Path) -> None:
    from resolver.linkage.link import run_link
    from tests.conftest import SAMPLE

    run_link(SAMPLE / "batch", tmp_path / "a")
    run_link(SAMPLE / "batch", tmp_path / "b")
    for name in (
        "links.csv",
        "golden.jsonl",
        "edges.jsonl",
        "conflicts.csv",
        "review.csv",
        "model.json",
    ):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_bad_manifest_is_a_clear_cli_error(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "manifest.yaml").write_text("batch_id: x\nas_of: 2026-13-01\nsources: []\n", "utf-8")
    res = CliRunner().invoke(main, ["check", str(batch), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "not valid YAML" in res.output and "month must be in 1..12" in res.output
    (batch / "manifest.yaml").write_text("batch_id: x\nas_of: 2026-11-01\nsources: []\n", "utf-8")
    res = CliRunner().invoke(main, ["check", str(batch), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "sources is missing or empty" in res.output
    res = CliRunner().invoke(
        main, ["link", str(batch), "--out", str(tmp_path / "o"), "--state", str(tmp_path / "s")]
    )
    assert res.exit_code == 1 and "problem" in res.output


def test_evaluate_with_wrong_directories_says_which(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["evaluate", str(tmp_path), "--truth", str(tmp_path)])
    assert res.exit_code == 1
    assert "is not a resolution run" in res.output and "links.csv is missing" in res.output
    assert "Traceback" not in res.output
