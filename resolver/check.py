"""``credgraph check``: ingest and standardise a batch, write rejects and the quality report."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resolver.ingest import FileStats, Reject, ingest
from resolver.manifest import load_manifest
from resolver.quality import QualityReport, write_quality

REJECTS_HEADER = ["dept", "file", "line", "record_id", "reason", "message"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    report: dict[str, Any]
    rejects_csv: Path
    quality_json: Path
    quality_html: Path


def run_check(
    batch_dir: Path,
    out_dir: Path,
    features: bool = True,
    progress: Callable[[FileStats], None] | None = None,
) -> CheckResult:
    """Ingest every row of the batch; write ``rejects.csv``, ``quality.json`` and ``quality.html``."""
    manifest = load_manifest(batch_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quality = QualityReport(manifest)
    rejects_path = out_dir / "rejects.csv"
    with rejects_path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(REJECTS_HEADER)
        for stats, event in ingest(manifest, features=features, on_file=progress):
            quality.add(stats, event)
            if isinstance(event, Reject):
                w.writerow([event.dept, event.file, event.line, event.record_id, event.reason, event.message])
    report = quality.to_dict()
    jpath, hpath = write_quality(report, out_dir)
    return CheckResult(report, rejects_path, jpath, hpath)
