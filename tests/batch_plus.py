"""A copy of a batch with one more department file: the tests' way to add hand-made rows."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

#: The columns of the tests' extra enterprise files (header -> Contract 1 field).
ENTERPRISE_COLUMNS = {
    "统一社会信用代码": "uscc",
    "名称": "name",
    "地址": "address",
    "电话": "phone",
}


def batch_plus(
    batch: Path,
    dest: Path,
    rows: Iterable[Sequence[str]],
    *,
    batch_id: str,
    dept: str = "TEST",
    file: str = "test_ent.csv",
    kind: str = "enterprise",
    columns: Mapping[str, str] = ENTERPRISE_COLUMNS,
    manifest: Mapping[str, Any] | None = None,
) -> Path:
    """``batch`` copied to ``dest`` with ``file`` (UTF-8: header ``编号`` + ``columns``, then
    ``rows``) added to its manifest as ``dept``'s ``kind`` source, keyed by ``编号``; the
    manifest gets ``batch_id`` and any ``manifest`` entries."""
    shutil.copytree(batch, dest)
    with (dest / file).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", *columns])
        w.writerows(rows)
    m = yaml.safe_load((dest / "manifest.yaml").read_text("utf-8"))
    m["batch_id"] = batch_id
    m["sources"].append(
        {"dept": dept, "file": file, "kind": kind, "record_id": "编号", "columns": dict(columns)}
    )
    m.update(manifest or {})
    (dest / "manifest.yaml").write_text(
        yaml.safe_dump(m, allow_unicode=True, sort_keys=False), "utf-8"
    )
    return dest
