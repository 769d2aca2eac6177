"""Streaming readers for department files: CSV (UTF-8, UTF-8-SIG, GBK, GB18030), XLSX, JSONL.

Every physical row comes out as a :class:`RawRow` with its line number; a row that cannot be
decoded or parsed comes out with ``error`` set, never silently dropped or repaired. Blank
lines are not rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from charset_normalizer import from_bytes

from resolver.manifest import SourceSpec, normalise_column

SAMPLE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as read: ``cells`` in header order (CSV/XLSX) or by key (JSONL)."""

    line: int
    cells: list[str] | None = None
    values: dict[str, str] | None = None
    error: str | None = None  # undecodable | bad_json | wrong_column_count
    detail: str = ""


@dataclass(frozen=True, slots=True)
class EncodingChoice:
    """The encoding actually used for a file, and a warning when it is not the declared one."""

    encoding: str
    warning: str | None = None


def _decodes(lines: list[bytes], encoding: str) -> float:
    ok = 0
    for line in lines:
        try:
            line.decode(encoding)
            ok += 1
        except UnicodeDecodeError:
            pass
    return ok / len(lines) if lines else 1.0


@lru_cache(maxsize=256)
def detect_encoding(path: Path, declared: str) -> EncodingChoice:
    """Check the declared encoding on a sample; fall back to detection when it is wrong.

    A few undecodable rows are rejected row by row; only when most of the sample fails (or a
    GBK file is really valid UTF-8) is another encoding used, with a warning.
    """
    if path.suffix.lower() != ".csv":
        return EncodingChoice("utf-8")
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if sample.startswith(b"\xef\xbb\xbf"):
        sample = sample[3:]
        if declared not in ("utf-8", "utf-8-sig"):
            return EncodingChoice(
                "utf-8-sig",
                f"declared {declared}, but the file starts with a UTF-8 byte-order mark",
            )
    lines = [ln for ln in sample.split(b"\n")[:-1] if ln.strip()] or [sample]
    base = "utf-8" if declared == "utf-8-sig" else declared
    ok = _decodes(lines, base)
    non_ascii = any(b > 127 for b in sample)
    if declared in ("gbk", "gb18030") and non_ascii and _decodes(lines, "utf-8") == 1.0:
        return EncodingChoice("utf-8", f"declared {declared}, but the file is valid UTF-8")
    if ok >= 0.9:
        return EncodingChoice(declared)
    for candidate in ("utf-8", "gbk", "gb18030"):
        if candidate != base and _decodes(lines, candidate) >= 0.99:
            return EncodingChoice(
                candidate,
                f"declared {declared}, but {ok:.0%} of sampled lines decode; detected {candidate}",
            )
    best = from_bytes(sample).best()
    if best is not None and best.encoding:
        enc = best.encoding.replace("_", "-")
        return EncodingChoice(
            enc, f"declared {declared}, but {ok:.0%} of sampled lines decode; detected {enc}"
        )
    return EncodingChoice(declared)


def _split_csv(text: str) -> list[str]:
    if '"' not in text:
        return text.split(",")
    return next(csv.reader([text]))


def _strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _cell(value: object) -> str:
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


def _csv_lines(path: Path, encoding: str) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, decoded text or None when undecodable, raw bytes); quoted newlines joined."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    with path.open("rb") as fh:
        pending: list[bytes] = []
        start = 0
        for n, raw in enumerate(fh, start=1):
            if n == 1:
                raw = _strip_bom(raw)
            raw = raw.rstrip(b"\r\n")
            if pending:
                pending.append(raw)
                joined = b"\n".join(pending)
                if joined.count(b'"') % 2 == 1:
                    continue
                raw, pending, n = joined, [], start
            elif raw.count(b'"') % 2 == 1:
                pending, start = [raw], n
                continue
            try:
                yield n, raw.decode(codec), raw
            except UnicodeDecodeError:
                yield n, None, raw
        if pending:
            joined = b"\n".join(pending)
            try:
                yield start, joined.decode(codec), joined
            except UnicodeDecodeError:
                yield start, None, joined


def read_header(spec: SourceSpec) -> list[str] | None:
    """The column names of a file (JSONL: keys of the first record); None for an empty file."""
    fmt = spec.format
    if fmt == ".xlsx":
        from python_calamine import CalamineWorkbook

        sheet = CalamineWorkbook.from_path(str(spec.path)).get_sheet_by_index(0)
        for row in sheet.iter_rows():
            cells = [_cell(c) for c in row]
            if any(cells):
                return [normalise_column(c) for c in cells]
        return None
    if fmt == ".jsonl":
        with spec.path.open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    try:
                        obj = json.loads(_strip_bom(raw).decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError):
                        continue
                    if isinstance(obj, dict):
                        return [normalise_column(k) for k in obj]
        return None
    enc = detect_encoding(spec.path, spec.encoding).encoding
    for _, text, _raw in _csv_lines(spec.path, enc):
        if text is not None and text.strip():
            return [normalise_column(c) for c in _split_csv(text)]
        if text is None:
            return None
    return None


def iter_rows(spec: SourceSpec) -> Iterator[RawRow]:
    """Stream the data rows of one file (the header is not a row; blank lines are skipped)."""
    fmt = spec.format
    if fmt == ".xlsx":
        yield from _xlsx_rows(spec)
    elif fmt == ".jsonl":
        yield from _jsonl_rows(spec)
    else:
        yield from _csv_rows(spec)


def _csv_rows(spec: SourceSpec) -> Iterator[RawRow]:
    enc = detect_encoding(spec.path, spec.encoding).encoding
    header: list[str] | None = None
    for n, text, _raw in _csv_lines(spec.path, enc):
        if text is None:
            if header is None:
                continue
            yield RawRow(n, error="undecodable", detail=f"bytes are not valid {enc}")
            continue
        if not text.strip():
            continue
        cells = _split_csv(text)
        if header is None:
            header = [normalise_column(c) for c in cells]
            continue
        if len(cells) != len(header):
            yield RawRow(
                n,
                cells=cells,
                error="wrong_column_count",
                detail=f"{len(cells)} fields, header has {len(header)}",
            )
            continue
        yield RawRow(n, cells=cells)


def _jsonl_rows(spec: SourceSpec) -> Iterator[RawRow]:
    with spec.path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            raw = raw.strip()
            if n == 1:
                raw = _strip_bom(raw)
            if not raw:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield RawRow(n, error="undecodable", detail="bytes are not valid utf-8")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawRow(n, error="bad_json", detail=str(exc))
                continue
            if not isinstance(obj, dict):
                yield RawRow(n, error="bad_json", detail="a line must hold one JSON object")
                continue
            yield RawRow(n, values={normalise_column(k): _cell(v) for k, v in obj.items()})


def _xlsx_rows(spec: SourceSpec) -> Iterator[RawRow]:
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(spec.path)).get_sheet_by_index(0)
    header: list[str] | None = None
    for n, row in enumerate(sheet.iter_rows(), start=sheet.start[0] + 1 if sheet.start else 1):
        cells = [_cell(c) for c in row]
        if not any(cells):
            continue
        if header is None:
            header = [normalise_column(c) for c in cells]
            continue
        if len(cells) > len(header) and any(cells[len(header) :]):
            yield RawRow(
                n,
                cells=cells,
                error="wrong_column_count",
                detail=f"values beyond the {len(header)} header columns",
            )
            continue
        yield RawRow(n, cells=(cells + [""] * len(header))[: len(header)])
