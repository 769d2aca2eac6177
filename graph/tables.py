"""Node and relationship tables kept as columns (one list per property), the form the run's
readers build (graph/load.py) and the GRAPH.BULK packer takes (graph/bulk.py) without a
dict per row. Each table is also a sequence of row dicts (``{"uid", "props"}`` for nodes,
``{"src", "dst", "props", "w"}`` for relationships), made on demand, for the code that
wants rows (the Neo4j CSV export, tests).

A column holds None where a row has no such property; a column holding only None is not
kept, so a table's properties are exactly those some row has.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import is_not, itemgetter
from typing import Any, overload

Row = dict[str, Any]
Columns = dict[str, list[Any]]


def _kept(cols: Columns) -> Columns:
    """The columns some row has a value in."""
    return {k: c for k, c in cols.items() if any(map(is_not, c, repeat(None)))}


def _pick(values: list[Any], index: list[int]) -> list[Any]:
    """``values`` at ``index`` (a slice where the positions follow each other)."""
    if index and index[-1] - index[0] + 1 == len(index):
        first, end = index[0], index[-1] + 1
        if index == list(range(first, end)):
            return values if end - first == len(values) else values[first:end]
    return list(map(values.__getitem__, index))


def _props(cols: Columns, rows: Iterable[int]) -> list[Row]:
    items = list(cols.items())
    return [{k: c[i] for k, c in items if c[i] is not None} for i in rows]


def _columns(props: list[Row]) -> Columns:
    keys = sorted(set().union(*props)) if props else []
    return _kept({k: list(map(dict.get, props, repeat(k))) for k in keys})


class _Table(Sequence[Row]):
    """What both tables share: property ``cols``, rows made on demand (``_row``, ``__iter__``
    of the subclass), equality as sequences of rows."""

    __slots__ = ()
    cols: Columns

    def names(self) -> list[str]:
        """The properties some row has, sorted."""
        return sorted(self.cols)

    def _row(self, i: int) -> Row:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> Row: ...
    @overload
    def __getitem__(self, i: slice) -> list[Row]: ...
    def __getitem__(self, i: int | slice) -> Row | list[Row]:
        if isinstance(i, slice):
            return list(self)[i]
        return self._row(i)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} rows, {self.names()})"


class NodeTable(_Table):
    """One label's nodes: ``uids`` and property ``cols`` (``uid`` among them)."""

    __slots__ = ("cols", "uids")

    def __init__(self, uids: list[str], cols: Columns) -> None:
        self.uids = uids
        self.cols = _kept(cols)

    @classmethod
    def from_rows(cls, rows: Sequence[Row]) -> NodeTable:
        if isinstance(rows, NodeTable):
            return rows
        return cls(list(map(itemgetter("uid"), rows)), _columns(list(map(_PROPS, rows))))

    def take(self, index: Sequence[int]) -> NodeTable:
        """The rows at ``index``, in that order."""
        get = list(index)
        return NodeTable(_pick(self.uids, get), {k: _pick(c, get) for k, c in self.cols.items()})

    def __len__(self) -> int:
        return len(self.uids)

    def _row(self, i: int) -> Row:
        return {"uid": self.uids[i], "props": _props(self.cols, [i])[0]}

    def __iter__(self) -> Iterator[Row]:
        props = _props(self.cols, range(len(self.uids)))
        return ({"uid": u, "props": p} for u, p in zip(self.uids, props, strict=True))


class RelTable(_Table):
    """One (type, from label, to label)'s relationships: ends ``src`` and ``dst``, ``w``
    (how many rows of the run each one stands for) and property ``cols``. ``distinct``:
    known that no two rows name the same two nodes (else it may be so)."""

    __slots__ = ("cols", "distinct", "dst", "src", "w")

    def __init__(
        self, src: list[str], dst: list[str], w: list[int], cols: Columns, distinct: bool = False
    ) -> None:
        self.src, self.dst, self.w = src, dst, w
        self.cols = _kept(cols)
        self.distinct = distinct

    @classmethod
    def from_rows(cls, rows: Sequence[Row]) -> RelTable:
        if isinstance(rows, RelTable):
            return rows
        return cls(
            list(map(itemgetter("src"), rows)),
            list(map(itemgetter("dst"), rows)),
            list(map(itemgetter("w"), rows)),
            _columns(list(map(_PROPS, rows))),
        )

    def take(self, index: Sequence[int]) -> RelTable:
        """The rows at ``index``, in that order."""
        get = list(index)
        return RelTable(
            _pick(self.src, get),
            _pick(self.dst, get),
            _pick(self.w, get),
            {k: _pick(c, get) for k, c in self.cols.items()},
            self.distinct,
        )

    def where(self, keep: list[bool]) -> RelTable:
        """The rows whose ``keep`` is true."""
        return RelTable(
            list(compress(self.src, keep)),
            list(compress(self.dst, keep)),
            list(compress(self.w, keep)),
            {k: list(compress(c, keep)) for k, c in self.cols.items()},
            self.distinct,
        )

    def __len__(self) -> int:
        return len(self.src)

    def _row(self, i: int) -> Row:
        props = _props(self.cols, [i])[0]
        return {"src": self.src[i], "dst": self.dst[i], "props": props, "w": self.w[i]}

    def __iter__(self) -> Iterator[Row]:
        props = _props(self.cols, range(len(self.src)))
        return (
            {"src": s, "dst": d, "props": p, "w": w}
            for s, d, p, w in zip(self.src, self.dst, props, self.w, strict=True)
        )


_PROPS = itemgetter("props")


def partition(keys: list[Any]) -> dict[Any, list[int]]:
    """Row positions per key, keys in the order they first occur."""
    if not keys:
        return {}
    distinct = dict.fromkeys(keys)
    if len(distinct) == 1:
        return {keys[0]: list(range(len(keys)))}
    if len(distinct) <= 8:  # a pass per key, without Python code per row
        return {k: list(compress(range(len(keys)), map(k.__eq__, keys))) for k in distinct}
    out: dict[Any, list[int]] = {}
    for i, k in enumerate(keys):
        if (at := out.get(k)) is None:
            out[k] = [i]
        else:
            at.append(i)
    return out


def last_of_each(uids: Sequence[Hashable]) -> list[int] | None:
    """Where a uid occurs more than once, one row per uid: at the place of its first
    occurrence, the values of its last (as a dict keyed by uid filled row by row keeps
    them). None when every uid occurs once."""
    last = dict(zip(uids, range(len(uids)), strict=True))
    if len(last) == len(uids):
        return None
    return list(last.values())
