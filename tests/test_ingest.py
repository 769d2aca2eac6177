"""Ingest against the generator's truth, row accounting, and bad manifests and files."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from fixtures.generate import Summary
from resolver.ingest.check import run_check
from resolver.ingest.manifest import ManifestError, load_manifest
from resolver.ingest.rows import Record, Reject, ingest
from tests.conftest import SAMPLE

# Noise that must leave a flag on the field (kept raw, not used as evidence).
MUST_FLAG = {"bad_check", "excel_float", "impossible_date", "partial_date"}
ID_FIELDS = {
    "uscc",
    "tax_id",
    "reg_no",
    "org_code",
    "any_id",
    "id_number",
    "legal_rep_id",
    "holder_id_number",
}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def checked(
    generated: tuple[Path, Summary], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    out, _ = generated
    dest = tmp_path_factory.mktemp("check")
    run_check(out / "batch", dest, workers=2)
    return out, dest


def test_planted_rejects_are_rejected_with_their_reason(checked: tuple[Path, Path]) -> None:
    out, dest = checked
    truth = {
        (r["dept"], r["file"], r["line"], r["reason"]) for r in _read(out / "truth" / "rejects.csv")
    }
    ours = {(r["dept"], r["file"], r["line"], r["reason"]) for r in _read(dest / "rejects.csv")}
    assert truth, "the generated batch plants rejects"
    assert truth - ours == set(), "every planted reject is rejected with the right reason"
    assert ours - truth == set(), "no clean row is rejected"


def test_reject_messages_name_file_line_and_field(checked: tuple[Path, Path]) -> None:
    _, dest = checked
    rows = _read(dest / "rejects.csv")
    for r in rows:
        assert r["message"].startswith(r["reason"] + ":")
        assert f"line {r['line']}" in r["message"] and r["file"] in r["message"]


def test_every_file_balances(checked: tuple[Path, Path]) -> None:
    out, dest = checked
    import json

    q = json.loads((dest / "quality.json").read_text("utf-8"))
    assert q["summary"]["balanced"] is True
    files = [f for d in q["departments"] for f in d["files"]]
    from fixtures.generate import load_catalog
    from fixtures.issue_classes import FILES as ISSUE_FILES

    assert len(files) == sum(len(d["sources"]) for d in load_catalog()) + len(ISSUE_FILES)
    for f in files:
        assert f["read"] == f["accepted"] + f["rejected"], f
        assert f["read"] > 0
    truth_rows = sum(1 for _ in _read(out / "truth" / "entities.csv")) + sum(
        1 for _ in _read(out / "truth" / "subjects.csv")
    )
    assert q["summary"]["accepted"] == truth_rows


def test_planted_field_errors_are_flagged_not_rejected(generated: tuple[Path, Summary]) -> None:
    out, _ = generated
    planted = [r for r in _read(out / "truth" / "noise.csv") if r["noise"] in MUST_FLAG]
    assert len(planted) > 50
    manifest = load_manifest(out / "batch")
    records: dict[tuple[str, str], Record] = {}
    for _stats, event in ingest(manifest, features=False):
        if isinstance(event, Record):
            records[(event.dept, event.record_id)] = event  # noise.csv names (dept, record_id)
    missed = []
    for p in planted:
        rec = records.get((p["dept"], p["record_id"]))
        assert rec is not None, p  # kept, not rejected
        flagged = {f.field for f in rec.flags}
        if p["field"] not in flagged:
            missed.append(p)
        if p["noise"] == "bad_check" and p["field"] in ("uscc", "tax_id"):
            assert "uscc" not in rec.std or rec.std["uscc"] != rec.raw.get(p["field"]), (
                "a bad USCC is never evidence"
            )
    assert missed == []


def test_transposed_identifiers_are_caught(generated: tuple[Path, Summary]) -> None:
    out, _ = generated
    planted = [r for r in _read(out / "truth" / "noise.csv") if r["noise"] == "transposed"]
    manifest = load_manifest(out / "batch")
    records = {
        (e.dept, e.record_id): e
        for _s, e in ingest(manifest, features=False)
        if isinstance(e, Record)
    }
    caught = sum(
        1
        for p in planted
        if p["field"] in {f.field for f in records[(p["dept"], p["record_id"])].flags}
    )
    # USCC mod-31 and ID MOD 11-2 catch every adjacent transposition of different characters.
    assert caught == len(planted) > 20


def test_person_ids_are_masked_in_messages(generated: tuple[Path, Summary]) -> None:
    out, _ = generated
    manifest = load_manifest(out / "batch")
    for _s, e in ingest(manifest, features=False):
        if isinstance(e, Record):
            for f in e.flags:
                if f.field in ("id_number", "legal_rep_id", "holder_id_number"):
                    raw = e.raw[f.field]
                    if len(raw) >= 15 and "*" not in raw:  # a published masked ID is masked
                        assert raw not in f.message and "*" in f.message


# --- bad manifests and files ------------------------------------------------------------


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    dest = tmp_path / "batch"
    shutil.copytree(SAMPLE / "batch", dest)
    return dest


def _edit_manifest(batch: Path, fn: object) -> None:
    path = batch / "manifest.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    fn(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")


def test_missing_file_is_a_clear_error(batch: Path) -> None:
    (batch / "amr_roles.csv").unlink()
    with pytest.raises(ManifestError) as exc:
        load_manifest(batch)
    assert "AMR amr_roles.csv" in str(exc.value) and "file not found" in str(exc.value)


def test_absent_mapped_column_is_a_clear_error(batch: Path) -> None:
    _edit_manifest(batch, lambda d: d["sources"][0]["columns"].update({"不存在的列": "tax_id"}))
    with pytest.raises(ManifestError) as exc:
        load_manifest(batch)
    assert "'不存在的列' is not in the file's header" in str(exc.value)


def test_unknown_kind_and_duplicate_source_are_reported_together(batch: Path) -> None:
    def edit(d: dict[str, list[dict[str, object]]]) -> None:
        d["sources"][1]["kind"] = "company"
        d["sources"].append(dict(d["sources"][0]))

    _edit_manifest(batch, edit)
    with pytest.raises(ManifestError) as exc:
        load_manifest(batch)
    assert len(exc.value.problems) >= 2
    assert "unknown kind 'company'" in str(exc.value)
    assert "listed twice" in str(exc.value)


def test_wrong_encoding_is_detected_with_a_warning(batch: Path, tmp_path: Path) -> None:
    _edit_manifest(batch, lambda d: d["sources"][0].update({"encoding": "utf-8"}))  # really GBK
    res = run_check(batch, tmp_path / "out", workers=1)
    amr = next(d for d in res.report["departments"] if d["dept"] == "AMR")
    f = amr["files"][0]
    assert f["encoding"] in ("gbk", "gb18030") and "declared utf-8" in f["encoding_warning"]
    assert f["read"] == f["accepted"] + f["rejected"] and f["accepted"] > 100


def test_undecodable_file_rejects_every_row(batch: Path, tmp_path: Path) -> None:
    path = batch / "trans_permits.csv"
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(
        b"\n".join([lines[0]] + [ln[:10] + b"\xff\xfe" + ln[10:] for ln in lines[1:] if ln]) + b"\n"
    )
    res = run_check(batch, tmp_path / "out", workers=1)
    f = next(
        f for d in res.report["departments"] for f in d["files"] if f["file"] == "trans_permits.csv"
    )
    assert f["read"] == len([ln for ln in lines[1:] if ln]) > 0
    assert f["accepted"] == 0 and f["reasons"] == {"undecodable": f["read"]}


def test_empty_file_and_header_only_file_give_clean_empty_results(
    batch: Path, tmp_path: Path
) -> None:
    (batch / "gas_accounts.csv").write_bytes(b"")
    header = (batch / "cult_licences.csv").read_bytes().split(b"\n")[0]
    (batch / "cult_licences.csv").write_bytes(header + b"\n")
    res = run_check(batch, tmp_path / "out", workers=1)
    files = {f["file"]: f for d in res.report["departments"] for f in d["files"]}
    for name in ("gas_accounts.csv", "cult_licences.csv"):
        assert files[name]["read"] == files[name]["accepted"] == files[name]["rejected"] == 0
    assert res.report["summary"]["balanced"]


def test_blank_lines_are_not_rows(batch: Path) -> None:
    path = batch / "fin_suppliers.csv"
    data = path.read_bytes()
    before = sum(
        1
        for _s, e in ingest(load_manifest(batch))
        if isinstance(e, (Record, Reject)) and e.file == "fin_suppliers.csv"
    )
    path.write_bytes(data.replace(b"\n", b"\n\n\r\n", 3))
    after = sum(
        1
        for _s, e in ingest(load_manifest(batch))
        if isinstance(e, (Record, Reject)) and e.file == "fin_suppliers.csv"
    )
    assert before == after


def test_unknown_columns_are_kept_as_extra_attributes() -> None:
    manifest = load_manifest(SAMPLE / "batch")
    amr = [e for _s, e in ingest(manifest, sources=[manifest.sources[0]]) if isinstance(e, Record)]
    extras = Counter(k for r in amr for k in r.extra)
    assert extras["登记机关"] == len(amr) and extras["核准日期"] == len(amr)


def test_sample_reject_counts_match_truth() -> None:
    truth = Counter(r["reason"] for r in _read(SAMPLE / "truth" / "rejects.csv"))
    ours = Counter(
        e.reason
        for _s, e in ingest(load_manifest(SAMPLE / "batch"), features=False)
        if isinstance(e, Reject)
    )
    assert ours == truth
