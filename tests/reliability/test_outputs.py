"""CSV outputs neutralise spreadsheet formulas (OWASP); numbers stay numbers; HTML escaped."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from click.testing import CliRunner

from credgraph.cli import main
from resolver.csvsafe import neutralise, read_rows, restore
from resolver.standardize.identifiers import make_uscc
from tests.reliability.batchkit import (
    HEADER,
    REPO_ROOT,
    Source,
    check,
    csv_text,
    good_row,
    write_batch,
)

FORMULAS = ["=cmd|' /C calc'!A0", "@SUM(1+1)", "=1+2", "+1+2", "-2+3", "\t=1", "\r=1"]


def test_neutralise_prefixes_formulas_and_keeps_numbers() -> None:
    for f in FORMULAS:
        assert neutralise(f) == "'" + f
        assert restore(str(neutralise(f))) == f
    for value in ["-12.5", "+3", "-0", "1e5", "-1.5E-3", "华瑞", "", "'plain"]:
        assert neutralise(value) == value
    assert neutralise(-3) == -3 and neutralise(-0.25) == -0.25
    for tricky in ["'=x", "''", "''=x", "'-1"]:  # values that already look neutralised
        assert restore(str(neutralise(tricky))) == tricky


def _raw_cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_formula_values_are_neutralised_in_rejects_links_and_conflicts(tmp_path: Path) -> None:
    uscc = make_uscc("9", "1", "440300", "MA5F1234")
    rows = [
        ["=1+2", uscc, "深圳市华瑞机械有限公司", '=HYPERLINK("http://evil.example")'],
        ["A2", uscc, "深圳市华瑞机械有限公司", "广东省深圳市南山区科技园1号"],
        ["=1+2", uscc, "深圳市华瑞机械有限公司", '=HYPERLINK("http://evil.example")'],  # duplicate
        ["@SUM(1+1)", "", "=cmd|' /C calc'!A0", "多余", "字段"],  # wrong column count
        good_row(3),
    ]
    batch = write_batch(tmp_path / "b", [Source("amr.csv", csv_text(rows).encode())])
    run = check(batch, tmp_path / "out")
    rejects = _raw_cells(tmp_path / "out" / "rejects.csv")
    assert [r[3] for r in rejects[1:]] == ["'=1+2", "'@SUM(1+1)"]
    assert [r["record_id"] for r in run.rejects()] == ["=1+2", "@SUM(1+1)"]
    res = CliRunner().invoke(
        main, ["link", str(batch), "--out", str(tmp_path / "run"), "--no-state"]
    )
    assert res.exit_code == 0, res.output
    for name in ("links.csv", "rejects.csv", "conflicts.csv", "review.csv"):
        for row in _raw_cells(tmp_path / "run" / name):
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (name, cell)
                assert not cell.startswith("-") or re.fullmatch(r"-[\d.eE+-]+", cell), (name, cell)
    links = _raw_cells(tmp_path / "run" / "links.csv")
    assert "'=1+2" in [r[1] for r in links]
    conflicts = _raw_cells(tmp_path / "run" / "conflicts.csv")
    assert any("'=HYPERLINK" in cell for row in conflicts for cell in row), conflicts
    with (tmp_path / "run" / "links.csv").open(encoding="utf-8", newline="") as fh:
        assert "=1+2" in {r["record_id"] for r in read_rows(fh)}


def test_html_report_stays_escaped(tmp_path: Path) -> None:
    header = [*HEADER, "联系电话"]
    rows = [[*good_row(1), "<img src=x onerror=alert(1)>"], [*good_row(2), "13800138000"]]
    src = Source("amr.csv", csv_text(rows, header=header).encode())
    src.columns["联系电话"] = "phone"
    run = check(write_batch(tmp_path / "b", [src]), tmp_path / "out")
    assert run.exit_code == 0, run.output
    page = (tmp_path / "out" / "quality.html").read_text("utf-8")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


#: CSV files that are database import formats, never opened in a spreadsheet: a ``'`` would
#: be loaded into the graph as part of the value.
NOT_FOR_SPREADSHEETS = {"graph/bulk.py"}


def test_every_csv_writer_goes_through_the_shared_helper() -> None:
    offenders = []
    for part in ("resolver", "graph", "credgraph", "credit", "api", "tax"):
        for path in sorted((REPO_ROOT / part).rglob("*.py")):
            rel = str(path.relative_to(REPO_ROOT))
            if path.name == "csvsafe.py" or rel in NOT_FOR_SPREADSHEETS:
                continue
            text = path.read_text("utf-8")
            if re.search(r"csv\.(writer|DictWriter)\(", text):
                offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []
