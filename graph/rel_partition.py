"""Relationship batches that concurrent writers can run without deadlocking (Neo4j).

Creating or merging a relationship locks both of its end nodes until the transaction
commits. Two transactions that write relationships (a)->(b) and (b)->(a), or any two
transactions whose node sets overlap and are locked in opposite order, can deadlock; Neo4j
then aborts one of them (``DeadlockDetected``, retried by the driver's managed
transactions, but every retry repeats the whole batch).

The rule used here ("round-robin cells", a tournament schedule over node groups):

- every node goes into one of ``G`` groups (``G`` odd) by a stable hash of ``label:uid``;
- a relationship between groups ``i`` and ``j`` belongs to the cell ``{min(i, j), max(i, j)}``
  and to the round ``(i + j) mod G``;
- the rounds run one after another; within a round every cell may have its own writer.

Two cells of one round never share a node group: if ``{i, j}`` and ``{i, k}`` are both in
round ``r`` then ``i + j ≡ i + k (mod G)``, so ``j = k`` (and the one "diagonal" cell
``{i, i}`` of a round is the group ``i`` with ``2i ≡ r``, unique because ``G`` is odd). So
concurrent writers never lock the same node at all, whatever order they lock in, and there
are ``G`` rounds of ``(G + 1) / 2`` cells: with ``G = 2W - 1`` a round keeps ``W`` writers
busy. Within a cell the rows are sorted by (start uid, end uid), so the batches of one
writer lock the nodes of the cell in one order and a re-run writes the same batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: A relationship row as the loader sends it: ``[start uid, end uid, weight, properties…]``.
RelRow = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Cell:
    """The relationships between two node groups (``low <= high``), sorted, in batches."""

    low: int
    high: int
    batches: list[list[RelRow]]


def groups_for(writers: int) -> int:
    """The number of node groups for ``writers`` concurrent writers (odd, ``2W - 1``)."""
    if writers < 1:
        raise ValueError("writers must be at least 1")
    return 2 * writers - 1


def node_group(label: str, uid: str, groups: int) -> int:
    """The group of a node: a stable hash of its label and uid (the same in every process)."""
    digest = hashlib.blake2b(f"{label}:{uid}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % groups


def schedule(
    rows: Sequence[RelRow],
    start_label: str,
    end_label: str,
    writers: int,
    batch_size: int,
) -> list[list[Cell]]:
    """The rows as rounds of cells: the cells of one round touch disjoint sets of nodes, so
    each may run in its own transaction at the same time; the rounds run one after another.
    Empty cells and rounds are left out; every row appears exactly once."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    g = groups_for(writers)
    cells: dict[tuple[int, int], list[RelRow]] = {}
    for row in rows:
        i = node_group(start_label, str(row[0]), g)
        j = node_group(end_label, str(row[1]), g)
        cells.setdefault((min(i, j), max(i, j)), []).append(row)
    rounds: list[list[Cell]] = []
    for r in range(g):
        this = []
        for (lo, hi), members in sorted(cells.items()):
            if (lo + hi) % g != r:
                continue
            members = sorted(members, key=lambda x: (str(x[0]), str(x[1])))
            batches = [
                list(members[k : k + batch_size]) for k in range(0, len(members), batch_size)
            ]
            this.append(Cell(lo, hi, batches))
        if this:
            rounds.append(this)
    return rounds


def ordered(rows: Sequence[RelRow], start_label: str, end_label: str, writers: int) -> list[RelRow]:
    """The rows in schedule order (round, cell, start uid, end uid): what a single writer
    sends, so that its batches are the cells' batches in turn."""
    return [
        row
        for rnd in schedule(rows, start_label, end_label, writers, max(1, len(rows)))
        for cell in rnd
        for batch in cell.batches
        for row in batch
    ]
