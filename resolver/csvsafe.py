"""CSV files that are safe to open in a spreadsheet (OWASP "CSV injection").

A text cell starting with ``= + - @``, a tab or a carriage return would be run as a formula
by Excel or LibreOffice; it is written with a leading ``'``. Numbers (``int``/``float``
values and number-shaped text such as ``-12.5``) stay numbers. A cell that already starts
with ``'`` followed by one of those characters or another ``'`` gets one more, so that
:func:`restore` gives back exactly what was written, for the project's own readers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_FIRST = frozenset((*TRIGGERS, "'"))  # a text cell starting otherwise is written as it is
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: object) -> object:
    """The value as it should go into a CSV cell."""
    if not isinstance(value, str) or not value:
        return value
    first = value[0]
    if first in TRIGGERS:
        if (first == "-" or first == "+") and _NUMBER.fullmatch(value):
            return value
        return "'" + value
    if first == "'" and len(value) > 1 and (value[1] in TRIGGERS or value[1] == "'"):
        return "'" + value
    return value


def restore(value: str) -> str:
    """The original text of a cell written through :func:`neutralise`."""
    if len(value) > 1 and value[0] == "'" and (value[1] in TRIGGERS or value[1] == "'"):
        return value[1:]
    return value


class SafeWriter:
    """``csv.writer`` whose rows go through :func:`neutralise` (``\\n`` line ends)."""

    def __init__(self, fh: IO[str]) -> None:
        self._w = csv.writer(fh, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow(_safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        self._w.writerows(map(_safe_row, rows))


def _safe_row(row: Iterable[Any]) -> list[Any]:
    # neutralise() only for the cells it may change: a million-row file calls it far less
    return [neutralise(v) if isinstance(v, str) and v[:1] in _FIRST else v for v in row]


def safe_writer(fh: IO[str]) -> SafeWriter:
    """A CSV writer for every CSV file the project writes."""
    return SafeWriter(fh)


def read_rows(fh: IO[str]) -> Iterator[dict[str, str]]:
    """``csv.DictReader`` over a file written by :class:`SafeWriter`, cells restored."""
    for row in csv.DictReader(fh):
        yield {k: restore(v) if isinstance(v, str) else v for k, v in row.items()}
