"""GRAPH.BULK tokens packed column by column with numpy (wire format: graph/bulk.py).

A token's entries interleave, row by row, each property's typed value. Each column is
turned into one byte buffer at once — strings framed ``\\x03 value \\x00`` by one join and
one encode, numbers and booleans as fixed-width records by ``astype``/``tobytes``,
anything else (lists, a property whose values differ in type) value by value — and the
columns' bytes are then scattered into the entries by computed offsets: no Python code per
row on the string, number and boolean paths. A null is a single zero byte (type 0), which
the zero-filled buffer already holds.

Property strings hold no NUL and no lone surrogate (graph.load._Cleaner escapes control
characters and surrogates), so a string column's NUL bytes mark where each value ends.
"""

from __future__ import annotations

import struct
from itertools import compress, repeat
from operator import is_not
from typing import Any

import numpy as np
from numpy.typing import NDArray

from graph.store import GraphStoreError

_SE = "surrogateescape"
_NONE_TYPE = type(None)
_INT = np.dtype([("t", "u1"), ("v", "<i8")])  # packed: 9 bytes
_FLOAT = np.dtype([("t", "u1"), ("v", "<f8")])
_ARRAY = struct.Struct("=Bq").pack

Ints = NDArray[np.int64]


class BulkError(GraphStoreError):
    """The bulk path cannot be used or failed."""


class Column:
    """One property's bytes: ``sizes`` per row (1 for a null), and ``data`` — the pieces of
    the rows ``rows`` (all rows when None) back to back, ``lengths`` each."""

    __slots__ = ("data", "lengths", "rows", "sizes")

    def __init__(
        self, data: NDArray[np.uint8], lengths: Ints, rows: Ints | None, sizes: Ints
    ) -> None:
        self.data, self.lengths, self.rows, self.sizes = data, lengths, rows, sizes


def _bytes(buf: bytes) -> NDArray[np.uint8]:
    return np.frombuffer(buf, dtype=np.uint8)


def _value_bytes(v: Any) -> bytes:
    """One typed value of any supported type (the slow, general path)."""
    if isinstance(v, str):
        return b"\x03" + v.encode("utf-8", _SE) + b"\x00"
    t = type(v)
    if v is None:
        return b"\x00"
    if t is bool:
        return b"\x01\x01" if v else b"\x01\x00"
    if t is int:
        if not -(2**63) <= v < 2**63:
            raise BulkError("an integer beyond 64 bits cannot be bulk loaded (use --no-bulk)")
        return _ARRAY(4, v)
    if t is float:
        return struct.pack("=Bd", 2, v)
    if t is list:
        return _ARRAY(5, len(v)) + b"".join(_value_bytes(str(x)) for x in v)
    raise BulkError(f"cannot store a {t.__name__} value")


def _strings(values: list[str]) -> tuple[NDArray[np.uint8], Ints] | None:
    """Framed strings and each one's length; None if a value holds a NUL."""
    data = _bytes(("\x03" + "\x00\x03".join(values) + "\x00").encode("utf-8", _SE))
    ends = np.flatnonzero(data == 0)
    if len(ends) != len(values):
        return None
    lengths = np.diff(ends, prepend=-1)
    return data, lengths


def _fixed(values: list[Any], dtype: np.dtype[Any], tag: int) -> NDArray[np.uint8]:
    rec = np.empty(len(values), dtype=dtype)
    rec["t"] = tag
    rec["v"] = values
    return rec.view(np.uint8)


def column(values: list[Any]) -> Column:
    """A property's values (one per row, None where a row has none) as bytes."""
    n = len(values)
    types = set(map(type, values))
    present = types - {_NONE_TYPE}
    rows: Ints | None = None
    kept = values
    if not present:  # no row has this property: a null each
        sizes = np.ones(n, dtype=np.int64)
        return Column(np.empty(0, np.uint8), sizes[:0], sizes[:0], sizes)
    if _NONE_TYPE in types and len(present) == 1:
        mask = np.fromiter(map(is_not, values, repeat(None)), dtype=bool, count=n)
        rows = np.flatnonzero(mask)
        kept = list(compress(values, mask))
    packed: tuple[NDArray[np.uint8], Ints] | None = None
    try:
        if present == {str}:
            packed = _strings(kept)
        elif present == {int}:
            packed = _fixed(kept, _INT, 4), np.full(len(kept), 9, dtype=np.int64)
        elif present == {float}:
            packed = _fixed(kept, _FLOAT, 2), np.full(len(kept), 9, dtype=np.int64)
        elif present == {bool}:
            flags = np.empty((len(kept), 2), dtype=np.uint8)
            flags[:, 0] = 1
            flags[:, 1] = np.array(kept, dtype=bool)
            packed = flags.reshape(-1), np.full(len(kept), 2, dtype=np.int64)
    except OverflowError:  # an integer beyond 64 bits: the general path says so
        packed = None
    if packed is None:
        pieces = list(map(_value_bytes, values))
        lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=n)
        return Column(_bytes(b"".join(pieces)), lengths, None, lengths)
    data, lengths = packed
    if rows is None:
        return Column(data, lengths, None, lengths)
    sizes = np.ones(n, dtype=np.int64)
    sizes[rows] = lengths
    return Column(data, lengths, rows, sizes)


def ends(src: list[int], dst: list[int]) -> Column:
    """A relationship's two node IDs (uint64 each) per row."""
    pair = np.empty((len(src), 2), dtype="<u8")
    pair[:, 0] = src
    pair[:, 1] = dst
    lengths = np.full(len(src), 16, dtype=np.int64)
    return Column(pair.view(np.uint8).reshape(-1), lengths, None, lengths)


def entries(columns: list[Column], n: int) -> bytes:
    """The rows' entries: each row's pieces in the order of ``columns``."""
    if not columns:
        return b""
    sizes = np.zeros(n, dtype=np.int64)
    for col in columns:
        sizes += col.sizes
    total = int(sizes.sum())
    out = np.zeros(total, dtype=np.uint8)
    offset = np.cumsum(sizes) - sizes  # where each row starts
    for col in columns:
        starts = offset if col.rows is None else offset[col.rows]
        if len(col.data):
            # byte j of the column's data goes to its row's start plus its place in the piece
            shift = starts - (np.cumsum(col.lengths) - col.lengths)
            out[np.arange(len(col.data), dtype=np.int64) + np.repeat(shift, col.lengths)] = col.data
        offset += col.sizes
    return out.tobytes()
