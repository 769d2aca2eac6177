"""Ingest: every row of every file read, mapped, validated, standardised — or rejected with a reason.

Per file, ``read = accepted + rejected`` and ``lines = header + blank + lines of the rows
read`` (the file's own line count, from its bytes) always hold. Superseding is decided per
department *and kind*: within ``(dept, kind)`` an identical repeat of a ``record_id`` is
rejected as ``duplicate_row`` and a different repeat supersedes the earlier row, which is
then counted as rejected (``superseded``); an enterprise row and a role row of one
department that share an id are different records (DESIGN.md, Contract 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any

from resolver.ingest.manifest import Manifest, SourceSpec, normalise_column
from resolver.ingest.readers import RawRow, SourceReader, open_reader
from resolver.standardize.records import SUBJECT_ID_FIELDS, SUBJECT_NAME_FIELDS, Flag, Standardiser

REJECT_REASONS = (
    "undecodable",
    "wrong_column_count",
    "bad_json",
    "unbalanced_quote",
    "bad_quoting",
    "field_too_large",
    "before_header",
    "repeated_header",
    "no_name_no_id",
    "no_record_id",
    "duplicate_row",
    "superseded",
)

#: The identity of a source record: (dept, kind, record_id).
RecordKey = tuple[str, str, str]
#: Rows read ahead so that their identifier columns are checked together (id_columns).
CHUNK_ROWS = 4096


@dataclass(slots=True)
class Record:
    """One accepted row: raw canonical values, standardised values, flags and extra columns."""

    dept: str
    file: str
    line: int
    record_id: str
    kind: str
    raw: dict[str, str]
    std: dict[str, Any]
    flags: Sequence[Flag]
    extra: Mapping[str, str]

    @property
    def key(self) -> RecordKey:
        """(dept, kind, record_id): a department's files of one kind are one table, so an
        enterprise row and a role row sharing a record_id are two records (Contract 1)."""
        return (self.dept, self.kind, self.record_id)


#: What an accepted record added to the quality figures (filled fields, (field, flag code)
#: pairs); interned, so that a superseded record can be taken out of them again.
FillPattern = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class Reject:
    """One rejected row (Contract 2 ``rejects.csv`` plus a human message).

    A ``superseded`` reject carries the earlier record's ``undo`` pattern.
    """

    dept: str
    file: str
    line: int
    record_id: str
    reason: str
    message: str
    undo: FillPattern | None = None


@dataclass(slots=True)
class FileStats:
    """Row accounting for one file."""

    dept: str
    file: str
    kind: str
    encoding: str
    encoding_warning: str | None = None
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    lines: int = 0  # the file's own count: lines (CSV, JSONL) or rows of all sheets (XLSX)
    header_lines: int = 0
    blank: int = 0
    row_lines: int = 0  # lines covered by the rows read (a quoted cell may span lines)
    sheets: int = 0
    warnings: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def take_counts(self, reader: SourceReader) -> None:
        """Copy the reader's line figures once it has read the whole file."""
        self.lines, self.header_lines, self.blank = reader.lines, reader.header_lines, reader.blank
        self.row_lines, self.sheets = reader.covered, reader.sheets
        self.warnings = list(reader.warnings)

    @property
    def balanced(self) -> bool:
        """Every row accepted or rejected, and every line of the file placed."""
        return (
            self.read == self.accepted + self.rejected
            and self.lines == self.header_lines + self.blank + self.row_lines
        )


Event = Record | Reject
#: The extra columns of a record read without them (``extra`` False): one shared empty
#: mapping rather than an empty dict per row. Never written to.
NO_EXTRA: Mapping[str, str] = {}


class DeptKeys:
    """Keys seen for one department and kind, to find duplicate and superseded rows."""

    def __init__(self) -> None:
        # record_id -> (row hash, file, line, what the record added to the quality figures)
        self.seen: dict[str, tuple[int, str, int, FillPattern]] = {}
        self.patterns: dict[FillPattern, FillPattern] = {}


def _row_hash(values: list[str]) -> int:
    """Identity of a row's content within this process (equal rows, equal hash): a repeat of a
    record_id with the same hash is a duplicate, with another one it supersedes."""
    return hash(tuple(values))


class SourceIngest:
    """Turns the raw rows of one file into Records and Rejects.

    ``extra`` False leaves the unmapped columns out of the records (``check`` does not use
    them), which saves a dictionary per row.
    """

    def __init__(
        self,
        manifest: Manifest,
        spec: SourceSpec,
        keys: DeptKeys,
        stats: FileStats,
        features: bool,
        extra: bool = True,
    ) -> None:
        self.spec = spec
        self.keys = keys
        self.stats = stats
        self.standardiser = Standardiser(spec.kind, spec.columns, manifest.as_of, features)
        self.header: list[str] | None = None
        self.index: list[tuple[int, str]] = []
        self.extra_index: list[tuple[int, str]] = []
        self.keep_extra = extra
        self.rid_at = -1
        self.subject_fields = tuple(
            f for f in (*SUBJECT_NAME_FIELDS, *SUBJECT_ID_FIELDS) if f in spec.columns.values()
        )

    def _is_header(self, cells: list[str]) -> bool:
        header = self.header or []
        return len(cells) == len(header) and all(
            normalise_column(c) == h for c, h in zip(cells, header, strict=True)
        )

    def _bind(self, header: list[str]) -> None:
        self.header = header
        pos = {c: i for i, c in enumerate(header)}
        self.rid_at = pos.get(self.spec.record_id, -1)
        self.index = [(pos[c], canon) for c, canon in self.spec.columns.items() if c in pos]
        mapped = {*self.spec.columns, self.spec.record_id}
        self.extra_index = [(i, c) for i, c in enumerate(header) if c not in mapped and c]

    def _reject(self, row: RawRow, rid: str, reason: str, message: str) -> Reject:
        self.stats.reject(reason)
        s = self.spec
        where = (
            f"{s.file} sheet {row.sheet!r} line {row.line}"
            if row.sheet
            else f"{s.file} line {row.line}"
        )
        return Reject(s.dept, s.file, row.line, rid, reason, f"{reason}: {where}: {message}")

    def rows(self) -> Iterator[Event]:
        with open_reader(self.spec) as reader:
            self.stats.encoding = reader.choice.encoding
            self.stats.encoding_warning = reader.choice.warning
            if reader.header is not None:
                self._bind(reader.header)
            stats = self.stats
            row_event = self._row
            it = reader.rows()
            while chunk := list(islice(it, CHUNK_ROWS)):
                self._prevalidate(chunk)
                for row in chunk:
                    stats.read += 1
                    event = row_event(row)
                    if type(event) is tuple:  # a superseded earlier row, then this record
                        yield event[0]
                        yield event[1]
                    else:
                        yield event  # type: ignore[misc]
            self.stats.take_counts(reader)

    def _prevalidate(self, chunk: list[RawRow]) -> None:
        """Hand the chunk's values of each identifier column to the standardiser at once."""
        std = self.standardiser
        if not std.prevalidated:
            return
        cells = [r.cells for r in chunk if r.error is None and r.cells is not None]
        by_key = [r.values for r in chunk if r.error is None and r.values is not None]
        if by_key:  # JSONL
            for col, canon in self.spec.columns.items():
                if canon in std.prevalidated:
                    std.prevalidate(canon, [v.get(col, "") for v in by_key])
        else:
            for i, canon in self.index:
                if canon in std.prevalidated:
                    std.prevalidate(canon, list(map(itemgetter(i), cells)))

    def _row(self, row: RawRow) -> Event | tuple[Reject, Record]:
        """The event of one row: its Record or Reject, or (superseded earlier row, Record)."""
        spec = self.spec
        if row.error is not None:
            rid = ""
            if row.cells is not None and 0 <= self.rid_at < len(row.cells):
                rid = row.cells[self.rid_at].strip()
            return self._reject(row, rid, row.error, row.detail)
        extra: Mapping[str, str] = NO_EXTRA
        if row.values is not None:  # JSONL: by key
            values = row.values
            if self.keep_extra:
                extra = {
                    k: v
                    for k, v in values.items()
                    if k not in spec.columns and k != spec.record_id and v
                }
            raw = {canon: values.get(col, "").strip() for col, canon in spec.columns.items()}
            raw = {k: v for k, v in raw.items() if v}
            rid = values.get(spec.record_id, "").strip()
            hash_cells = [f"{k}={v}" for k, v in values.items()]
        else:
            cells = row.cells or []
            raw = {canon: v for i, canon in self.index if (v := cells[i].strip())}
            if self.keep_extra:
                extra = {c: v for i, c in self.extra_index if (v := cells[i].strip())}
            rid = cells[self.rid_at].strip() if self.rid_at >= 0 else ""
            hash_cells = cells
            if rid == spec.record_id and self.header is not None and self._is_header(cells):
                return self._reject(
                    row, "", "repeated_header", "the header row again (files concatenated?)"
                )
        if not rid:
            return self._reject(row, "", "no_record_id", f"{spec.record_id} is blank")
        for f in self.subject_fields:
            if f in raw:
                break
        else:
            return self._reject(
                row, rid, "no_name_no_id", "no name and no identifier of the subject"
            )
        digest = _row_hash(hash_cells)
        seen = self.keys.seen
        earlier = seen.get(rid)
        superseded: Reject | None = None
        if earlier is not None:
            if earlier[0] == digest:
                return self._reject(
                    row,
                    rid,
                    "duplicate_row",
                    f"identical to line {earlier[2]} of {earlier[1]} ({spec.record_id}={rid!r})",
                )
            # The earlier row is superseded: it moves from accepted to rejected in its file.
            superseded = Reject(
                spec.dept,
                earlier[1],
                earlier[2],
                rid,
                "superseded",
                f"superseded: {earlier[1]} line {earlier[2]}: replaced by line {row.line} of {spec.file}",
                earlier[3],
            )
        result = self.standardiser.standardise(raw, row.line)
        flags = result.flags
        pattern: FillPattern = (
            tuple(raw),
            tuple([(f.field, f.code) for f in flags]) if flags else (),
        )
        patterns = self.keys.patterns
        pattern = patterns.setdefault(pattern, pattern)
        seen[rid] = (digest, spec.file, row.line, pattern)
        self.stats.accepted += 1
        record = Record(
            spec.dept, spec.file, row.line, rid, spec.kind, raw, result.std, flags, extra
        )
        return record if superseded is None else (superseded, record)


def ingest(
    manifest: Manifest,
    features: bool = True,
    sources: list[SourceSpec] | None = None,
    on_file: Callable[[FileStats], None] | None = None,
    extra: bool = True,
) -> Iterator[tuple[FileStats, Event]]:
    """Stream (file stats, record or reject) for every row of the batch, file by file.

    A ``superseded`` reject refers to a row yielded earlier as a Record; consumers keep the
    last record of each key. Stats are complete once the file's last event has been yielded.
    ``extra`` False leaves the unmapped columns out of the records.
    """
    keys: dict[tuple[str, str], DeptKeys] = {}
    stats_by_file: dict[tuple[str, str], FileStats] = {}
    for spec in sources if sources is not None else list(manifest.sources):
        stats = FileStats(spec.dept, spec.file, spec.kind, spec.encoding)
        stats_by_file[(spec.dept, spec.file)] = stats
        dept_keys = keys.setdefault((spec.dept, spec.kind), DeptKeys())
        ing = SourceIngest(manifest, spec, dept_keys, stats, features, extra)
        for event in ing.rows():
            if isinstance(event, Reject) and event.reason == "superseded":
                owner = stats_by_file[(event.dept, event.file)]
                owner.accepted -= 1
                owner.reject("superseded")
                yield owner, event
                continue
            yield stats, event
        if on_file is not None:
            on_file(stats)
