"""Ingest: every row of every file read, mapped, validated, standardised — or rejected with a reason.

Per file, ``read = accepted + rejected`` always holds. The key of a record is
``(dept, record_id)``: an identical repeat is rejected as ``duplicate_row``; a different
repeat supersedes the earlier row, which is then counted as rejected (``superseded``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from resolver.manifest import Manifest, SourceSpec
from resolver.readers import RawRow, detect_encoding, iter_rows
from resolver.standardize import SUBJECT_ID_FIELDS, SUBJECT_NAME_FIELDS, Flag, Standardiser

REJECT_REASONS = (
    "undecodable",
    "wrong_column_count",
    "bad_json",
    "no_name_no_id",
    "no_record_id",
    "duplicate_row",
    "superseded",
)


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
    flags: list[Flag]
    extra: dict[str, str]

    @property
    def key(self) -> tuple[str, str]:
        return (self.dept, self.record_id)


@dataclass(frozen=True, slots=True)
class Reject:
    """One rejected row (Contract 2 ``rejects.csv`` plus a human message)."""

    dept: str
    file: str
    line: int
    record_id: str
    reason: str
    message: str


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

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    @property
    def balanced(self) -> bool:
        return self.read == self.accepted + self.rejected


Event = Record | Reject


class DeptKeys:
    """Keys seen for one department, to find duplicate and superseded rows."""

    def __init__(self) -> None:
        # record_id -> (row hash, file, line)
        self.seen: dict[str, tuple[bytes, str, int]] = {}


def _row_hash(values: list[str]) -> bytes:
    return hashlib.blake2b("\x1f".join(values).encode("utf-8"), digest_size=12).digest()


class SourceIngest:
    """Turns the raw rows of one file into Records and Rejects."""

    def __init__(
        self, manifest: Manifest, spec: SourceSpec, keys: DeptKeys, stats: FileStats, features: bool
    ) -> None:
        self.spec = spec
        self.keys = keys
        self.stats = stats
        self.standardiser = Standardiser(spec.kind, spec.columns, manifest.as_of, features)
        self.header: list[str] | None = None
        self.index: list[tuple[int, str]] = []
        self.extra_index: list[tuple[int, str]] = []
        self.rid_at = -1
        self.subject_fields = tuple(
            f for f in (*SUBJECT_NAME_FIELDS, *SUBJECT_ID_FIELDS) if f in spec.columns.values()
        )

    def _bind(self, header: list[str]) -> None:
        self.header = header
        pos = {c: i for i, c in enumerate(header)}
        self.rid_at = pos.get(self.spec.record_id, -1)
        self.index = [(pos[c], canon) for c, canon in self.spec.columns.items() if c in pos]
        mapped = {*self.spec.columns, self.spec.record_id}
        self.extra_index = [(i, c) for i, c in enumerate(header) if c not in mapped and c]

    def _reject(self, line: int, rid: str, reason: str, message: str) -> Reject:
        self.stats.reject(reason)
        s = self.spec
        return Reject(
            s.dept, s.file, line, rid, reason, f"{reason}: {s.file} line {line}: {message}"
        )

    def rows(self) -> Iterator[Event]:
        from resolver.readers import read_header

        header = read_header(self.spec)
        if header is None:
            return
        self._bind(header)
        for row in iter_rows(self.spec):
            self.stats.read += 1
            yield from self._row(row)

    def _row(self, row: RawRow) -> Iterator[Event]:
        spec = self.spec
        if row.error is not None:
            rid = ""
            if row.cells is not None and 0 <= self.rid_at < len(row.cells):
                rid = row.cells[self.rid_at].strip()
            yield self._reject(row.line, rid, row.error, row.detail)
            return
        if row.values is not None:  # JSONL: by key
            values = row.values
            cells = [values.get(c, "") for c in (self.header or [])]
            extra = {
                k: v
                for k, v in values.items()
                if k not in spec.columns and k != spec.record_id and v
            }
            raw = {canon: values.get(col, "").strip() for col, canon in spec.columns.items()}
            rid = values.get(spec.record_id, "").strip()
            hash_cells = [f"{k}={v}" for k, v in values.items()]
        else:
            cells = row.cells or []
            raw = {}
            for i, canon in self.index:
                v = cells[i].strip()
                if v:
                    raw[canon] = v
            extra = {c: v for i, c in self.extra_index if (v := cells[i].strip())}
            rid = cells[self.rid_at].strip() if self.rid_at >= 0 else ""
            hash_cells = cells
        if row.values is not None:
            raw = {k: v for k, v in raw.items() if v}
        if not rid:
            yield self._reject(row.line, "", "no_record_id", f"{spec.record_id} is blank")
            return
        if not any(f in raw for f in self.subject_fields):
            yield self._reject(
                row.line, rid, "no_name_no_id", "no name and no identifier of the subject"
            )
            return
        digest = _row_hash(hash_cells)
        earlier = self.keys.seen.get(rid)
        if earlier is not None:
            if earlier[0] == digest:
                yield self._reject(
                    row.line,
                    rid,
                    "duplicate_row",
                    f"identical to line {earlier[2]} of {earlier[1]} ({spec.record_id}={rid!r})",
                )
                return
            # The earlier row is superseded: it moves from accepted to rejected in its file.
            yield Reject(
                spec.dept,
                earlier[1],
                earlier[2],
                rid,
                "superseded",
                f"superseded: {earlier[1]} line {earlier[2]}: replaced by line {row.line} of {spec.file}",
            )
        self.keys.seen[rid] = (digest, spec.file, row.line)
        result = self.standardiser.standardise(raw, row.line)
        self.stats.accepted += 1
        yield Record(
            spec.dept, spec.file, row.line, rid, spec.kind, raw, result.std, result.flags, extra
        )


def ingest(
    manifest: Manifest,
    features: bool = True,
    sources: list[SourceSpec] | None = None,
    on_file: Callable[[FileStats], None] | None = None,
) -> Iterator[tuple[FileStats, Event]]:
    """Stream (file stats, record or reject) for every row of the batch, file by file.

    A ``superseded`` reject refers to a row yielded earlier as a Record; consumers keep the
    last record of each key. Stats are complete once the file's last event has been yielded.
    """
    keys: dict[str, DeptKeys] = {}
    stats_by_file: dict[tuple[str, str], FileStats] = {}
    for spec in sources if sources is not None else list(manifest.sources):
        choice = detect_encoding(spec.path, spec.encoding)
        stats = FileStats(spec.dept, spec.file, spec.kind, choice.encoding, choice.warning)
        stats_by_file[(spec.dept, spec.file)] = stats
        ing = SourceIngest(manifest, spec, keys.setdefault(spec.dept, DeptKeys()), stats, features)
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
