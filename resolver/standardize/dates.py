"""Dates, periods and money amounts in the many forms departments write them."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_EXCEL_EPOCH = dt.date(1899, 12, 30)
_YMD = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YM = re.compile(r"^(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*月?|(\d{2}))$")
_YEAR = re.compile(r"^(\d{4})\s*年?$")


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """A date with its precision; ``value`` is ISO (``2019-03-05``, ``2019-03`` or ``2019``).

    ``flag`` is None for a full valid date, ``partial_date`` for month/year precision and
    ``bad_date`` when the text is not a possible date (value is then None).
    """

    value: str | None
    precision: str | None  # day | month | year
    flag: str | None = None

    @property
    def date(self) -> dt.date | None:
        return dt.date.fromisoformat(self.value) if self.value and self.precision == "day" else None


def _mk(y: int, m: int, d: int) -> ParsedDate:
    try:
        day = dt.date(y, m, d)
    except ValueError:
        return ParsedDate(None, None, "bad_date")
    if not 1800 <= y <= 2200:
        return ParsedDate(None, None, "bad_date")
    return ParsedDate(day.isoformat(), "day")


@lru_cache(maxsize=100_000)
def parse_date(raw: str) -> ParsedDate:
    """Parse ``2019-03-05``, ``2019/3/5``, ``20190305``, ``2019年3月5日``, ``2019.03.05``,
    an Excel serial number (``43529``), and the partial ``2019年03月`` / ``2019-03`` / ``201903``."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if m := _YMD.match(text):
        return _mk(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m := _COMPACT.match(text):
        return _mk(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if re.fullmatch(r"\d{5}(\.0+)?", text):
        serial = int(float(text))
        if 1 <= serial <= 80000:
            return ParsedDate((_EXCEL_EPOCH + dt.timedelta(days=serial)).isoformat(), "day")
    if m := _YM.match(text):
        month = int(m.group(2) or m.group(3))
        if 1 <= month <= 12:
            return ParsedDate(f"{int(m.group(1)):04d}-{month:02d}", "month", "partial_date")
        return ParsedDate(None, None, "bad_date")
    if m := _YEAR.match(text):
        return ParsedDate(m.group(1), "year", "partial_date")
    return ParsedDate(None, None, "bad_date")


def date_from_cell(value: dt.date | dt.datetime) -> ParsedDate:
    """A date cell read from a spreadsheet."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return ParsedDate(day.isoformat(), "day")


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period: first and last day, and a label such as ``2026Q3`` or ``2026-05``."""

    start: str
    end: str
    label: str


_QUARTER = re.compile(r"^(\d{4})\s*(?:-?Q|年第)\s*([1-4])\s*(?:季度)?$", re.IGNORECASE)
_RANGE = re.compile(r"^(.+?)\s*(?:-|至|~|到)\s*(.+)$")


def _quarter(y: int, q: int) -> Period:
    start = dt.date(y, 3 * q - 2, 1)
    end = dt.date(y + (q == 4), (3 * q) % 12 + 1, 1) - dt.timedelta(days=1)
    return Period(start.isoformat(), end.isoformat(), f"{y}Q{q}")


@lru_cache(maxsize=50_000)
def parse_period(raw: str) -> Period | None:
    """Parse a period: ``2026-Q3``, ``2026年第3季度``, ``20260701-20260930``,
    ``2026/7/1-2026/9/30``, a month (``2026-05``), a year (``2026``) or a single date."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if m := _QUARTER.match(text):
        return _quarter(int(m.group(1)), int(m.group(2)))
    if m := _RANGE.match(text):
        a, b = parse_date(m.group(1)), parse_date(m.group(2))
        if a.date and b.date and a.date <= b.date:
            start, end = a.date, b.date
            label = f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"
            if start.day == 1 and start.month % 3 == 1 and (end - start).days in range(89, 93):
                label = _quarter(start.year, (start.month + 2) // 3).label
            return Period(start.isoformat(), end.isoformat(), label)
    d = parse_date(text)
    if d.precision == "day" and d.value:
        return Period(d.value, d.value, d.value)
    if d.precision == "month" and d.value:
        y, mth = map(int, d.value.split("-"))
        end = dt.date(y + (mth == 12), mth % 12 + 1, 1) - dt.timedelta(days=1)
        return Period(f"{d.value}-01", end.isoformat(), d.value)
    if d.precision == "year" and d.value:
        return Period(f"{d.value}-01-01", f"{d.value}-12-31", d.value)
    return None


_MONEY = re.compile(
    r"^(?:¥|￥|RMB|人民币)?\s*([+-]?\d+(?:\.\d+)?)\s*(万元|万|亿元|亿|元)?(?:人民币)?$"
)


_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_UNIT = {"万": 10_000.0, "亿": 100_000_000.0}


def parse_money(raw: str, unit_hint: str | None = None) -> float | None:
    """An amount in yuan from ``500万元``, ``5,000,000元``, ``¥1,200.50`` or a bare number.

    A bare number is in ``unit_hint`` (``万元`` when the column name says so) or yuan.
    Returns None when the text is not an amount.
    """
    if _PLAIN_NUMBER.fullmatch(raw):  # the common case, mostly distinct values: no memo
        value = float(raw)
        if unit_hint:
            value *= _UNIT.get(unit_hint[0], 1.0)
        return round(value, 2)
    return _parse_money(raw, unit_hint)


@lru_cache(maxsize=100_000)
def _parse_money(raw: str, unit_hint: str | None) -> float | None:
    text = unicodedata.normalize("NFKC", raw).strip().replace(",", "").replace(" ", "")
    m = _MONEY.match(text)
    if not m:
        return None
    value = float(m.group(1))
    unit = m.group(2) or unit_hint or "元"
    if unit.startswith("万"):
        value *= 10_000
    elif unit.startswith("亿"):
        value *= 100_000_000
    return round(value, 2)


def parse_ratio(raw: str) -> float | None:
    """A share ratio as a fraction: ``35.5%`` → 0.355, ``0.355`` → 0.355, ``35.5`` → 0.355."""
    text = unicodedata.normalize("NFKC", raw).strip()
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100
        else:
            value = float(text)
            if value > 1:
                value /= 100
    except ValueError:
        return None
    return value if 0 <= value <= 1 else None
