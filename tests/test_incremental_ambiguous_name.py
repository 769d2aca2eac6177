"""A name that becomes ambiguous: a stored credit event naming its subject by name only
points at no one once a later batch delivers a second enterprise of that name — what a
one-shot link of both batches says — instead of keeping the first (the state's key look-up
saw only the stored enterprise, the new one was not stored yet)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from resolver.linkage.link import LinkConfig, run_link
from resolver.standardize.identifiers import make_uscc
from resolver.state.graphsync import export_run
from resolver.state.incremental import run_link_stateful

NAME = "广州市甲乙贸易有限公司"
ENT = {"统一社会信用代码": "uscc", "名称": "name", "地址": "address"}
EV = {"名称": "name", "类型": "event_type", "文号": "decision_no", "机关": "authority"}
EVENT = ("V1", NAME, "行政处罚", "穗罚〔2025〕1号", "广州市市场监督管理局")


def _batch(
    dest: Path, batch_id: str, ents: list[tuple[str, ...]], evs: list[tuple[str, ...]]
) -> Path:
    dest.mkdir(parents=True)
    sources = []
    for file, kind, cols, rows in (
        ("ent.csv", "enterprise", ENT, ents),
        ("ev.csv", "credit_event", EV, evs),
    ):
        with (dest / file).open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["编号", *cols])
            w.writerows(rows)
        sources.append(
            {"dept": "TEST", "file": file, "kind": kind, "record_id": "编号", "columns": dict(cols)}
        )
    manifest = {"batch_id": batch_id, "as_of": "2026-11-01", "sources": sources}
    (dest / "manifest.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), "utf-8")
    return dest


def _subject(rows_file: Path) -> tuple[str | None, str]:
    for line in rows_file.read_text("utf-8").splitlines():
        row = json.loads(line)
        if row["source"]["record_id"] == "V1":
            return row["subject"], row["resolved"]
    raise AssertionError(f"no V1 in {rows_file}")


def test_a_name_made_ambiguous_by_a_later_batch_resolves_as_one_shot(tmp_path: Path) -> None:
    u1, u2 = (make_uscc("9", "1", "440103", f"{71000000 + i:08d}") for i in (1, 2))
    first = [("T1", u1, NAME, "天河路1号")]
    second = [("T3", u2, NAME, "白云路3号")]
    b1 = _batch(tmp_path / "b1", "amb-1", first, [EVENT])
    b2 = _batch(tmp_path / "b2", "amb-2", second, [])
    both = _batch(tmp_path / "both", "amb-all", first + second, [EVENT])
    cfg = LinkConfig()
    state = tmp_path / "state"
    run_link_stateful(b1, tmp_path / "r1", state, cfg)
    assert _subject(tmp_path / "r1" / "events.jsonl")[1] == "by_name"  # (one enterprise)
    run_link_stateful(b2, tmp_path / "r2", state, cfg)
    run_link(both, tmp_path / "one", cfg)
    one_shot = _subject(tmp_path / "one" / "events.jsonl")
    assert one_shot == (None, "unresolved")
    # The run that made the name ambiguous says so, and so does the state as a whole.
    assert _subject(tmp_path / "r2" / "events.jsonl") == one_shot
    export_run(state, tmp_path / "whole")
    assert _subject(tmp_path / "whole" / "events.jsonl") == one_shot
