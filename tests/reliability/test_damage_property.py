"""Property: whatever damage a file takes (cut lines, stray quotes, bad bytes, lone carriage
returns, repeated headers, extra sheets), every physical line is placed and every row read
is accepted or rejected — counted against the file's own lines, computed here from the bytes."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolver.ingest.manifest import load_manifest
from resolver.ingest.rows import FileStats, Record, Reject, ingest
from tests.reliability.batchkit import HEADER, Source, csv_text, good_row, write_batch

DAMAGE = st.lists(
    st.tuples(
        st.sampled_from(["cut", "quote", "bad", "cr", "newline", "header", "comma", "nul"]),
        st.integers(0, 10**6),
        st.integers(1, 60),
    ),
    max_size=12,
)


def damage(body: bytearray, ops: list[tuple[str, int, int]]) -> bytes:
    for op, pos, size in ops:
        p = pos % (len(body) + 1)
        insert = {
            "quote": b'"',
            "bad": b"\xff\xc3",
            "cr": b"\r",
            "newline": b"\n",
            "header": ("\n" + ",".join(HEADER) + "\n").encode(),
            "comma": b",",
            "nul": b"\x00",
        }.get(op)
        if insert is None:
            del body[p : p + size]
        else:
            body[p:p] = insert
    return bytes(body)


def physical_lines(data: bytes, lone_cr: bool = True) -> int:
    ends = re.findall(rb"\r\n|\r|\n" if lone_cr else rb"\n", data)
    tail = data and not data.endswith(b"\n" if not lone_cr else (b"\n", b"\r"))
    return len(ends) + (1 if tail else 0)


def ingest_one(batch: Path) -> tuple[FileStats, int, int]:
    stats: list[FileStats] = []
    records = rejects = 0
    manifest = load_manifest(batch)
    for _s, event in ingest(manifest, features=False, on_file=stats.append):
        if isinstance(event, Record):
            records += 1
        elif isinstance(event, Reject) and event.reason != "superseded":
            rejects += 1
        else:
            records -= 1  # a superseded record moves from accepted to rejected
            rejects += 1
    [st_] = stats
    return st_, records, rejects


def assert_accounted(st_: FileStats, lines: int, records: int, rejects: int) -> None:
    assert st_.lines == lines, st_
    assert st_.header_lines + st_.blank + st_.row_lines == lines, st_
    assert st_.read == st_.accepted + st_.rejected == records + rejects, st_
    assert st_.balanced


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 30),
    ops=DAMAGE,
    quoted=st.booleans(),
    encoding=st.sampled_from(["utf-8", "gbk"]),
)
def test_damaged_csv_every_line_accounted(
    n: int, ops: list[tuple[str, int, int]], quoted: bool, encoding: str
) -> None:
    rows = [good_row(i) for i in range(n)]
    if quoted:
        rows = [[r[0], r[1], f'"{r[2]}"', f'"{r[3]},\n二楼"'] for r in rows]
    text = csv_text(rows).encode(encoding)
    cut = text.index(b"\n") + 1
    data = text[:cut] + damage(bytearray(text[cut:]), ops)
    with tempfile.TemporaryDirectory() as tmp:
        batch = write_batch(Path(tmp), [Source("amr.csv", data, encoding=encoding)])
        st_, records, rejects = ingest_one(batch)  # the header is intact: no file error
        assert_accounted(st_, physical_lines(data), records, rejects)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 20), ops=DAMAGE)
def test_damaged_jsonl_every_line_accounted(n: int, ops: list[tuple[str, int, int]]) -> None:
    lines = [
        json.dumps({"id": f"R{i}", "name": f"华瑞{i}有限公司"}, ensure_ascii=False)
        for i in range(n)
    ]
    first = (lines[0] + "\n").encode() if lines else b""
    body = "".join(x + "\n" for x in lines[1:]).encode()
    data = first + damage(bytearray(body), ops)
    with tempfile.TemporaryDirectory() as tmp:
        src = Source("amr.jsonl", data, record_id="id", columns={"name": "name"})
        batch = write_batch(Path(tmp), [src])
        st_, records, rejects = ingest_one(batch)
        assert_accounted(st_, physical_lines(data, lone_cr=False), records, rejects)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sheets=st.lists(
        st.tuples(st.integers(0, 8), st.integers(0, 3), st.booleans(), st.booleans()),
        min_size=1,
        max_size=4,
    )
)
def test_workbook_with_extra_sheets_every_row_accounted(
    sheets: list[tuple[int, int, bool, bool]],
) -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    total = 0
    for k, (n, blanks, title, empty) in enumerate(sheets):
        ws = wb.create_sheet(f"s{k}")
        if empty:
            continue
        if title:
            ws.append(["导出标题"])
        ws.append(HEADER)
        for i in range(n):
            ws.append(good_row(100 * k + i))
            if i < blanks:
                ws.append([])
        ws.append([*good_row(100 * k + 99), "超出的值"])  # one row wider than the header
        total += ws.max_row
    with tempfile.TemporaryDirectory() as tmp:
        batch = write_batch(Path(tmp), [Source("amr.xlsx")])
        wb.save(batch / "amr.xlsx")
        st_, records, rejects = ingest_one(batch)
        assert st_.sheets == len(sheets)
        assert_accounted(st_, total, records, rejects)
        assert st_.reasons.get("wrong_column_count", 0) == sum(1 for s in sheets if not s[3])
