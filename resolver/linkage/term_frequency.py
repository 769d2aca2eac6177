"""Term-frequency adjustment of name agreement (after Splink's TF adjustments).

Agreeing on a 字号 that many firms share (华瑞, 恒通) or on a common person name (王伟) is weak
evidence; agreeing on a rare one is strong. The u-probability of an agreement level is the
chance that two different entities agree at that level; for one particular value it is that
value's frequency. The adjusted weight of a pair that agrees on value ``v`` is
``log2(m / tf(v))`` instead of ``log2(m / u)``, so the adjustment added to the model's weight
is ``log2(u / tf(v))``: positive for rare values, negative for common ones.

Frequencies are counted over deterministic components (records joined by a shared valid
identifier count once), so a firm delivered by twenty departments does not make its own
字号 look common. The table travels with the model (only values held by two or more
entities; every other value has the floor frequency of a value held once), so an incremental
run adjusts exactly as the run that trained the model did.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TermFrequencies:
    """Per table (``stem``, ``lead``, ``name`` …) the frequency of each common value."""

    tables: dict[str, dict[str, float]] = field(default_factory=dict)
    floor: float = 1.0  # frequency of a value held by a single entity

    def freq(self, table: str, value: str) -> float:
        return self.tables.get(table, {}).get(value, self.floor)

    def to_json(self) -> dict[str, Any]:
        return {"floor": self.floor, "tables": self.tables}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TermFrequencies:
        if not data:
            return cls()
        return cls({k: dict(v) for k, v in data["tables"].items()}, float(data["floor"]))


def count_terms(terms: Iterable[tuple[str, str, int]]) -> TermFrequencies:
    """Frequencies from (table, value, component) triples."""
    # each (table, value, component) once, in first-seen order; the number of components
    # holding a value is then the count of its distinct triples (counted in C)
    distinct = dict.fromkeys(terms)
    n = max(1, len({comp for _t, _v, comp in distinct}))
    holders = Counter((table, value) for table, value, _comp in distinct)
    tables: dict[str, dict[str, float]] = defaultdict(dict)
    for (table, value), count in holders.items():
        if count >= 2:
            tables[table][value] = count / n
    return TermFrequencies(dict(tables), 1.0 / n)


def value_agreement_u(values: Iterable[tuple[str | None, int]]) -> float | None:
    """The chance that two different entities, both with a value, share it: sum over values
    of c(c-1) / (N(N-1)), counting each (value, component) once. None when too few values."""
    seen = set(values)
    n = len({comp for _value, comp in seen})
    if n < 50:
        return None
    counts = Counter(value for value, _comp in seen)
    agree = sum(c * (c - 1) for c in counts.values())
    return max(agree / (n * (n - 1)), 1.0 / (n * (n - 1)))
