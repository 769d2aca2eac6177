"""The per-department data-quality report that goes back to departments (quality.json / .html)."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resolver.ingest.manifest import Manifest
from resolver.ingest.rows import FileStats, FillPattern, Record, Reject
from resolver.standardize.records import (
    DATE_FIELDS,
    ENTERPRISE_ID_FIELDS,
    MONEY_FIELDS,
    PERSON_ID_FIELDS,
    RELATED_USCC_FIELDS,
)

CHECKED_FIELDS = frozenset(
    (
        *ENTERPRISE_ID_FIELDS,
        *PERSON_ID_FIELDS,
        *RELATED_USCC_FIELDS,
        *DATE_FIELDS,
        *MONEY_FIELDS,
        "phone",
        "period",
        "ratio",
        "quantity",
    )
)
EXAMPLES = 3


@dataclass(slots=True)
class _FieldStats:
    filled: int = 0
    flagged: int = 0
    flags: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


class QualityReport:
    """Accumulates figures while a batch is ingested; ``to_dict`` gives the report."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.fields: dict[tuple[str, str], dict[str, _FieldStats]] = {}
        self.flagged_rows: Counter[tuple[str, str]] = Counter()
        self.reject_examples: dict[tuple[str, str], list[str]] = {}
        self.notes: dict[tuple[str, str], Counter[str]] = {}
        self.files: dict[tuple[str, str], FileStats] = {}
        # Accepted rows counted by the fields they fill, folded into ``fields`` when read
        # (one count per row instead of one per field).
        self._filled: dict[tuple[str, str], Counter[tuple[str, ...]]] = {}

    def add_file(self, stats: FileStats) -> None:
        """The figures of a file read to its end (also one that yielded no row)."""
        self.files[(stats.dept, stats.file)] = stats

    def add(self, stats: FileStats, event: Record | Reject) -> None:
        key = (stats.dept, stats.file)
        self.files[key] = stats
        if isinstance(event, Reject):
            ex = self.reject_examples.setdefault((event.dept, event.reason), [])
            if len(ex) < EXAMPLES:
                ex.append(event.message)
            if event.undo is not None:
                self._take_out((event.dept, event.file), event.undo)
            return
        filled = self._filled.get(key)
        if filled is None:
            filled = self._filled[key] = Counter()
        filled[tuple(event.raw)] += 1
        if event.flags:
            per_field = self.fields.get(key)
            if per_field is None:
                per_field = self.fields[key] = {}
            self.flagged_rows[key] += 1
            seen: set[str] = set()
            for f in event.flags:
                if f.field not in per_field:
                    per_field[f.field] = _FieldStats()
                fs = per_field[f.field]
                fs.flags[f.code] += 1
                if f.field not in seen:
                    fs.flagged += 1
                    seen.add(f.field)
                if len(fs.examples) < EXAMPLES:
                    fs.examples.append(f.message)
        notes = event.std.get("_mapping_notes")
        if notes:
            self.notes.setdefault(key, Counter()).update(notes)

    def _take_out(self, key: tuple[str, str], undo: FillPattern) -> None:
        """Take a superseded record out of the field figures (it is no longer accepted)."""
        per_field = self.fields.get(key, {})
        filled, flags = undo
        self._filled.setdefault(key, Counter())[filled] -= 1
        if flags:
            self.flagged_rows[key] -= 1
            seen: set[str] = set()
            for fld, code in flags:
                fs = per_field.get(fld)
                if fs is None:
                    continue
                fs.flags[code] -= 1
                if not fs.flags[code]:
                    del fs.flags[code]
                if fld not in seen:
                    fs.flagged -= 1
                    seen.add(fld)

    def _fold(self) -> None:
        """Move the counts of filled fields into ``fields``."""
        for key, counts in self._filled.items():
            per_field = self.fields.setdefault(key, {})
            for pattern, n in counts.items():
                for fld in pattern:
                    fstats = per_field.get(fld)
                    if fstats is None:
                        fstats = per_field[fld] = _FieldStats()
                    fstats.filled += n
        self._filled.clear()

    def merge(self, other: QualityReport) -> None:
        """Fold in the figures of another report over different files of the same batch."""
        self._fold()
        other._fold()
        self.fields.update(other.fields)
        self.flagged_rows.update(other.flagged_rows)
        for k, ex in other.reject_examples.items():
            self.reject_examples.setdefault(k, []).extend(ex)
            del self.reject_examples[k][EXAMPLES:]
        for k2, c in other.notes.items():
            self.notes.setdefault(k2, Counter()).update(c)
        self.files.update(other.files)

    def to_dict(self) -> dict[str, Any]:
        self._fold()
        m = self.manifest
        depts: dict[str, dict[str, Any]] = {}
        for spec in m.sources:
            key = (spec.dept, spec.file)
            stats = self.files.get(key) or FileStats(spec.dept, spec.file, spec.kind, spec.encoding)
            d = depts.setdefault(
                spec.dept,
                {
                    "dept": spec.dept,
                    "name": spec.name,
                    "files": [],
                    "read": 0,
                    "accepted": 0,
                    "rejected": 0,
                    "flagged_rows": 0,
                    "reject_reasons": Counter(),
                    "fields": [],
                    "mapping_notes": Counter(),
                },
            )
            d["files"].append(
                {
                    "file": spec.file,
                    "kind": spec.kind,
                    "declared_encoding": spec.encoding,
                    "encoding": stats.encoding,
                    "encoding_warning": stats.encoding_warning,
                    "lines": stats.lines,
                    "header_lines": stats.header_lines,
                    "blank_lines": stats.blank,
                    "row_lines": stats.row_lines,
                    "sheets": stats.sheets,
                    "read": stats.read,
                    "accepted": stats.accepted,
                    "rejected": stats.rejected,
                    "balanced": stats.balanced,
                    "reasons": dict(stats.reasons),
                    "warnings": list(stats.warnings),
                }
            )
            d["read"] += stats.read
            d["accepted"] += stats.accepted
            d["rejected"] += stats.rejected
            d["flagged_rows"] += self.flagged_rows[key]
            d["reject_reasons"].update(stats.reasons)
            d["mapping_notes"].update(self.notes.get(key, {}))
            per_field = self.fields.get(key, {})
            for col, canon in spec.columns.items():
                fs = per_field.get(canon, _FieldStats())
                checked = canon in CHECKED_FIELDS
                d["fields"].append(
                    {
                        "file": spec.file,
                        "column": col,
                        "field": canon,
                        "filled": fs.filled,
                        "fill_rate": round(fs.filled / stats.accepted, 4)
                        if stats.accepted
                        else None,
                        "checked": checked,
                        "valid": fs.filled - fs.flagged if checked else None,
                        "validity_rate": round((fs.filled - fs.flagged) / fs.filled, 4)
                        if checked and fs.filled
                        else None,
                        "flags": dict(fs.flags.most_common()),
                        "examples": fs.examples,
                    }
                )
        out_depts = []
        for d in depts.values():
            reasons: Counter[str] = d.pop("reject_reasons")
            d["reject_reasons"] = [
                {"reason": r, "count": n, "examples": self.reject_examples.get((d["dept"], r), [])}
                for r, n in reasons.most_common()
            ]
            d["mapping_notes"] = dict(d["mapping_notes"])
            out_depts.append(d)
        totals = Counter[str]()
        reasons_all = Counter[str]()
        for d in out_depts:
            totals.update(
                {
                    "read": d["read"],
                    "accepted": d["accepted"],
                    "rejected": d["rejected"],
                    "flagged_rows": d["flagged_rows"],
                }
            )
            for r in d["reject_reasons"]:
                reasons_all[r["reason"]] += r["count"]
        warnings = [
            f"{d['dept']} {f['file']}: {w}"
            for d in out_depts
            for f in d["files"]
            for w in ([f["encoding_warning"]] if f["encoding_warning"] else []) + f["warnings"]
        ]
        return {
            "batch_id": m.batch_id,
            "as_of": m.as_of.isoformat(),
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "summary": {
                "departments": len(out_depts),
                "files": len(m.sources),
                "lines": sum(f["lines"] for d in out_depts for f in d["files"]),
                **dict(totals),
                "balanced": all(f["balanced"] for d in out_depts for f in d["files"]),
                "reject_reasons": dict(reasons_all.most_common()),
                "warnings": warnings,
            },
            "departments": out_depts,
        }


def write_quality(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``quality.json`` and a self-contained ``quality.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath = out_dir / "quality.json"
    jpath.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    hpath = out_dir / "quality.html"
    hpath.write_text(render_html(report), "utf-8")
    return jpath, hpath


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _cls(x: float | None) -> str:
    if x is None:
        return ""
    return "bad" if x < 0.9 else "warn" if x < 0.98 else "good"


_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:24px;color:#1d2733;background:#f6f8fa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} .meta{color:#5b6875;font-size:13px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0} .card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:20px} table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #d8dee4;padding:5px 8px;text-align:left;vertical-align:top} th{background:#eef2f6}
td.n{text-align:right;font-variant-numeric:tabular-nums} .good{color:#1a7f37} .warn{color:#9a6700} .bad{color:#cf222e;font-weight:600}
details{margin:8px 0;background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:8px 12px} summary{cursor:pointer;font-weight:600}
.ex{color:#5b6875;font-size:12px} .warnbox{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px}
"""


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML page with inline CSS (no external assets)."""
    e = html.escape
    s = report["summary"]
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>数据质量报告 {e(report['batch_id'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>数据质量报告 · Data-quality report</h1><div class='meta'>batch <b>{e(report['batch_id'])}</b>, "
        f"as of {e(report['as_of'])}, generated {e(report['generated_at'])}</div>",
        "<div class='cards'>",
    ]
    for label, key in (
        ("departments 部门", "departments"),
        ("files 文件", "files"),
        ("rows read 读取", "read"),
        ("accepted 接收", "accepted"),
        ("rejected 拒收", "rejected"),
        ("rows with flags 有问题字段", "flagged_rows"),
    ):
        parts.append(f"<div class='card'>{e(label)}<b>{s.get(key, 0):,}</b></div>")
    parts.append("</div>")
    parts.append(
        f"<p>Every line accounted for (each file's own line count = header + blank lines + "
        f"lines of the rows read, and read = accepted + rejected): <b class='{'good' if s['balanced'] else 'bad'}'>"
        f"{'yes' if s['balanced'] else 'NO'}</b>. Reject reasons: "
        + ", ".join(f"{e(k)} {v:,}" for k, v in s["reject_reasons"].items())
        + "</p>"
    )
    if s["warnings"]:
        parts.append(
            "<div class='warnbox'><b>Warnings</b><ul>"
            + "".join(f"<li>{e(w)}</li>" for w in s["warnings"])
            + "</ul></div>"
        )
    parts.append(
        "<h2>Per department 各部门</h2><table id='departments'><thead><tr><th>code</th><th>department</th><th>files</th>"
        "<th>read</th><th>accepted</th><th>rejected</th><th>flagged rows</th><th>identifier validity</th><th>top reject reasons</th></tr></thead><tbody>"
    )
    for d in report["departments"]:
        idf = [
            f
            for f in d["fields"]
            if f["field"] in ENTERPRISE_ID_FIELDS + PERSON_ID_FIELDS and f["filled"]
        ]
        filled = sum(f["filled"] for f in idf)
        valid = sum(f["valid"] or 0 for f in idf)
        rate = valid / filled if filled else None
        reasons = (
            ", ".join(f"{r['reason']} ({r['count']:,})" for r in d["reject_reasons"][:3]) or "—"
        )
        parts.append(
            f"<tr><td><a href='#d-{e(d['dept'])}'>{e(d['dept'])}</a></td><td>{e(d['name'])}</td><td class='n'>{len(d['files'])}</td>"
            f"<td class='n'>{d['read']:,}</td><td class='n'>{d['accepted']:,}</td><td class='n'>{d['rejected']:,}</td>"
            f"<td class='n'>{d['flagged_rows']:,}</td><td class='n {_cls(rate)}'>{_pct(rate)}</td><td>{e(reasons)}</td></tr>"
        )
    parts.append("</tbody></table>")
    for d in report["departments"]:
        parts.append(
            f"<details id='d-{e(d['dept'])}'><summary>{e(d['dept'])} {e(d['name'])}</summary>"
        )
        for f in d["files"]:
            warn = (
                f" — <span class='warn'>{e(f['encoding_warning'])}</span>"
                if f["encoding_warning"]
                else ""
            )
            warn += "".join(f" — <span class='warn'>{e(w)}</span>" for w in f["warnings"])
            parts.append(
                f"<p><b>{e(f['file'])}</b> ({e(f['kind'])}, {e(f['encoding'])}): {f['lines']:,} lines, read "
                f"{f['read']:,} rows, accepted {f['accepted']:,}, rejected {f['rejected']:,}"
                f"{'' if f['balanced'] else ' — <b class=bad>not balanced</b>'}{warn}</p>"
            )
        if d["mapping_notes"]:
            parts.append(
                "<p class='warn'>Data dictionary: "
                + ", ".join(f"{e(k)} × {v:,}" for k, v in d["mapping_notes"].items())
                + " (a USCC found in a legacy-identifier column was used as a USCC)</p>"
            )
        parts.append(
            "<table><thead><tr><th>file</th><th>column</th><th>field</th><th>fill rate</th><th>validity</th><th>problems</th><th>examples</th></tr></thead><tbody>"
        )
        for f in d["fields"]:
            probs = ", ".join(f"{e(k)} {v:,}" for k, v in f["flags"].items()) or "—"
            ex = "<br>".join(e(x) for x in f["examples"])
            parts.append(
                f"<tr><td>{e(f['file'])}</td><td>{e(f['column'])}</td><td>{e(f['field'])}</td>"
                f"<td class='n'>{_pct(f['fill_rate'])}</td><td class='n {_cls(f['validity_rate'])}'>{_pct(f['validity_rate'])}</td>"
                f"<td>{probs}</td><td class='ex'>{ex}</td></tr>"
            )
        parts.append("</tbody></table>")
        if d["reject_reasons"]:
            parts.append("<p><b>Rejected rows</b></p><ul>")
            for r in d["reject_reasons"]:
                ex = "".join(f"<div class='ex'>{e(x)}</div>" for x in r["examples"])
                parts.append(f"<li>{e(r['reason'])}: {r['count']:,}{ex}</li>")
            parts.append("</ul>")
        parts.append("</details>")
    parts.append("</body></html>\n")
    return "".join(parts)
