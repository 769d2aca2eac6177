"""One reader per department file: CSV (UTF-8, UTF-8-SIG, GBK, GB18030), XLSX, JSONL.

A reader detects the encoding once, finds the header, yields every row as a :class:`RawRow`
with its line number and the number of physical lines it covers, and keeps the count of
the file's own lines (counted from the bytes, independently of the parser), so that
``lines = header lines + blank lines + lines of the rows read`` can be checked per file. A
row that cannot be decoded or parsed comes out with ``error`` set, never silently dropped
or repaired; a file that cannot be read at all raises :class:`FileProblem`.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from resolver.ingest.encodings import BOM, EncodingChoice, detect_encoding
from resolver.ingest.manifest import SourceSpec, normalise_column
from resolver.ingest.workbooks import WorkbookError, cell_text, read_sheets

#: Longest field (characters) a CSV row may hold; a longer one rejects the row.
FIELD_CAP = 1024 * 1024
#: Most physical lines one quoted CSV record may span before its quote counts as stray.
RECORD_LINES_CAP = 1000
#: Deepest nesting of arrays/objects a JSON line may have.
JSON_DEPTH_CAP = 64
#: How many non-blank lines are searched for the header (titles above it are common).
HEADER_SEARCH_LINES = 20
CHUNK = 1024 * 1024

csv.field_size_limit(FIELD_CAP)
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes that did not decode (surrogateescape)


class FileProblem(ValueError):
    """A file that cannot be read at all: one message naming the file, line and what is wrong."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        super().__init__(file, line, message)
        self.file, self.line, self.message = file, line, message

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class RawRow:
    """One row as read: ``cells`` in header order (CSV/XLSX) or ``values`` by key (JSONL).

    ``span`` is the number of physical lines the row covers (a quoted cell may hold line
    breaks); ``error`` names why the row cannot be used (a reject reason).
    """

    __slots__ = ("cells", "detail", "error", "line", "sheet", "span", "values")

    def __init__(
        self,
        line: int,
        cells: list[str] | None = None,
        values: dict[str, str] | None = None,
        error: str | None = None,
        detail: str = "",
        span: int = 1,
        sheet: str = "",
    ) -> None:
        self.line, self.cells, self.values = line, cells, values
        self.error, self.detail, self.span, self.sheet = error, detail, span, sheet


def count_lines(path: Path, lone_cr: bool) -> int:
    """Physical lines of a file, counted from its bytes: ``\\n``, ``\\r\\n`` and (if
    ``lone_cr``) a lone ``\\r`` end a line; a last line without an ending counts too."""
    n = 0
    last = b""
    with path.open("rb") as fh:
        while data := fh.read(CHUNK):
            n += data.count(b"\n")
            if lone_cr:
                n += data.count(b"\r") - data.count(b"\r\n")
                if last == b"\r" and data[:1] == b"\n":
                    n -= 1  # a \r\n cut between two chunks was counted as a lone \r
            last = data[-1:]
    if last and last not in (b"\n", b"\r" if lone_cr else b"\n"):
        n += 1
    return n


def _text_lines(fh: BinaryIO, codec: str) -> Iterator[tuple[str, bool]]:
    """(line without its ending, whether some bytes did not decode); ``\\r\\n``, ``\\r`` and
    ``\\n`` all end a line, exactly as :func:`count_lines` counts them."""
    decoder = codecs.getincrementaldecoder(codec)(errors="surrogateescape")
    pending = ""
    size = 16 * 1024  # small at first: a header check reads one line
    while True:
        data = fh.read(size)
        size = CHUNK
        text = pending + decoder.decode(data, final=not data)
        hold = ""
        if data and text.endswith("\r"):
            text, hold = text[:-1], "\r"  # maybe the first half of \r\n
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        parts = text.split("\n")
        pending = parts.pop() + hold
        if _ESCAPED.search(text) is None:
            for p in parts:
                yield p, False
        else:
            for p in parts:
                yield p, _ESCAPED.search(p) is not None
        if not data:
            break
    if pending:
        yield pending, _ESCAPED.search(pending) is not None


class _Lines:
    """Numbered physical lines with push-back (lines a stray quote swallowed are re-read)."""

    __slots__ = ("_back", "_it", "n")

    def __init__(self, it: Iterator[tuple[str, bool]]) -> None:
        self._it = it
        self._back: list[tuple[str, bool]] = []
        self.n = 0

    def next(self) -> tuple[str, bool] | None:
        item = self._back.pop() if self._back else next(self._it, None)
        if item is not None:
            self.n += 1
        return item

    def push_back(self, items: list[tuple[str, bool]]) -> None:
        self._back.extend(reversed(items))
        self.n -= len(items)


def _replaced(cells: list[str]) -> list[str]:
    """Cells with undecodable bytes shown as U+FFFD (they only go into messages)."""
    return [_ESCAPED.sub("\ufffd", c) for c in cells]


def _bad_bytes(text: str) -> str:
    m = _ESCAPED.search(text)
    if m is None:
        return ""
    return f"byte 0x{ord(m.group()) - 0xDC00:02X} at column {m.start() + 1}"


class SourceReader:
    """Reads one department file: ``header``, then ``rows()``; counts every line.

    Use as a context manager (the file stays open between the header and the rows).
    """

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.choice = EncodingChoice("utf-8")
        self.header: list[str] | None = None
        self.lines = 0  # the file's own count (bytes), independent of the parser
        self.header_lines = 0
        self.blank = 0
        self.covered = 0  # lines covered by the rows yielded so far
        self.sheets = 0
        self.warnings: list[str] = []

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""

    def rows(self) -> Iterator[RawRow]:
        """Every data row (the header is not a row; blank lines are counted, not yielded)."""
        raise NotImplementedError

    @property
    def accounted(self) -> int:
        """Lines the reader has placed: header, blank, or part of a row."""
        return self.header_lines + self.blank + self.covered

    def problem(self, line: int | None, message: str) -> FileProblem:
        return FileProblem(self.spec.file, line, message)

    def _count(self) -> int:
        """The file's own line count (read when the rows are: a header check needs none)."""
        return count_lines(self.spec.path, lone_cr=self.spec.format != ".jsonl")

    def _note_empty(self) -> None:
        if self.spec.format != ".xlsx":
            self.lines = self._count()
        if self.lines == 0:
            self.warnings.append("the file is empty (0 bytes or no line)")
        elif self.header is None:
            self.warnings.append("the file holds only blank lines")


def open_reader(spec: SourceSpec) -> SourceReader:
    """The reader for a file, its header already read; FileProblem if the file is unusable."""
    fmt = spec.format
    if fmt == ".xlsx":
        return XlsxReader(spec)
    if fmt == ".jsonl":
        return JsonlReader(spec)
    return CsvReader(spec)


def read_header(spec: SourceSpec) -> list[str] | None:
    """The column names of a file (JSONL: keys of the first object); None for an empty file."""
    with open_reader(spec) as reader:
        return reader.header


def _header_index(candidates: list[tuple[int, list[str]]], record_id: str) -> int:
    """Which of the first non-blank lines is the header: the first holding the record-id
    column, else the first line (whose missing columns the manifest check reports)."""
    for i, (_, cells) in enumerate(candidates):
        if record_id in cells:
            return i
    return 0


class CsvReader(SourceReader):
    """A delimited text file; quoted cells may span lines; stray quotes are contained."""

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self.choice = detect_encoding(spec.path, spec.encoding, spec.record_id)
        self._fh = spec.path.open("rb")
        codec = self.choice.encoding
        self._src = _Lines(_text_lines(self._fh, codec))
        self._ahead: list[RawRow] = []  # lines above the header, rejected
        try:
            self._read_header()
        except BaseException:
            self._fh.close()
            raise

    def close(self) -> None:
        self._fh.close()

    def _read_header(self) -> None:
        consumed: list[tuple[int, str, bool]] = []
        found: list[tuple[int, list[str]]] = []  # decodable non-blank lines, parsed
        first_bad: tuple[int, str] | None = None
        nonblank = 0
        while nonblank < HEADER_SEARCH_LINES:
            item = self._src.next()
            if item is None:
                break
            text, bad = item
            n = self._src.n
            consumed.append((n, text, bad))
            if not text.strip():
                continue
            nonblank += 1
            if bad:
                if first_bad is None and not found:
                    first_bad = (n, _bad_bytes(text))
                continue
            try:
                cells = [normalise_column(c) for c in next(csv.reader([text]))]
            except csv.Error:
                continue
            found.append((n, cells))
            if self.spec.record_id in cells:
                break
        if nonblank == 0:
            self.blank = len(consumed)
            self._note_empty()
            return
        at = _header_index(found, self.spec.record_id) if found else -1
        if at < 0 and first_bad is None:
            raise self.problem(
                consumed[0][0],
                f"no header line: none of the first {HEADER_SEARCH_LINES} non-blank lines "
                "can be read as CSV",
            )
        if at < 0 or (at == 0 and first_bad is not None and self.spec.record_id not in found[0][1]):
            line, what = first_bad or (consumed[0][0], "")
            raise self.problem(
                line,
                f"the header line does not decode as {self.choice.encoding} ({what}); "
                "check the file's encoding",
            )
        header_line, self.header = found[at]
        self.header_lines = 1
        for n, text, _bad in consumed:
            if n >= header_line:
                continue
            if not text.strip():
                self.blank += 1
            else:
                self._ahead.append(
                    RawRow(
                        n,
                        error="before_header",
                        detail=f"a line above the header (line {header_line})",
                    )
                )
        # Lines read past the header while searching go back to be read as rows.
        self._src.push_back([(t, b) for n, t, b in consumed if n > header_line])

    def _record(self, n: int, text: str, bad: bool, width: int | None) -> RawRow:
        """Parse the record starting at line ``n`` (pulling more lines for a quoted cell)."""
        if '"' not in text:
            cells = text.split(",")
            if len(text) > FIELD_CAP and max(len(c) for c in cells) > FIELD_CAP:
                return RawRow(n, error="field_too_large", detail=_too_large(cells))
            if bad:
                return RawRow(
                    n, cells=_replaced(cells), error="undecodable", detail=self._undecodable(text)
                )
            return RawRow(n, cells=cells)
        return self._quoted(n, text, bad, width)

    def _undecodable(self, text: str) -> str:
        return f"bytes are not valid {self.choice.encoding} ({_bad_bytes(text)})"

    def _quoted(self, n: int, text: str, bad: bool, width: int | None) -> RawRow:
        if len(text) <= FIELD_CAP:
            # Most quoted rows close their quotes on the line: an open quote would carry the
            # line break into the last cell.
            try:
                line_cells: list[str] | None = next(csv.reader((text + "\n",)))
            except csv.Error:
                line_cells = None  # the full path below names the error
            if line_cells is not None and not line_cells[-1].endswith("\n"):
                cells = line_cells
                if bad:
                    detail = self._undecodable(text)
                    return RawRow(n, cells=_replaced(cells), error="undecodable", detail=detail)
                return RawRow(n, cells=cells)
        taken: list[tuple[str, bool]] = []
        src = self._src

        def feed() -> Iterator[str]:
            yield text + "\n"
            while len(taken) + 1 < RECORD_LINES_CAP:
                item = src.next()
                if item is None:
                    return
                taken.append(item)
                yield item[0] + "\n"

        try:
            cells = next(csv.reader(feed()))
        except csv.Error as exc:
            src.push_back(taken)
            reason = "field_too_large" if "larger than field limit" in str(exc) else "bad_quoting"
            detail = (
                f"a field is longer than {FIELD_CAP:,} characters"
                if reason == "field_too_large"
                else str(exc)
            )
            if reason == "field_too_large" and taken:
                reason = "unbalanced_quote"
                detail = (
                    f"a quote opened on this line is not closed within {FIELD_CAP:,} characters; "
                    "the following lines are read on their own"
                )
            return RawRow(n, error=reason, detail=detail)
        if cells and cells[-1].endswith("\n"):
            cells[-1] = cells[-1][:-1]  # the stream ended inside a quoted cell
        if taken and (width is None or len(cells) != width):
            # A quote that swallowed the following lines: reject this line, re-read the rest.
            src.push_back(taken)
            return RawRow(
                n,
                error="unbalanced_quote",
                detail="a quote opened on this line is not closed where the row ends; "
                "the following lines are read on their own",
            )
        lines = [(text, bad), *taken]
        span = len(lines)
        if any(b for _, b in lines):
            return RawRow(
                n,
                cells=_replaced(cells),
                error="undecodable",
                detail=self._undecodable("\n".join(t for t, _ in lines)),
                span=span,
            )
        return RawRow(n, cells=cells, span=span)

    def rows(self) -> Iterator[RawRow]:
        self.lines = self._count()
        for row in self._ahead:
            self.covered += row.span
            yield row
        if self.header is None:
            return
        width = len(self.header)
        src = self._src
        ahead = self.covered
        while (item := src.next()) is not None:
            text, bad = item
            n = src.n
            if not bad and '"' not in text and len(text) <= FIELD_CAP:
                # The common case, kept lean: one line, no quotes.
                if not text or text.isspace():
                    self.blank += 1
                    continue
                cells = text.split(",")
                self.covered += 1
                if len(cells) != width:
                    yield RawRow(
                        n,
                        cells=cells,
                        error="wrong_column_count",
                        detail=f"{len(cells)} fields, header has {width}",
                    )
                else:
                    yield RawRow(n, cells=cells)
                continue
            if not text.strip():
                self.blank += 1
                continue
            row = self._record(n, text, bad, width)
            self.covered += row.span
            if row.error is None and row.cells is not None and len(row.cells) != width:
                row = RawRow(
                    n,
                    cells=row.cells,
                    error="wrong_column_count",
                    detail=f"{len(row.cells)} fields, header has {width}",
                    span=row.span,
                )
            yield row
        if not self.warnings and self.covered == ahead:
            self.warnings.append("header only: the file has no data rows")
        self.close()


def _too_large(cells: list[str]) -> str:
    i = max(range(len(cells)), key=lambda j: len(cells[j]))
    return f"field {i + 1} holds {len(cells[i]):,} characters, over the {FIELD_CAP:,} cap"


def json_depth(text: str) -> int:
    """Deepest nesting of arrays/objects in a JSON text (brackets inside strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _json_cell(value: object) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return cell_text(value)


class JsonlReader(SourceReader):
    """One JSON object per line; the header is the first object's keys."""

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self._fh = spec.path.open("rb")
        try:
            self._find_header()
        except BaseException:
            self._fh.close()
            raise

    def _find_header(self) -> None:
        first_error: tuple[int, str] | None = None
        for n, raw in enumerate(self._fh, start=1):
            row = self._parse(n, raw)
            if row is None:
                continue
            if row.values is not None:
                self.header = list(row.values)
                break
            if first_error is None:
                first_error = (n, f"{row.error}: {row.detail}")
        self._fh.seek(0)
        if self.header is None:
            if first_error is not None:
                raise self.problem(
                    first_error[0],
                    f"no line of the file holds a JSON object (first line: {first_error[1]})",
                )
            self._note_empty()

    def close(self) -> None:
        self._fh.close()

    @staticmethod
    def _parse(n: int, raw: bytes) -> RawRow | None:
        raw = raw.strip()
        if n == 1 and raw.startswith(BOM):
            raw = raw[3:]
        if not raw:
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return RawRow(
                n, error="undecodable", detail=f"bytes are not valid utf-8 (at byte {exc.start})"
            )
        if text.count("[") + text.count("{") > JSON_DEPTH_CAP:
            depth = json_depth(text)
            if depth > JSON_DEPTH_CAP:
                return RawRow(
                    n,
                    error="bad_json",
                    detail=f"nested {depth:,} levels deep, over the {JSON_DEPTH_CAP} cap",
                )
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            return RawRow(n, error="bad_json", detail=str(exc))
        if not isinstance(obj, dict):
            return RawRow(n, error="bad_json", detail="a line must hold one JSON object")
        return RawRow(n, values={normalise_column(k): _json_cell(v) for k, v in obj.items()})

    def rows(self) -> Iterator[RawRow]:
        self.lines = self._count()
        if self.header is None:
            self.blank = self.lines  # only blank lines (a line without an object is an error)
            return
        for n, raw in enumerate(self._fh, start=1):
            row = self._parse(n, raw)
            if row is None:
                self.blank += 1
                continue
            self.covered += 1
            yield row
        if self.covered == 0:
            self.warnings.append("the file has no data rows")
        self.close()


class XlsxReader(SourceReader):
    """Every worksheet of a workbook: sheets with the same header are read in order; a sheet
    with another header is a FileProblem naming it; empty sheets are counted and skipped."""

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        try:
            self._sheets = read_sheets(spec.path)
        except WorkbookError as exc:
            raise self.problem(None, str(exc)) from exc
        self.sheets = len(self._sheets)
        self.lines = sum(len(s.rows) for s in self._sheets)
        self._starts: list[int] = []  # per sheet: index of its header row (-1: empty sheet)
        for sheet in self._sheets:
            found: list[tuple[int, list[str]]] = []
            for i in range(len(sheet.rows)):
                row = sheet.cells(i)
                if any(row):
                    found.append((i + 1, [normalise_column(c) for c in row]))
                    if spec.record_id in found[-1][1] or len(found) == HEADER_SEARCH_LINES:
                        break
            if not found:
                self._starts.append(-1)
                continue
            line, cells = found[_header_index(found, spec.record_id)]
            while cells and not cells[-1]:
                cells.pop()
            if self.header is None:
                self.header = cells
            elif cells != self.header:
                raise self.problem(
                    line,
                    f"sheet {sheet.name!r} has another header than sheet "
                    f"{self._sheets[0].name!r} ({', '.join(cells[:8])}); "
                    "one file holds one table: split the sheet into its own file",
                )
            self._starts.append(line - 1)
        if self.header is None:
            self._note_empty()

    def rows(self) -> Iterator[RawRow]:
        if self.header is None:
            self.blank = self.lines
            return
        width = len(self.header)
        many = sum(1 for st in self._starts if st >= 0) > 1
        data_rows = 0
        for sheet, start in zip(self._sheets, self._starts, strict=True):
            if start < 0:
                self.blank += len(sheet.rows)
                continue
            name = sheet.name if many else ""
            where = f"sheet {sheet.name!r}: " if many else ""
            for i in range(len(sheet.rows)):
                row = sheet.cells(i)
                n = i + 1
                if i == start:
                    self.header_lines += 1
                    continue
                if not any(row):
                    self.blank += 1
                    continue
                self.covered += 1
                if i < start:
                    yield RawRow(
                        n,
                        error="before_header",
                        detail=f"{where}a row above the header",
                        sheet=name,
                    )
                    continue
                data_rows += 1
                if len(row) > width and any(row[width:]):
                    yield RawRow(
                        n,
                        cells=row,
                        error="wrong_column_count",
                        detail=f"{where}values beyond the {width} header columns",
                        sheet=name,
                    )
                else:
                    yield RawRow(n, cells=(row + [""] * width)[:width], sheet=name)
        if data_rows == 0:
            self.warnings.append("header only: the workbook has no data rows")
