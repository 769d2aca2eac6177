"""Small hand-made batches for the reliability tests, and a `credgraph check` that must not crash."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from credgraph.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]

HEADER = ["登记序号", "统一社会信用代码", "企业名称", "住所"]
COLUMNS = {"统一社会信用代码": "uscc", "企业名称": "name", "住所": "address"}
ROLE_HEADER = ["序号", "企业名称", "人员姓名", "职务"]
ROLE_COLUMNS = {"企业名称": "name", "人员姓名": "person_name", "职务": "role"}


def good_row(i: int) -> list[str]:
    """A clean enterprise row (no identifier, so no check digit can fail)."""
    return [f"R{i:06d}", "", f"成都市华瑞{i}机械设备有限公司", f"四川省成都市武侯区科华北路{i}号"]


def csv_text(rows: list[list[str]], header: list[str] | None = None, end: str = "\n") -> str:
    return end.join(",".join(r) for r in [header or HEADER, *rows]) + end


@dataclass
class Source:
    """One file of a hand-made batch."""

    file: str
    data: bytes | None = None  # None: the file is written by the test itself
    kind: str = "enterprise"
    dept: str = "AMR"
    record_id: str = "登记序号"
    columns: dict[str, str] = field(default_factory=lambda: dict(COLUMNS))
    encoding: str = "utf-8"


def write_batch(root: Path, sources: list[Source], **extra: Any) -> Path:
    """A batch directory with its manifest."""
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for s in sources:
        if s.data is not None:
            (root / s.file).parent.mkdir(parents=True, exist_ok=True)
            (root / s.file).write_bytes(s.data)
        entries.append(
            {
                "dept": s.dept,
                "name": s.dept,
                "file": s.file,
                "encoding": s.encoding,
                "kind": s.kind,
                "record_id": s.record_id,
                "columns": s.columns,
            }
        )
    manifest = {"batch_id": "reliability-1", "as_of": "2026-11-01", "sources": entries, **extra}
    (root / "manifest.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), "utf-8")
    return root


@dataclass
class CheckRun:
    """What `credgraph check` printed and wrote."""

    exit_code: int
    output: str
    out: Path

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out / "quality.json").read_text("utf-8"))
        return data

    def file(self, name: str) -> dict[str, Any]:
        files = [f for d in self.report["departments"] for f in d["files"] if f["file"] == name]
        assert len(files) == 1, name
        return files[0]

    def rejects(self) -> list[dict[str, str]]:
        from resolver.csvsafe import read_rows

        with (self.out / "rejects.csv").open(encoding="utf-8", newline="") as fh:
            return list(read_rows(fh))


def check(batch: Path, out: Path) -> CheckRun:
    """Run `credgraph check` as a user does; a Python traceback fails the test."""
    res = CliRunner().invoke(main, ["check", str(batch), "--out", str(out), "--workers", "1"])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        tb = "".join(traceback.format_exception(res.exception))
        raise AssertionError(f"credgraph check crashed:\n{tb}")
    assert "Traceback" not in res.output
    return CheckRun(res.exit_code, res.output, out)


def assert_balanced(run: CheckRun, name: str, lines: int) -> dict[str, Any]:
    """Every physical line of the file placed; every row read accepted or rejected."""
    f = run.file(name)
    assert f["lines"] == lines, f
    assert f["header_lines"] + f["blank_lines"] + f["row_lines"] == lines, f
    assert f["read"] == f["accepted"] + f["rejected"], f
    assert f["balanced"] is True, f
    return f
