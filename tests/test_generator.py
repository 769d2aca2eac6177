"""The department-data generator: Contract 1 shape, valid identifiers, consistent truth."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import yaml

from fixtures.generate import KINDS, GenerateConfig, Summary, generate
from resolver.standardize import identifiers as ids
from tests.conftest import SAMPLE

ID_CHECKERS = {
    "uscc": ids.check_uscc,
    "org_code": ids.check_org_code,
    "reg_no": ids.check_reg_no,
    "tax_id": ids.check_tax_id,
    "id_number": ids.check_resident_id,
    "legal_rep_id": ids.check_resident_id,
    "holder_id_number": ids.check_resident_id,
}
# Noise that is meant to break an identifier's check, or replace it with another form.
BREAKING = {
    "bad_check",
    "transposed",
    "excel_float",
    "old_id",
    "uscc_in_legacy_column",
    "missing_id",
    "masked_id",
}


def read_rows(
    batch: Path, source: dict[str, object]
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line, cells) of a batch file, skipping undecodable and blank lines."""
    path = batch / str(source["file"])
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        rows = [
            [("" if c is None else str(c)) for c in r]
            for r in wb.worksheets[0].iter_rows(values_only=True)
        ]
        wb.close()
        return rows[0], [(i + 1, r) for i, r in enumerate(rows) if i > 0]
    enc = str(source.get("encoding", "utf-8"))
    lines = path.read_bytes().split(b"\n")
    out: list[tuple[int, list[str]]] = []
    header: list[str] = []
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if path.suffix == ".jsonl":
            obj = json.loads(text)
            header = header or list(obj)
            out.append((n, [str(obj[k]) if obj[k] is not None else "" for k in header]))
        elif not header:
            header = next(csv.reader(io.StringIO(text)))
        else:
            out.append((n, next(csv.reader(io.StringIO(text)))))
    return header, out


def load_manifest(batch: Path) -> dict[str, object]:
    data = yaml.safe_load((batch / "manifest.yaml").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def read_truth(truth: Path, name: str) -> list[dict[str, str]]:
    with (truth / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("which", ["generated", "sample"])
def test_batch_follows_contract_1(which: str, generated: tuple[Path, Summary]) -> None:
    out = generated[0] if which == "generated" else SAMPLE
    batch = out / "batch"
    manifest = load_manifest(batch)
    assert manifest["batch_id"] and manifest["as_of"]
    sources = manifest["sources"]
    assert isinstance(sources, list)
    depts = {s["dept"] for s in sources}
    assert len(depts) >= 30
    assert {s["kind"] for s in sources} == set(KINDS)
    assert len({(s["dept"], s["file"]) for s in sources}) == len(sources)
    encodings = {s["encoding"] for s in sources}
    assert {"utf-8", "utf-8-sig", "gbk", "gb18030"} <= encodings
    assert {Path(s["file"]).suffix for s in sources} == {".csv", ".xlsx", ".jsonl"}
    for s in sources:
        assert (batch / s["file"]).is_file(), s["file"]
        header, _rows = read_rows(batch, s)
        assert s["record_id"] in header
        for col in s["columns"]:
            assert col in header, (s["file"], col)
        assert len(set(s["columns"].values())) == len(s["columns"])
    assert not (batch / "truth").exists() and (out / "truth" / "entities.csv").is_file()


def test_identifiers_valid_unless_planted(generated: tuple[Path, Summary]) -> None:
    out, _ = generated
    batch = out / "batch"
    planted = {
        (r["dept"], r["record_id"], r["field"])
        for r in read_truth(out / "truth", "noise.csv")
        if r["noise"] in BREAKING
    }
    rejected = {
        (r["dept"], r["file"], int(r["line"])) for r in read_truth(out / "truth", "rejects.csv")
    }
    checked = Counter[str]()
    for s in load_manifest(batch)["sources"]:  # type: ignore[attr-defined]
        header, rows = read_rows(batch, s)
        rid_at = header.index(s["record_id"])
        for line, cells in rows:
            if (s["dept"], s["file"], line) in rejected or len(cells) != len(header):
                continue
            for col, canon in s["columns"].items():
                checker = ID_CHECKERS.get(canon)
                value = cells[header.index(col)]
                if checker is None or not value or (s["dept"], cells[rid_at], canon) in planted:
                    continue
                res = checker(value)
                if (
                    not res.valid
                    and canon == "id_number"
                    and len(ids.normalise_identifier(value) or "") == 15
                ):
                    res = ids.check_id15(value)
                assert res.valid, (s["file"], line, col, value, res)
                checked[canon] += 1
    assert checked["uscc"] > 1000 and checked["id_number"] > 1000 and checked["org_code"] > 100
    assert checked["reg_no"] > 100 and checked["tax_id"] > 500


def test_truth_is_consistent(generated: tuple[Path, Summary]) -> None:
    out, summary = generated
    truth = out / "truth"
    entities = read_truth(truth, "entities.csv")
    keys = Counter((r["dept"], r["record_id"]) for r in entities)
    assert keys and max(keys.values()) == 1, "every record is in exactly one entity"
    assert {r["kind"] for r in entities} == {"enterprise", "person"}
    assert all(r["entity_key"][0] == ("E" if r["kind"] == "enterprise" else "P") for r in entities)
    subjects = read_truth(truth, "subjects.csv")
    assert {r["kind"] for r in subjects} == {
        "role",
        "shareholding",
        "credit_event",
        "fact",
        "tax_declaration",
    }
    assert not keys.keys() & {(r["dept"], r["record_id"]) for r in subjects}
    rejects = read_truth(truth, "rejects.csv")
    reasons = Counter(r["reason"] for r in rejects)
    assert set(reasons) == {
        "duplicate_row",
        "superseded",
        "wrong_column_count",
        "no_name_no_id",
        "undecodable",
        "repeated_header",
    }
    # A rejected duplicate or superseded row shares its key with an accepted record.
    accepted = keys.keys() | {(r["dept"], r["record_id"]) for r in subjects}
    for r in rejects:
        key = (r["dept"], r["record_id"])
        assert (key in accepted) == (r["reason"] in ("duplicate_row", "superseded")), r
    credit = read_truth(truth, "credit.csv")
    assert len(credit) == summary.credit_events > 50
    tax = read_truth(truth, "tax_anomalies.csv")
    assert {r["rule"] for r in tax} >= {"T07", "T09", "T10"}
    for r in tax:
        json.loads(r["evidence"])


def test_every_noise_kind_present(generated: tuple[Path, Summary]) -> None:
    _, summary = generated
    expected = {
        "missing_id",
        "old_id",
        "bad_check",
        "transposed",
        "width",
        "form_variant",
        "region_dropped",
        "region_bracketed",
        "abbreviation",
        "traditional",
        "whitespace_punct",
        "name_typo",
        "stale_address",
        "stale_phone",
        "former_name",
        "duplicate_row",
        "shared_address",
        "shared_phone",
        "homonym_persons",
        "impossible_date",
        "partial_date",
        "superseded_row",
        "id_formatting",
        "phone_format",
        "person_name_format",
    }
    missing = {k for k in expected if summary.noise[k] == 0}
    assert not missing
    assert set(summary.rejects) == {
        "duplicate_row",
        "superseded",
        "wrong_column_count",
        "no_name_no_id",
        "undecodable",
        "repeated_header",
    }


def test_date_formats(generated: tuple[Path, Summary]) -> None:
    out, _ = generated
    batch = out / "batch"
    texts = "".join(
        (batch / f).read_bytes().decode("utf-8", errors="ignore")[:20000]
        for f in (
            "amr_enterprise.csv",
            "power_accounts.csv",
            "tax_registration.csv",
            "court_dishonest.csv",
        )
    )
    import re

    assert re.search(r"\b\d{4}-\d{2}-\d{2}\b", texts)
    assert re.search(r"\b\d{4}/\d{1,2}/\d{1,2}\b", texts)
    assert re.search(r"\b(19|20)\d{6}\b", texts)
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", texts)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(
                hashlib.sha256(p.read_bytes()).digest() if p.suffix != ".xlsx" else _xlsx_cells(p)
            )
    return h.hexdigest()


def _xlsx_cells(path: Path) -> bytes:
    # XLSX zips carry timestamps; compare the cells.
    wb = openpyxl.load_workbook(path, read_only=True)
    cells = repr(list(wb.worksheets[0].iter_rows(values_only=True))).encode()
    wb.close()
    return cells


def test_deterministic_per_seed(tmp_path: Path) -> None:
    digests = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate(GenerateConfig(out=tmp_path / name, enterprises=120, persons=150, seed=seed))
        digests.append(_digest(tmp_path / name))
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_departments_option_limits_sources(tmp_path: Path) -> None:
    summary = generate(
        GenerateConfig(out=tmp_path / "g", enterprises=80, persons=100, departments=4, seed=1)
    )
    manifest = load_manifest(tmp_path / "g" / "batch")
    assert {s["dept"] for s in manifest["sources"]} == {"AMR", "TAX", "PSB", "COURT"}  # type: ignore[attr-defined]
    assert summary.departments == 4


def test_clean_batch_has_no_noise(tmp_path: Path) -> None:
    from fixtures.noise import NoiseRates

    summary = generate(
        GenerateConfig(
            out=tmp_path / "g", enterprises=100, persons=120, seed=3, noise=NoiseRates().scaled(0)
        )
    )
    planted = {
        k: v
        for k, v in summary.noise.items()
        if v
        and k
        not in (
            "homonym_persons",
            "shared_address",
            "shared_phone",
            "old_id",
            "uscc_in_legacy_column",
            "masked_id",  # how an enforcement list publishes a person, not noise
            "former_name",
            "stale_address",
            "stale_phone",
            "unencodable_char_replaced",
        )
    }
    assert planted == {}
    assert sum(summary.rejects.values()) == 0
