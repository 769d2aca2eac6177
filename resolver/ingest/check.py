"""``credgraph check``: ingest and standardise a batch, write rejects and the quality report.

A department's files of one kind are independent of the rest (record keys, and so duplicates
and superseding, are per department and kind), so they are checked in a pool of worker
processes, one such group per task, and the figures merged in manifest order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resolver.csvsafe import safe_writer
from resolver.gcpause import paused_gc
from resolver.ingest.manifest import Manifest, SourceSpec, load_manifest
from resolver.ingest.quality import QualityReport, write_quality
from resolver.ingest.rows import FileStats, Reject, ingest
from resolver.workers import worker_pool

REJECTS_HEADER = ["dept", "file", "line", "record_id", "reason", "message"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    report: dict[str, Any]
    rejects_csv: Path
    quality_json: Path
    quality_html: Path


@dataclass(frozen=True, slots=True)
class _DeptResult:
    quality: QualityReport
    rejects: list[Reject]
    stats: list[FileStats]


def _check_sources(manifest: Manifest, sources: list[SourceSpec], features: bool) -> _DeptResult:
    quality = QualityReport(manifest)
    rejects: list[Reject] = []
    done: list[FileStats] = []

    def finished(stats: FileStats) -> None:
        quality.add_file(stats)  # a file without any row still has its figures and warnings
        done.append(stats)

    with paused_gc():
        for stats, event in ingest(
            manifest, features=features, sources=sources, on_file=finished, extra=False
        ):
            quality.add(stats, event)
            if isinstance(event, Reject):
                rejects.append(event)
    return _DeptResult(quality, rejects, done)


def run_check(
    batch_dir: Path,
    out_dir: Path,
    features: bool = True,
    progress: Callable[[FileStats], None] | None = None,
    workers: int | None = None,
) -> CheckResult:
    """Ingest every row of the batch; write ``rejects.csv``, ``quality.json`` and ``quality.html``."""
    manifest = load_manifest(batch_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Superseding is decided within one department's files of one kind: such groups are
    # independent. Largest first, so the pool stays busy to the end.
    by_key: dict[tuple[str, str], list[SourceSpec]] = {}
    for spec in manifest.sources:
        by_key.setdefault((spec.dept, spec.kind), []).append(spec)
    groups = sorted(by_key.values(), key=lambda g: -sum(s.path.stat().st_size for s in g))
    workers = max(1, min(workers or os.cpu_count() or 1, len(groups)))
    results: list[_DeptResult] = []
    if workers == 1:
        for group in groups:
            results.append(_check_sources(manifest, group, features))
            for st in results[-1].stats:
                if progress:
                    progress(st)
    else:
        with worker_pool(workers) as pool:
            futures = [pool.submit(_check_sources, manifest, group, features) for group in groups]
            for fut in as_completed(futures):
                results.append(fut.result())
                for st in results[-1].stats:
                    if progress:
                        progress(st)
    quality = QualityReport(manifest)
    rejects: list[Reject] = []
    order = {(s.dept, s.file): i for i, s in enumerate(manifest.sources)}
    # Merged in manifest order (not the order the tasks finished in): the same examples each run.
    results.sort(key=lambda r: min((order[(s.dept, s.file)] for s in r.stats), default=0))
    for r in results:
        quality.merge(r.quality)
        rejects.extend(r.rejects)
    rejects.sort(key=lambda r: (order.get((r.dept, r.file), 0), r.line))
    rejects_path = out_dir / "rejects.csv"
    with rejects_path.open("w", encoding="utf-8", newline="") as fh:
        w = safe_writer(fh)
        w.writerow(REJECTS_HEADER)
        for rej in rejects:
            w.writerow([rej.dept, rej.file, rej.line, rej.record_id, rej.reason, rej.message])
    report = quality.to_dict()
    jpath, hpath = write_quality(report, out_dir)
    return CheckResult(report, rejects_path, jpath, hpath)
