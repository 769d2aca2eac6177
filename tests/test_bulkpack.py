"""GRAPH.BULK entries packed column by column (graph/bulkpack.py) equal the same entries
packed value by value, row by row, from the wire format's definition."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from graph import bulkpack


def _reference(v: Any) -> bytes:
    if isinstance(v, bool):
        return bytes([1, int(v)])
    if v is None:
        return b"\x00"
    if isinstance(v, str):
        return b"\x03" + v.encode("utf-8", "surrogateescape") + b"\x00"
    if isinstance(v, int):
        return struct.pack("<Bq", 4, v)
    if isinstance(v, float):
        return struct.pack("<Bd", 2, v)
    return struct.pack("<Bq", 5, len(v)) + b"".join(_reference(x) for x in v)


COLUMNS: dict[str, list[Any]] = {
    "text": ["a", 'quote " and , comma', "第一行\n第二行\t", "emoji 😀 𠀀", "长" * 5000, "x"],
    "sparse_text": [None, "名称", None, None, "b", None],
    "ints": [0, -1, 2**63 - 1, -(2**63), 7, 42],
    "sparse_ints": [None, 0, None, 5, None, None],
    "floats": [0.0, -1.5, 1e300, 3.25, float("inf"), 2.0],
    "bools": [True, False, True, True, False, False],
    "sparse_bools": [None, False, None, True, None, None],
    "lists": [["a", "乙"], ["x"], ["😀", "b", "c"], ["d"], ["e"], ["f"]],
    "mixed": [1000.5, "一百万元", None, 3, True, ["l"]],
    "empty": [None] * 6,
}


@pytest.mark.parametrize("with_ends", [False, True])
def test_entries_equal_the_row_by_row_packing(with_ends: bool) -> None:
    keys = sorted(COLUMNS)
    rows = len(COLUMNS["text"])
    src, dst = list(range(rows)), [10**12 + i for i in range(rows)]
    columns = [bulkpack.column(COLUMNS[k]) for k in keys]
    if with_ends:
        columns.insert(0, bulkpack.ends(src, dst))
    want = b"".join(
        (struct.pack("<QQ", src[i], dst[i]) if with_ends else b"")
        + b"".join(_reference(COLUMNS[k][i]) for k in keys)
        for i in range(rows)
    )
    assert bulkpack.entries(columns, rows) == want


def test_one_column_at_a_time() -> None:
    for name, values in COLUMNS.items():
        got = bulkpack.entries([bulkpack.column(values)], len(values))
        assert got == b"".join(map(_reference, values)), name


def test_an_integer_beyond_64_bits_is_refused_in_one_line() -> None:
    with pytest.raises(bulkpack.BulkError, match="beyond 64 bits"):
        bulkpack.column([1, 2**64])
    with pytest.raises(bulkpack.BulkError, match="cannot store a dict value"):
        bulkpack.column([{"a": 1}, "x"])
