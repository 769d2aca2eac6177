"""Opening an XLSX workbook safely: a zip archive, bounded when uncompressed, every sheet."""

from __future__ import annotations

import datetime as dt
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Refuse a workbook whose members add up to more than this when uncompressed …
XLSX_MAX_UNCOMPRESSED = 512 * 1024 * 1024
#: … or one member that inflates more than this many times (a zip bomb; real sheets: 5–30×).
XLSX_MAX_RATIO = 200
_RATIO_FLOOR = 8 * 1024 * 1024  # small members may compress very well; only big ones count


class WorkbookError(ValueError):
    """A workbook that cannot or must not be opened (the message says why)."""


@dataclass(frozen=True, slots=True)
class Sheet:
    """One worksheet: its name and its rows as read (row 1 first); :meth:`cells` gives text."""

    name: str
    rows: list[list[Any]]

    def cells(self, i: int) -> list[str]:
        """Row ``i`` (0-based) as text cells."""
        return [cell_text(c) for c in self.rows[i]]


def cell_text(value: object) -> str:
    """A cell value as the text a department meant (dates ISO, whole floats without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value).strip()


def check_archive(path: Path) -> None:
    """Refuse what is not a zip archive, or one that would inflate beyond the caps."""
    if not zipfile.is_zipfile(path):
        raise WorkbookError(
            "not an XLSX workbook (the file is not a zip archive; is it a CSV or text file "
            "renamed .xlsx?)"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise WorkbookError(f"not a readable XLSX workbook: {exc}") from exc
    total = sum(i.file_size for i in infos)
    if total > XLSX_MAX_UNCOMPRESSED:
        raise WorkbookError(
            f"the workbook would take {total / 2**20:,.0f} MiB uncompressed, over the "
            f"{XLSX_MAX_UNCOMPRESSED / 2**20:,.0f} MiB cap; split it into several files"
        )
    for i in infos:
        if i.file_size > _RATIO_FLOOR and i.file_size > XLSX_MAX_RATIO * max(i.compress_size, 1):
            raise WorkbookError(
                f"member {i.filename} inflates {i.file_size // max(i.compress_size, 1):,} times "
                f"({i.file_size / 2**20:,.0f} MiB), over the {XLSX_MAX_RATIO}× cap: "
                "refused as a zip bomb"
            )


def read_sheets(path: Path) -> list[Sheet]:
    """Every worksheet of a workbook, after :func:`check_archive`; WorkbookError otherwise."""
    from python_calamine import CalamineError, CalamineWorkbook

    check_archive(path)
    sheets: list[Sheet] = []
    try:
        wb = CalamineWorkbook.from_path(str(path))
        for name in wb.sheet_names:
            sheet = wb.get_sheet_by_name(name)
            # iter_rows starts at row 1 (empty leading rows included); `end` is the last row.
            rows = list(sheet.iter_rows())
            height = sheet.end[0] + 1 if sheet.end is not None else 0
            if len(rows) != height:
                raise WorkbookError(
                    f"sheet {name!r}: {len(rows)} rows read but its range holds {height}"
                )
            sheets.append(Sheet(str(name), rows))
    except CalamineError as exc:
        raise WorkbookError(f"not a readable XLSX workbook: {exc}") from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, WorkbookError):
            raise
        raise WorkbookError(f"not a readable XLSX workbook: {exc}") from exc
    return sheets
