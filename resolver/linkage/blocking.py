"""Blocking over whole arrays: the candidate pairs of a kind's records, and which blocking
keys each pair shares, without a Python object per pair.

The keys are those of :func:`resolver.linkage.compare.blocking_keys`. Each distinct key gets an
integer; a record's keys become rows of a (record, key) table. A block of at most
``max_block`` records yields all its pairs; a larger one yields each record with its next
``window - 1`` neighbours in each of the sort orders of
:data:`resolver.linkage.compare.NEIGHBOURHOOD_ORDERS` (sorted neighbourhood). Pairs are generated
by offsets over the table sorted by key, so the cost is a few numpy passes per offset rather
than a tuple and a set lookup per pair (at a million records the per-pair set alone held
hundreds of MiB).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from resolver.linkage.compare import (
    BLOCK_FEATURES,
    NEIGHBOURHOOD_ORDERS,
    EntityRecord,
    blocking_keys,
)

IntArray = NDArray[np.int64]
#: Rows of the (record, key) table paired at a time (the blocks of at most max_block records).
SLICE_ROWS = 1 << 18
#: Candidate pairs: an (n, 2) array of record indices, first < second.
Pairs = NDArray[np.int64]


@dataclass(slots=True)
class KeyTable:
    """Every (record, blocking key) of a kind's records; keys as integers."""

    n: int
    rec: IntArray  # per row: the record index
    key: IntArray  # per row: the key number
    key_tag: list[str]  # per key number: its tag (the first element of the key)

    @classmethod
    def build(cls, ers: list[EntityRecord]) -> KeyTable:
        ids: dict[tuple[str, ...], int] = {}
        number = ids.setdefault
        # machine integers, not a list of int objects: millions of rows at 1M records
        recs, keys = array("q"), array("q")
        add_rec, add_key = recs.append, keys.append
        for e in ers:  # (blocking_keys gives each key of a record once)
            idx = e.idx
            for k in blocking_keys(e):
                add_rec(idx)
                add_key(number(k, len(ids)))
        tags = [k[0] for k in ids]
        del ids
        return cls(
            len(ers),
            np.frombuffer(recs, dtype=np.int64),
            np.frombuffer(keys, dtype=np.int64),
            tags,
        )

    def tag_columns(self) -> dict[str, NDArray[np.int64]]:
        """Per tag: an (n_records × width) array of the record's key numbers of that tag
        (-1 where it has fewer)."""
        tag_of_key = np.asarray([_tag_code(t) for t in self.key_tag], dtype=np.int64)
        row_tag = tag_of_key[self.key] if len(self.key) else np.zeros(0, dtype=np.int64)
        out: dict[str, NDArray[np.int64]] = {}
        for tag in sorted(set(self.key_tag)):
            sel = row_tag == _tag_code(tag)
            recs, keys = self.rec[sel], self.key[sel]
            order = np.argsort(recs, kind="stable")
            recs, keys = recs[order], keys[order]
            # position of each row among its record's rows of this tag
            starts = np.searchsorted(recs, recs, side="left")
            slot = np.arange(len(recs)) - starts
            width = int(slot.max()) + 1 if len(slot) else 1
            col = np.full((self.n, width), -1, dtype=np.int64)
            col[recs, slot] = keys
            out[tag] = col
        return out


_TAG_CODES: dict[str, int] = {}


def _tag_code(tag: str) -> int:
    return _TAG_CODES.setdefault(tag, len(_TAG_CODES))


def _offset_pairs(
    recs: IntArray, groups: IntArray, max_offset: int, n: int, chunks: list[IntArray]
) -> None:
    """Pairs of rows ``d`` apart (1 ≤ d ≤ max_offset) in the same group; rows sorted by group.
    A group of ``s`` rows is done after offset ``s - 1`` and leaves the arrays then (most
    blocks hold two or three records). Each pair of two records goes to ``chunks`` as one
    code, ``lo * n + hi`` (see :func:`_pair_codes`)."""
    if not len(recs):
        return
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    size = counts[inverse]
    for d in range(1, max_offset + 1):
        if d >= len(recs):
            break
        same = groups[:-d] == groups[d:]
        if not same.any():
            break
        chunks.append(_pair_codes(recs[:-d][same], recs[d:][same], n))
        keep = size > d + 1
        recs, groups, size = recs[keep], groups[keep], size[keep]


def _pair_codes(a: IntArray, b: IntArray, n: int) -> IntArray:
    """The pairs (a[i], b[i]) of two different records as codes ``lo * n + hi``, distinct and
    sorted: one int64 per pair instead of two, deduplicated chunk by chunk — the same pair
    comes from several shared keys and sort orders, and all of them at once, as pairs of
    indices, took ~0.4 GiB more at a million records."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    code = lo * n + hi
    return _distinct(code[lo != hi])


def _merge_codes(chunks: list[IntArray]) -> None:
    """Replace ``chunks`` by one chunk: their distinct codes, sorted."""
    if len(chunks) > 1:
        chunks[:] = [_distinct(np.concatenate(chunks))]


def _distinct(codes: IntArray) -> IntArray:
    """The distinct values, sorted (``np.unique``, whose hashing path is several times
    slower on these arrays than a sort: runs already sorted merge in timsort's ``stable``)."""
    codes.sort(kind="stable")
    if len(codes) < 2:
        return codes
    keep = np.empty(len(codes), dtype=bool)
    keep[0] = True
    np.not_equal(codes[1:], codes[:-1], out=keep[1:])
    return codes[keep]


def candidate_pairs(
    ers: list[EntityRecord], table: KeyTable, max_block: int, window: int
) -> tuple[Pairs, int]:
    """All candidate pairs of the records (each once, first < second, sorted) and the number
    of blocks larger than ``max_block`` that were compared by sorted neighbourhood."""
    if not len(table.key):
        return np.zeros((0, 2), dtype=np.int64), 0
    n = table.n
    sizes = np.bincount(table.key)
    row_size = sizes[table.key]
    chunks: list[IntArray] = []
    small = (row_size >= 2) & (row_size <= max_block)
    order = np.lexsort((table.rec[small], table.key[small]))
    recs, keys = table.rec[small][order], table.key[small][order]
    del order
    # A slice of whole blocks at a time: the offset passes hold a dozen arrays of their rows.
    start = 0
    while start < len(recs):
        end = min(start + SLICE_ROWS, len(recs))
        if end < len(recs):  # back to the start of the block cut (blocks are ≤ max_block)
            end = max(int(np.searchsorted(keys, keys[end], side="left")), start + 1)
            end = int(np.searchsorted(keys, keys[end - 1], side="right"))
        _offset_pairs(recs[start:end], keys[start:end], max_block - 1, n, chunks)
        _merge_codes(chunks)
        start = end
    del recs, keys
    big = row_size > max_block
    windowed = int(np.count_nonzero(sizes > max_block))
    if windowed:
        big_recs, big_keys = table.rec[big], table.key[big]
        members = np.unique(big_recs)
        for sort_key in NEIGHBOURHOOD_ORDERS:
            rank = np.zeros(table.n, dtype=np.int64)
            # members are in index order: a stable sort breaks ties by index
            values = np.asarray([sort_key(ers[i]) for i in members.tolist()])
            rank[members[np.argsort(values, kind="stable")]] = np.arange(len(members))
            order = np.lexsort((rank[big_recs], big_keys))
            _offset_pairs(big_recs[order], big_keys[order], window - 1, n, chunks)
            _merge_codes(chunks)
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64), windowed
    code = chunks[0]
    return np.stack([code // n, code % n], axis=1), windowed


def shared_tags(
    columns: dict[str, NDArray[np.int64]], pairs: Pairs
) -> dict[str, NDArray[np.bool_]]:
    """Per tag: whether each pair shares a key of that tag."""
    a, b = pairs[:, 0], pairs[:, 1]
    out: dict[str, NDArray[np.bool_]] = {}
    for tag, col in columns.items():
        ca, cb = col[a], col[b]
        shared = np.zeros(len(pairs), dtype=bool)
        for i in range(col.shape[1]):
            for j in range(col.shape[1]):
                shared |= (ca[:, i] >= 0) & (ca[:, i] == cb[:, j])
        out[tag] = shared
    return out


def training_eligibility(
    kind: str,
    ers: list[EntityRecord],
    pairs: Pairs | list[tuple[int, int]],
    n_features: int,
    columns: dict[str, NDArray[np.int64]] | None = None,
) -> NDArray[np.bool_]:
    """(pairs × features): whether a pair shares a blocking key not built on that feature —
    then it would have been compared whatever that feature says, and may train its ``m``
    (:data:`resolver.linkage.compare.BLOCK_FEATURES`). A pair that shares no key (met through a
    neighbourhood window or a judgement) is unbiased and trains every feature.
    ``columns``: :meth:`KeyTable.tag_columns` of ``ers`` when already built."""
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if columns is None:
        columns = KeyTable.build(ers).tag_columns()
    tags = BLOCK_FEATURES[kind]
    biased = np.ones((len(arr), n_features), dtype=bool)
    any_shared = np.zeros(len(arr), dtype=bool)
    for tag, shared in shared_tags(columns, arr).items():
        built_on = np.zeros(n_features, dtype=bool)
        built_on[sorted(tags.get(tag, range(n_features)))] = True
        biased[shared] &= built_on
        any_shared |= shared
    eligible: NDArray[np.bool_] = ~biased | ~any_shared[:, None]
    return eligible
