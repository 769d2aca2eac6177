"""``credgraph check`` column by column: each distinct value validated once.

The file is read by the same reader object as the row path (resolver/readers.py), so every
physical line is accounted for and a line the reader cannot use (bad bytes, stray quote,
wrong width, field over the cap, above the header) is rejected with the same reason. The
rows it yields are then handled per column: each field's distinct values are validated once
(identifiers, dates, codes repeat a lot) and the accepted rows are added to the quality
figures per fill pattern rather than one by one. Only the record-key rules (blank id, no
subject, duplicate, superseded) and the row hash stay per row. Rejects and figures are the
same as the row path's (tests/test_check_columnar.py compares them). JSONL and XLSX files,
and a file mapping two columns to one field, are read row by row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from resolver.ingest import FileStats, FillPattern, Reject, SourceIngest, _row_hash
from resolver.quality import EXAMPLES, QualityReport
from resolver.readers import CsvReader, RawRow, open_reader
from resolver.standardize import ENTERPRISE_NAME_FIELDS, PERSON_NAME_FIELDS, FlagArgs

#: Name and address fields whose linkage features ``--features`` computes (once per value).
FEATURE_FIELDS = (
    "name",
    "former_name",
    "address",
    "holder_name",
    *ENTERPRISE_NAME_FIELDS,
    *PERSON_NAME_FIELDS,
)

Ints = npt.NDArray[np.int64]
#: What a value adds to the figures: its (field, flag code) pairs and its mapping notes.
Label = tuple[tuple[tuple[str, str], ...], tuple[str, ...]]


class NotColumnar(Exception):
    """Why a file goes to the row reader."""


def _codes(column: tuple[str, ...], code_of: dict[str, int]) -> Ints:
    return np.array(list(map(code_of.__getitem__, column)), dtype=np.int64)


def _relabel(key: Ints, codes: Ints, base: int) -> Ints:
    inverse: Ints = np.unique(key * base + codes, return_inverse=True)[1].astype(np.int64)
    return inverse


def check_file(
    ing: SourceIngest,
    stats_by_file: dict[tuple[str, str], FileStats],
    quality: QualityReport,
    rejects: list[Reject],
) -> None:
    """Check one CSV file column by column: its rows are counted in ``ing.stats``, its
    rejects appended to ``rejects``, its figures added to ``quality``. Raises NotColumnar,
    before changing anything, when the file is to be read row by row."""
    spec, stats, std = ing.spec, ing.stats, ing.standardiser
    if spec.format in (".xlsx", ".jsonl"):
        raise NotColumnar(f"a {spec.format} file")
    reader = open_reader(spec)
    with reader:
        if not isinstance(reader, CsvReader):
            raise NotColumnar("not a CSV file")
        if reader.header is not None:
            ing._bind(reader.header)
        if len({canon for _, canon in ing.index}) != len(ing.index):
            raise NotColumnar("two columns map to one field")
        stats.encoding = reader.choice.encoding
        stats.encoding_warning = reader.choice.warning
        rows = list(reader.rows())
        stats.take_counts(reader)
    stats.read += len(rows)
    # Rows the reader rejected, and a repeated header, go through the row path's rules.
    special: dict[int, RawRow] = {}
    clean: list[RawRow] = []
    rid_at = ing.rid_at
    for i, row in enumerate(rows):
        cells = row.cells
        if (
            row.error is not None
            or cells is None
            or (rid_at >= 0 and cells[rid_at].strip() == spec.record_id and ing._is_header(cells))
        ):
            special[i] = row
        else:
            clean.append(row)
    n = len(clean)
    columns: list[tuple[str, ...]] = (
        list(zip(*(r.cells or () for r in clean), strict=True)) if n else []
    )
    line_list = [r.line for r in clean]
    rids = [v.strip() for v in columns[rid_at]] if rid_at >= 0 and n else [""] * n
    # Per mapped field (header order), per row: 0 = blank, else 1 + the id of the value's
    # label (its flag codes and mapping notes), each distinct value validated once.
    labels: dict[str, list[Label]] = {}
    value_flags: dict[str, tuple[dict[str, tuple[FlagArgs, ...]], tuple[str, ...]]] = {}
    flagged_rows: dict[str, npt.NDArray[np.bool_]] = {}
    codes: dict[str, Ints] = {}
    for i, canon in ing.index:
        column = columns[i] if n else ()
        code_of: dict[str, int] = {}
        if canon in std.handler_of:
            label_of: dict[Label, int] = {}
            flags_of: dict[str, tuple[FlagArgs, ...]] = {}
            for raw in dict.fromkeys(column):
                v = raw.strip()
                if not v:
                    code_of[raw] = 0
                    continue
                flags, notes = std.value_effect(canon, v)
                if flags:
                    flags_of[raw] = flags
                label = (tuple((a[0], a[1]) for a in flags), notes)
                code_of[raw] = 1 + label_of.setdefault(label, len(label_of))
            labels[canon] = list(label_of)
            value_flags[canon] = (flags_of, column)
            has_flags = np.array([False] + [bool(lb[0]) for lb in label_of], dtype=bool)
        else:
            for raw in dict.fromkeys(column):
                code_of[raw] = 1 if raw.strip() else 0
        codes[canon] = _codes(column, code_of)
        if canon in value_flags:
            flagged_rows[canon] = has_flags[codes[canon]]
        if std.features and canon in FEATURE_FIELDS:
            for raw in code_of:
                if v := raw.strip():
                    std._features({canon: v}, {})
    subject = np.zeros(n, dtype=bool)
    for canon in ing.subject_fields:
        if canon in codes:
            subject |= codes[canon] > 0
    key = np.zeros(n, dtype=np.int64)
    for _, canon in ing.index:
        key = _relabel(key, codes[canon], int(codes[canon].max(initial=0)) + 1)
    # Per row, in order: the record-key rules (blank id, no subject, duplicate, superseded).
    keys = ing.keys
    distinct_keys, first = np.unique(key, return_index=True)
    patterns: dict[int, tuple[FillPattern, tuple[str, ...]]] = {}
    for k, r in zip(distinct_keys.tolist(), first.tolist(), strict=True):
        patterns[k] = _pattern(ing, codes, labels, r)
    accepted = np.zeros(n, dtype=bool)
    events: list[tuple[int, FileStats, Reject]] = []
    key_list = key.tolist()
    subject_list = subject.tolist()
    for row in special.values():
        for ev in ing._row(row):  # rejects only: what the reader rejected, a repeated header
            if isinstance(ev, Reject):
                events.append((row.line, stats, ev))
    for i in range(n):
        line = line_list[i]
        rid = rids[i]
        if not rid:
            events.append(
                (
                    line,
                    stats,
                    ing._reject(clean[i], "", "no_record_id", f"{spec.record_id} is blank"),
                )
            )
            continue
        if not subject_list[i]:
            events.append(
                (
                    line,
                    stats,
                    ing._reject(
                        clean[i], rid, "no_name_no_id", "no name and no identifier of the subject"
                    ),
                )
            )
            continue
        digest = _row_hash(clean[i].cells or [])
        earlier = keys.seen.get(rid)
        if earlier is not None:
            if earlier[0] == digest:
                events.append(
                    (
                        line,
                        stats,
                        ing._reject(
                            clean[i],
                            rid,
                            "duplicate_row",
                            f"identical to line {earlier[2]} of {earlier[1]} ({spec.record_id}={rid!r})",
                        ),
                    )
                )
                continue
            owner = stats_by_file[(spec.dept, earlier[1])]
            owner.accepted -= 1
            owner.reject("superseded")
            events.append(
                (
                    line,
                    owner,
                    Reject(
                        spec.dept,
                        earlier[1],
                        earlier[2],
                        rid,
                        "superseded",
                        f"superseded: {earlier[1]} line {earlier[2]}: replaced by line {line} of {spec.file}",
                        earlier[3],
                    ),
                )
            )
        keys.seen[rid] = (digest, spec.file, line, patterns[key_list[i]][0])
        stats.accepted += 1
        accepted[i] = True
    # The figures: accepted rows per fill pattern (in order of first appearance), flag
    # examples in row order, then the rejects in line order.
    acc_keys = key[accepted]
    if len(acc_keys):
        uk, ufirst, ucount = np.unique(acc_keys, return_index=True, return_counts=True)
        for j in np.argsort(ufirst, kind="stable").tolist():
            pattern, notes = patterns[int(uk[j])]
            quality.add_accepted(stats, pattern, int(ucount[j]), notes)
    for canon, (flags_of, column) in value_flags.items():
        if not flags_of:
            continue
        for r in np.nonzero(accepted & flagged_rows[canon])[0][:EXAMPLES].tolist():
            for args in flags_of[column[r]]:
                quality.add_example(stats, canon, std.make_flag(args, line_list[r]).message)
    events.sort(key=lambda e: e[0])
    for _, owner, rej in events:
        quality.add(owner, rej)
        rejects.append(rej)
    # The file's reasons in the order the row path meets them (line order).
    order = dict.fromkeys(rej.reason for _, owner, rej in events if owner is stats)
    stats.reasons = {r: stats.reasons[r] for r in (*order, *stats.reasons) if r in stats.reasons}


def _pattern(
    ing: SourceIngest, codes: dict[str, Ints], labels: dict[str, list[Label]], row: int
) -> tuple[FillPattern, tuple[str, ...]]:
    """The fill pattern and mapping notes of one row, as the row path builds them: filled
    fields in header order, flags and notes in the standardiser's field order."""
    filled = tuple(canon for _, canon in ing.index if codes[canon][row] > 0)
    flags: list[tuple[str, str]] = []
    notes: list[str] = []
    for fld, _ in ing.standardiser.handlers:
        code = int(codes[fld][row]) if fld in codes else 0
        if code:
            pairs, more = labels[fld][code - 1]
            flags.extend(pairs)
            notes.extend(more)
    pattern: FillPattern = (filled, tuple(flags))
    return ing.keys.patterns.setdefault(pattern, pattern), tuple(notes)
