"""Issue 11's ingest workflow points: empty files warn, fill rates never pass 100 %."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from tests.reliability.batchkit import (
    HEADER,
    Source,
    assert_balanced,
    check,
    csv_text,
    good_row,
    write_batch,
)


def test_empty_and_header_only_files_are_warnings(tmp_path: Path) -> None:
    batch = write_batch(
        tmp_path / "b",
        [
            Source("good.csv", csv_text([good_row(1)]).encode()),
            Source("empty.csv", b"", dept="TAX"),
            Source("header.csv", csv_text([]).encode(), dept="HR"),
            Source("blank.jsonl", b"\n\n", dept="SW", record_id="id", columns={"name": "name"}),
            Source("header.xlsx", dept="CJ"),
        ],
    )
    wb = openpyxl.Workbook()
    wb.active.append(HEADER)  # type: ignore[union-attr]
    wb.save(batch / "header.xlsx")
    run = check(batch, tmp_path / "out")
    assert run.exit_code == 0, run.output
    expected = [
        "TAX empty.csv: the file is empty (0 bytes or no line)",
        "HR header.csv: header only: the file has no data rows",
        "SW blank.jsonl: the file holds only blank lines",
        "CJ header.xlsx: header only: the workbook has no data rows",
    ]
    for w in expected:
        assert f"warning: {w}" in run.output
    assert run.report["summary"]["warnings"] == expected
    page = (tmp_path / "out" / "quality.html").read_text("utf-8")
    assert all(w.split(": ", 1)[1] in page for w in expected)
    assert run.report["summary"]["balanced"] is True
    assert_balanced(run, "empty.csv", 0)
    assert_balanced(run, "blank.jsonl", 2)
    assert "good.csv" not in "".join(run.report["summary"]["warnings"])


def test_fill_rate_never_exceeds_100_percent_with_superseded_rows(tmp_path: Path) -> None:
    header = [*HEADER, "联系电话"]
    first = [*good_row(1), "12"]  # a malformed phone: flagged
    later = [*good_row(1)[:3], "四川省成都市高新区天府大道1号", "13800138000"]  # supersedes it
    rows = [first, later, [*good_row(2), "13900139000"]]
    src = Source("amr.csv", csv_text(rows, header=header).encode())
    src.columns["联系电话"] = "phone"
    run = check(write_batch(tmp_path / "b", [src]), tmp_path / "out")
    f = assert_balanced(run, "amr.csv", 4)
    assert (f["accepted"], f["reasons"]) == (2, {"superseded": 1})
    [dept] = run.report["departments"]
    fields = {x["field"]: x for x in dept["fields"]}
    assert all(x["fill_rate"] is None or x["fill_rate"] <= 1 for x in fields.values())
    assert fields["name"]["filled"] == 2 and fields["name"]["fill_rate"] == 1.0
    assert fields["phone"]["filled"] == 2 and fields["phone"]["valid"] == 2
    assert fields["phone"]["flags"] == {}
    assert dept["flagged_rows"] == 0
