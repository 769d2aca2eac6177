"""``credgraph check``: ingest and standardise a batch, write rejects and the quality report.

Departments are independent (record keys are per department), so they are checked in a pool
of worker processes, one department per task, and the figures merged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resolver.columnar import NotColumnar, check_file
from resolver.csvsafe import safe_writer
from resolver.ingest import DeptKeys, FileStats, Reject, SourceIngest, ingest_file
from resolver.manifest import Manifest, SourceSpec, load_manifest
from resolver.quality import QualityReport, write_quality
from resolver.workers import worker_pool

REJECTS_HEADER = ["dept", "file", "line", "record_id", "reason", "message"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    report: dict[str, Any]
    rejects_csv: Path
    quality_json: Path
    quality_html: Path
    #: CSV files the columnar path could not take, with why: the row reader read them.
    row_path: dict[str, str]
    #: CSV files read column by column.
    columnar_files: int


@dataclass(frozen=True, slots=True)
class _DeptResult:
    quality: QualityReport
    rejects: list[Reject]
    stats: list[FileStats]
    row_path: dict[str, str]  # file -> why the row reader read it (CSV files only)


def _check_sources(
    manifest: Manifest, sources: list[SourceSpec], features: bool, columnar: bool = True
) -> _DeptResult:
    """Check one department's files: clean CSV files column by column, the others (and
    any CSV file the columnar path cannot take) row by row, sharing the record keys."""
    quality = QualityReport(manifest)
    rejects: list[Reject] = []
    done: list[FileStats] = []
    row_path: dict[str, str] = {}
    keys: dict[tuple[str, str], DeptKeys] = {}
    stats_by_file: dict[tuple[str, str], FileStats] = {}
    for spec in sources:
        stats = FileStats(spec.dept, spec.file, spec.kind, spec.encoding)
        stats_by_file[(spec.dept, spec.file)] = stats
        dept_keys = keys.setdefault((spec.dept, spec.kind), DeptKeys())
        ing = SourceIngest(manifest, spec, dept_keys, stats, features)
        if columnar and spec.format not in (".xlsx", ".jsonl"):
            try:
                check_file(ing, stats_by_file, quality, rejects)
            except NotColumnar as why:
                row_path[spec.file] = str(why)
            else:
                quality.add_file(stats)
                done.append(stats)
                continue
        for owner, event in ingest_file(ing, stats_by_file):
            quality.add(owner, event)
            if isinstance(event, Reject):
                rejects.append(event)
        quality.add_file(stats)  # a file without any row still has its figures and warnings
        done.append(stats)
    return _DeptResult(quality, rejects, done, row_path)


def run_check(
    batch_dir: Path,
    out_dir: Path,
    features: bool = True,
    progress: Callable[[FileStats], None] | None = None,
    workers: int | None = None,
    columnar: bool = True,
) -> CheckResult:
    """Ingest every row of the batch; write ``rejects.csv``, ``quality.json`` and ``quality.html``."""
    manifest = load_manifest(batch_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_dept: dict[str, list[SourceSpec]] = {}
    for spec in manifest.sources:
        by_dept.setdefault(spec.dept, []).append(spec)
    # Largest departments first, so the pool stays busy to the end.
    groups = sorted(by_dept.values(), key=lambda g: -sum(s.path.stat().st_size for s in g))
    workers = max(1, min(workers or os.cpu_count() or 1, len(groups)))
    results: list[_DeptResult] = []
    if workers == 1:
        for group in groups:
            results.append(_check_sources(manifest, group, features, columnar))
            for st in results[-1].stats:
                if progress:
                    progress(st)
    else:
        with worker_pool(workers) as pool:
            futures = [
                pool.submit(_check_sources, manifest, group, features, columnar) for group in groups
            ]
            for fut in as_completed(futures):
                results.append(fut.result())
                for st in results[-1].stats:
                    if progress:
                        progress(st)
    quality = QualityReport(manifest)
    rejects: list[Reject] = []
    for r in results:
        quality.merge(r.quality)
        rejects.extend(r.rejects)
    order = {(s.dept, s.file): i for i, s in enumerate(manifest.sources)}
    rejects.sort(key=lambda r: (order.get((r.dept, r.file), 0), r.line))
    rejects_path = out_dir / "rejects.csv"
    with rejects_path.open("w", encoding="utf-8", newline="") as fh:
        w = safe_writer(fh)
        w.writerow(REJECTS_HEADER)
        for rej in rejects:
            w.writerow([rej.dept, rej.file, rej.line, rej.record_id, rej.reason, rej.message])
    report = quality.to_dict()
    jpath, hpath = write_quality(report, out_dir)
    row_path = {f: why for r in results for f, why in r.row_path.items()}
    csv_files = sum(1 for s in manifest.sources if s.format not in (".xlsx", ".jsonl"))
    columnar_files = csv_files - len(row_path) if columnar else 0
    return CheckResult(report, rejects_path, jpath, hpath, row_path, columnar_files)
