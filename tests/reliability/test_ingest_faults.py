"""Issue 12's table, ingest rows: each bad file read line by line, every line accounted for,
a clear message where a file cannot be read, and never a Python traceback."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from credgraph.cli import main
from tests.reliability.batchkit import (
    HEADER,
    ROLE_COLUMNS,
    ROLE_HEADER,
    Source,
    assert_balanced,
    check,
    csv_text,
    good_row,
    write_batch,
)


def _rows(n: int, start: int = 1) -> list[list[str]]:
    return [good_row(i) for i in range(start, start + n)]


def test_unbalanced_quote_then_1000_good_rows(tmp_path: Path) -> None:
    bad = ["R000000", "", '"成都市坏引号有限公司', "四川省成都市"]
    data = csv_text([bad, *_rows(1000)]).encode()
    run = check(write_batch(tmp_path / "b", [Source("amr.csv", data)]), tmp_path / "out")
    assert run.exit_code == 0, run.output
    f = assert_balanced(run, "amr.csv", 1002)
    assert (f["accepted"], f["rejected"]) == (1000, 1)
    [rej] = run.rejects()
    assert (rej["line"], rej["reason"]) == ("2", "unbalanced_quote")
    assert "balanced: yes" in run.output


def test_undecodable_byte_in_the_header_is_a_file_error(tmp_path: Path) -> None:
    data = csv_text(_rows(5)).encode("utf-8").replace("登记序号".encode(), b"\xff\xfe\xb5\xc7", 1)
    run = check(write_batch(tmp_path / "b", [Source("amr.csv", data)]), tmp_path / "out")
    assert run.exit_code != 0
    assert "amr.csv line 1: the header line does not decode as utf-8" in run.output
    assert "0xFF" in run.output


def test_junk_line_before_the_header_is_rejected_and_the_rest_read(tmp_path: Path) -> None:
    data = ("市场监督管理局企业登记数据导出 2026年11月\n\n" + csv_text(_rows(5))).encode()
    run = check(write_batch(tmp_path / "b", [Source("amr.csv", data)]), tmp_path / "out")
    assert run.exit_code == 0, run.output
    f = assert_balanced(run, "amr.csv", 8)
    assert (f["accepted"], f["rejected"], f["reasons"]) == (5, 1, {"before_header": 1})
    assert run.rejects()[0]["line"] == "1"


def _workbook(path: Path, sheets: dict[str, list[list[str]]]) -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)


def test_xlsx_with_two_sheets_reads_both(tmp_path: Path) -> None:
    batch = write_batch(tmp_path / "b", [Source("amr.xlsx")])
    _workbook(
        batch / "amr.xlsx",
        {"2025": [HEADER, *_rows(2)], "2026": [HEADER, *_rows(50, start=100)]},
    )
    run = check(batch, tmp_path / "out")
    assert run.exit_code == 0, run.output
    f = assert_balanced(run, "amr.xlsx", 54)  # two header rows
    assert (f["accepted"], f["rejected"], f["sheets"]) == (52, 0, 2)


def test_xlsx_sheet_with_another_table_is_named_in_an_error(tmp_path: Path) -> None:
    batch = write_batch(tmp_path / "b", [Source("amr.xlsx")])
    _workbook(batch / "amr.xlsx", {"data": [HEADER, *_rows(2)], "说明": [["字段", "含义"]]})
    run = check(batch, tmp_path / "out")
    assert run.exit_code != 0
    assert "amr.xlsx line 1: sheet '说明' has another header than sheet 'data'" in run.output


def test_jsonl_without_any_object_line_is_a_file_error(tmp_path: Path) -> None:
    data = b'[1, 2]\n"just text"\nnot json at all\n'
    src = Source("amr.jsonl", data, columns={"name": "name"}, record_id="id")
    run = check(write_batch(tmp_path / "b", [src]), tmp_path / "out")
    assert run.exit_code != 0
    assert "amr.jsonl line 1: no line of the file holds a JSON object" in run.output


def test_lone_cr_line_ending_keeps_every_row(tmp_path: Path) -> None:
    rows = [",".join(r) for r in _rows(4)]
    data = ",".join(HEADER) + "\n" + rows[0] + "\n" + rows[1] + "\r" + rows[2] + "\n" + rows[3]
    run = check(write_batch(tmp_path / "b", [Source("amr.csv", data.encode())]), tmp_path / "out")
    f = assert_balanced(run, "amr.csv", 5)
    assert (f["accepted"], f["rejected"]) == (4, 0)


def test_quoted_cell_over_128_kib_is_read_and_over_the_cap_rejected(tmp_path: Path) -> None:
    big = '"' + "长" * (200 * 1024) + ',地址"'  # 200 KiB: over csv's default, under the cap
    huge = '"' + "长" * (1024 * 1024 + 10) + '"'  # over the documented 1 MiB field cap
    rows = [good_row(1), ["R2", "", "大字段有限公司", big], ["R3", "", "超长有限公司", huge]]
    data = csv_text([*rows, good_row(4)]).encode()
    run = check(write_batch(tmp_path / "b", [Source("amr.csv", data)]), tmp_path / "out")
    assert run.exit_code == 0, run.output
    f = assert_balanced(run, "amr.csv", 5)
    assert (f["accepted"], f["reasons"]) == (3, {"field_too_large": 1})
    assert [r["line"] for r in run.rejects()] == ["4"]


def test_stray_quote_inside_an_unquoted_field_is_kept(tmp_path: Path) -> None:
    rows = [good_row(1), ["R2", "", '华瑞"机械有限公司', "成都"], good_row(3)]
    data = csv_text(rows).encode()
    run = check(write_batch(tmp_path / "b", [Source("amr.csv", data)]), tmp_path / "out")
    f = assert_balanced(run, "amr.csv", 4)
    assert (f["accepted"], f["rejected"]) == (3, 0)


def test_jsonl_nested_100k_deep_is_one_reject(tmp_path: Path) -> None:
    ok = json.dumps({"id": "R1", "name": "华瑞有限公司"}, ensure_ascii=False)
    deep = '{"id": "R2", "name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    data = "\n".join([ok, deep, ok.replace("R1", "R3")]).encode() + b"\n"
    src = Source("amr.jsonl", data, columns={"name": "name"}, record_id="id")
    run = check(write_batch(tmp_path / "b", [src]), tmp_path / "out")
    assert run.exit_code == 0, run.output
    f = assert_balanced(run, "amr.jsonl", 3)
    assert (f["accepted"], f["reasons"]) == (2, {"bad_json": 1})
    assert "nested 100,001 levels deep" in run.rejects()[0]["message"]


def test_text_file_renamed_xlsx_is_a_clear_error(tmp_path: Path) -> None:
    data = csv_text(_rows(3)).encode()
    run = check(write_batch(tmp_path / "b", [Source("amr.xlsx", data)]), tmp_path / "out")
    assert run.exit_code != 0
    assert "amr.xlsx: not an XLSX workbook (the file is not a zip archive" in run.output


def test_xlsx_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    batch = write_batch(tmp_path / "b", [Source("amr.xlsx")])
    plain = tmp_path / "plain.xlsx"
    _workbook(plain, {"data": [HEADER, *_rows(2)]})
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(batch / "amr.xlsx", "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                # 64 MiB of whitespace inside the sheet: legal XML, ~64 KiB compressed.
                body = body.replace(b"<sheetData>", b"<sheetData>" + b" " * (64 * 2**20), 1)
            dst.writestr(info.filename, body, zipfile.ZIP_DEFLATED, compresslevel=9)
    assert (batch / "amr.xlsx").stat().st_size < 512 * 1024
    run = check(batch, tmp_path / "out")
    assert run.exit_code != 0
    assert "amr.xlsx: member xl/worksheets/sheet1.xml inflates" in run.output
    assert "refused as a zip bomb" in run.output


def test_same_record_id_in_enterprise_and_role_file(tmp_path: Path) -> None:
    ent = csv_text(_rows(5)).encode()
    roles = [
        [f"R{i:06d}", f"成都市华瑞{i}机械设备有限公司", f"张{i}", "法定代表人"] for i in range(1, 6)
    ]
    role = csv_text(roles, header=ROLE_HEADER).encode()
    batch = write_batch(
        tmp_path / "b",
        [
            Source("amr.csv", ent),
            Source("amr_roles.csv", role, kind="role", record_id="序号", columns=ROLE_COLUMNS),
        ],
    )
    run = check(batch, tmp_path / "out")
    for name in ("amr.csv", "amr_roles.csv"):
        f = assert_balanced(run, name, 6)
        assert (f["accepted"], f["rejected"]) == (5, 0), f
    res = CliRunner().invoke(
        main, ["link", str(batch), "--out", str(tmp_path / "run"), "--no-state"]
    )
    assert res.exit_code == 0, res.output
    with (tmp_path / "run" / "links.csv").open(encoding="utf-8", newline="") as fh:
        links = [r for r in csv.DictReader(fh) if r["kind"] == "enterprise"]
    assert sorted(r["record_id"] for r in links) == [f"R{i:06d}" for i in range(1, 6)]
    assert all(r["entity_id"] for r in links)
    edges = (tmp_path / "run" / "edges.jsonl").read_text("utf-8").splitlines()
    assert len(edges) == 5


def test_repeated_header_rows_are_rejected(tmp_path: Path) -> None:
    text = csv_text(_rows(3)) + csv_text(_rows(3, start=10))  # two exports concatenated
    run = check(write_batch(tmp_path / "b", [Source("amr.csv", text.encode())]), tmp_path / "out")
    f = assert_balanced(run, "amr.csv", 8)
    assert (f["accepted"], f["reasons"]) == (6, {"repeated_header": 1})
    [rej] = run.rejects()
    assert (rej["line"], rej["reason"]) == ("5", "repeated_header")


def test_same_record_id_in_enterprise_and_role_file_with_a_state(tmp_path: Path) -> None:
    ent = csv_text(_rows(5)).encode()
    roles = [
        [f"R{i:06d}", f"成都市华瑞{i}机械设备有限公司", f"张{i}", "法定代表人"] for i in range(1, 6)
    ]
    role = csv_text(roles, header=ROLE_HEADER).encode()
    batch = write_batch(
        tmp_path / "b",
        [
            Source("amr.csv", ent),
            Source("amr_roles.csv", role, kind="role", record_id="序号", columns=ROLE_COLUMNS),
        ],
    )
    args = ["link", str(batch), "--out", str(tmp_path / "run"), "--state", str(tmp_path / "st")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    with (tmp_path / "run" / "links.csv").open(encoding="utf-8", newline="") as fh:
        links = [r for r in csv.DictReader(fh) if r["kind"] == "enterprise"]
    assert sorted(r["record_id"] for r in links) == [f"R{i:06d}" for i in range(1, 6)]
