"""Tax periods: quarters named like ``2026Q3``, a run window of whole quarters."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_QUARTER = re.compile(r"^(\d{4})\s*[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


class PeriodError(ValueError):
    """A period or date the user wrote that cannot be read."""


@dataclass(frozen=True, slots=True, order=True)
class Quarter:
    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> dt.date:
        nxt = dt.date(self.year + (self.number == 4), (3 * self.number) % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    def next(self) -> Quarter:
        return Quarter(self.year + (self.number == 4), self.number % 4 + 1)


def parse_period(text: str) -> list[Quarter]:
    """``2026Q3`` → that quarter; ``2026`` → its four quarters."""
    t = text.strip()
    if m := _QUARTER.match(t):
        return [Quarter(int(m.group(1)), int(m.group(2)))]
    if m := _YEAR.match(t):
        return [Quarter(int(m.group(1)), n) for n in range(1, 5)]
    raise PeriodError(f"period {text!r}: write a quarter like 2026Q3 or a year like 2026")


def parse_date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise PeriodError(f"{what} {text!r}: write a date as YYYY-MM-DD") from exc


def quarters_between(start: dt.date, end: dt.date) -> list[Quarter]:
    """Every quarter that overlaps [start, end] (a run always covers whole quarters)."""
    if end < start:
        raise PeriodError(f"the end {end} is before the start {start}")
    out = [Quarter.of(start)]
    while out[-1].end < end:
        out.append(out[-1].next())
    return out


def iso(value: object) -> dt.date | None:
    """A stored ISO date string as a date (None when absent or not a full date)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
