"""Clustering with cannot-link constraints: a union-find that refuses merges that would put
two different valid strong identifiers (USCCs, ID numbers) or a branch and a non-branch in
one cluster, and records every refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Refusal:
    """A merge the constraints refused: the two records and why."""

    a: int
    b: int
    reason: str  # different_uscc | different_id | branch_vs_main | negative_judgement
    via: str


@dataclass(slots=True)
class ConstrainedUnionFind:
    """Union-find over record indices with per-cluster identity sets."""

    n: int
    parent: list[int] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    usccs: dict[int, frozenset[str]] = field(default_factory=dict)
    ids: dict[int, frozenset[str]] = field(default_factory=dict)
    branch: dict[int, frozenset[bool]] = field(default_factory=dict)
    forbidden: set[tuple[int, int]] = field(default_factory=set)  # pairs of records never together
    refusals: list[Refusal] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.parent = list(range(self.n))
        self.size = [1] * self.n

    def set_identity(
        self, i: int, uscc: str | None, id18: str | None, is_branch: bool | None
    ) -> None:
        if uscc:
            self.usccs[i] = frozenset((uscc,))
        if id18:
            self.ids[i] = frozenset((id18,))
        if is_branch is not None:
            self.branch[i] = frozenset((is_branch,))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def conflict(self, a: int, b: int, check_branch: bool = True) -> str | None:
        """Why the clusters of ``a`` and ``b`` may not be merged, or None."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        ua, ub = self.usccs.get(ra), self.usccs.get(rb)
        if ua and ub and ua != ub:
            return "different_uscc"
        ia, ib = self.ids.get(ra), self.ids.get(rb)
        if ia and ib and ia != ib:
            return "different_id"
        ba, bb = self.branch.get(ra), self.branch.get(rb)
        if check_branch and ba and bb and len(ba) == 1 and len(bb) == 1 and ba != bb:
            return "branch_vs_main"
        if self.forbidden and any(
            (self.find(x) == ra and self.find(y) == rb)
            or (self.find(x) == rb and self.find(y) == ra)
            for x, y in self.forbidden
        ):
            return "negative_judgement"
        return None

    def union(
        self, a: int, b: int, via: str, check_branch: bool = True, force: bool = False
    ) -> bool:
        """Merge the clusters of ``a`` and ``b`` unless a constraint forbids it. ``force``
        (a human's positive judgement) overrides every constraint but a negative judgement."""
        reason = self.conflict(a, b, check_branch)
        if force and reason != "negative_judgement":
            reason = None
        if reason is not None:
            self.refusals.append(Refusal(a, b, reason, via))
            return False
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        self._merge_sets(self.usccs, ra, rb)
        self._merge_sets(self.ids, ra, rb)
        self._merge_sets(self.branch, ra, rb)
        return True

    @staticmethod
    def _merge_sets(table: dict[int, frozenset[Any]], into: int, other: int) -> None:
        merged = table.pop(other, frozenset()) | table.get(into, frozenset())
        if merged:
            table[into] = merged

    def clusters(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(self.n):
            out.setdefault(self.find(i), []).append(i)
        return out
