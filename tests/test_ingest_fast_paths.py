"""The ingest's fast paths give what the general paths give: identifier shortcuts, the row
hash, the quality figures counted per fill pattern, tasks per department and kind, and the
paused garbage collection."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from resolver.gcpause import paused_gc
from resolver.ingest.check import run_check
from resolver.ingest.manifest import load_manifest
from resolver.ingest.rows import Record, Reject, ingest
from resolver.linkage.link import _ingest, source_groups
from resolver.standardize import identifiers as ids
from tests.conftest import SAMPLE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("91440101abcdefgh1x", "91440101ABCDEFGH1X"),  # ASCII fast path: only the case changes
        ("1E17", None),  # an Excel float stays refused on the fast path
        ("110105e17", None),
        ("1101E5X", "1101E5X"),  # an E that is no float exponent
        (" 9144-0101 ", "91440101"),  # the general path: spaces and hyphens dropped
        ("９１４４０１０１", "91440101"),  # full-width digits: NFKC
        ("'440101", "440101"),  # Excel's leading apostrophe
    ],
)
def test_normalise_identifier_fast_path_agrees(raw: str, expected: str | None) -> None:
    assert ids.normalise_identifier(raw) == expected


def test_check_characters_accept_digits_of_any_script() -> None:
    # The table covers ASCII digits; another script's digits take the int() path, as before.
    body = "11010519491231002"
    arabic_indic = body.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert ids.id_check_char(arabic_indic) == ids.id_check_char(body) == "X"
    assert ids.reg_no_check_digit("١" * 14) == ids.reg_no_check_digit("1" * 14)
    with pytest.raises(ValueError, match="17 digits"):
        ids.id_check_char(body[:16])
    with pytest.raises(ValueError, match="17 characters"):
        ids.uscc_check_char("9144010112345678")


def test_org_code_check_char_matches_the_definition() -> None:
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    for body in ("D2600012", "MA5CX8T8", "12345678", "ABCDEFGH"):
        total = sum(
            (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, weights, strict=True)
        )
        check = 11 - total % 11
        expected = "X" if check == 10 else "0" if check == 11 else str(check)
        assert ids.org_code_check_char(body) == expected


def _report(out: Path) -> dict[str, object]:
    report = json.loads((out / "quality.json").read_text("utf-8"))
    report.pop("generated_at")
    return dict(report)


def test_check_gives_the_same_report_with_one_or_two_workers(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    run_check(SAMPLE / "batch", one, features=False, workers=1)
    run_check(SAMPLE / "batch", two, features=False, workers=2)
    assert _report(one) == _report(two)
    assert (one / "rejects.csv").read_bytes() == (two / "rejects.csv").read_bytes()


def test_quality_fill_counts_equal_the_accepted_records(tmp_path: Path) -> None:
    """Per file and field: filled = accepted records holding the field (superseded ones out)."""
    manifest = load_manifest(SAMPLE / "batch")
    last: dict[tuple[str, str, str], Record] = {}
    for _s, event in ingest(manifest, features=False):
        if isinstance(event, Record):
            last[event.key] = event
    expected: dict[tuple[str, str, str], int] = {}
    for rec in last.values():
        for fld in rec.raw:
            expected[(rec.dept, rec.file, fld)] = expected.get((rec.dept, rec.file, fld), 0) + 1
    result = run_check(SAMPLE / "batch", tmp_path / "q", features=False, workers=1)
    got: dict[tuple[str, str, str], int] = {}
    for dept in result.report["departments"]:
        for f in dept["fields"]:
            if f["filled"]:
                got[(dept["dept"], f["file"], f["field"])] = f["filled"]
    assert got == expected
    assert sum(expected.values()) > 0


def test_source_groups_split_departments_by_kind() -> None:
    manifest = load_manifest(SAMPLE / "batch")
    groups = source_groups(manifest)
    assert sorted(s.file for g in groups for s in g) == sorted(s.file for s in manifest.sources)
    for group in groups:
        assert len({(s.dept, s.kind) for s in group}) == 1
    keys = [(g[0].dept, g[0].kind) for g in groups]
    assert len(keys) == len(set(keys))


def test_link_ingest_with_workers_equals_one_process() -> None:
    manifest = load_manifest(SAMPLE / "batch")
    rec1, rej1, files1 = _ingest(manifest, None, workers=1)
    rec2, rej2, files2 = _ingest(manifest, None, workers=2)
    assert rec1.keys() == rec2.keys()
    assert all(rec1[k].std == rec2[k].std and rec1[k].raw == rec2[k].raw for k in rec1)
    assert [(r.file, r.line, r.reason) for r in rej1] == [(r.file, r.line, r.reason) for r in rej2]
    assert [(f.file, f.read, f.accepted) for f in files1] == [
        (f.file, f.read, f.accepted) for f in files2
    ]
    assert any(isinstance(r, Reject) and r.reason == "superseded" for r in rej1)


def test_paused_gc_restores_collection_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="boom"), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_pinyin_by_character_equals_lazy_pinyin() -> None:
    """The character-by-character reading is taken only where pypinyin reads that way."""
    from pypinyin import lazy_pinyin

    from resolver.standardize import names

    texts = ["华瑞", "张伟", "欧阳娜娜", "重庆", "银行", "长江", "乐", "阿依古丽·买买提", "ABC科技"]
    manifest = load_manifest(SAMPLE / "batch")
    for _s, event in ingest(manifest, features=True):
        if isinstance(event, Record) and event.kind in ("enterprise", "person"):
            texts.append(event.std.get("name_core") or event.std.get("name_norm", ""))
    texts = [t for t in texts if t]
    assert len(texts) > 100
    for text in texts:
        assert names.syllables(text) == list(lazy_pinyin(text)), text
        expected = " ".join(s for s in lazy_pinyin(text.replace("·", " ")) if s.strip())
        if names._CJK.search(text):
            assert names.person_pinyin_key(text) == expected, text


@pytest.mark.parametrize("hint", [None, "万元", "元", "亿元"])
def test_plain_amounts_take_the_general_paths_value(hint: str | None) -> None:
    """parse_money's shortcut for bare decimal numbers gives what the general path gives."""
    import random

    from resolver.standardize.dates import _parse_money, parse_money

    rng = random.Random(5)
    values = ["0", "-0", "+12", "007", "1.005", "2.675", "123456789.125", "-3.14159"]
    values += [f"{rng.uniform(-1e9, 1e9):.{rng.randrange(0, 6)}f}" for _ in range(2000)]
    for v in values:
        assert parse_money(v, hint) == _parse_money(v, hint), v
    # not plain: the general path (units, thousands separators, full-width digits, junk)
    assert (
        parse_money("1,200.50", hint) == 1200.5 * {None: 1, "元": 1, "万元": 1e4, "亿元": 1e8}[hint]
    )
    assert parse_money("５００万元", hint) == 5_000_000
    assert parse_money("1e5", hint) is None and parse_money("١٢", hint) == _parse_money("١٢", hint)


def test_plain_mobile_numbers_are_what_parse_phone_makes_of_them() -> None:
    from resolver.standardize.phones import is_plain_mobile, parse_phone

    plain = ["13812345678", "19900000000", "15012345678"]
    for v in plain:
        assert is_plain_mobile(v)
        ph = parse_phone(v)
        assert (ph.type, ph.key, ph.national) == ("mobile", "+86" + v, v)
    # other forms take parse_phone: separators, country code, landlines, short, other scripts
    for v in [
        "138-1234-5678",
        "+8613812345678",
        "12812345678",
        "1381234567",
        "075512345678",
        "１３８１２３４５６７８",
        "١٣٨١٢٣٤٥٦٧٨",
    ]:
        assert not is_plain_mobile(v), v


def test_chunked_identifier_checks_give_the_same_records_at_any_chunk_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows are read a chunk ahead for the column checks: small chunks (many boundaries, a
    superseded row and its replacement in different chunks) give the same events."""
    import resolver.ingest.rows as rows_module

    manifest = load_manifest(SAMPLE / "batch")

    def events() -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for stats, ev in ingest(manifest, features=True):
            if isinstance(ev, Record):
                out.append((ev.key, ev.line, ev.raw, ev.std, [(f.field, f.code) for f in ev.flags]))
            else:
                out.append((ev.dept, ev.file, ev.line, ev.reason, stats.accepted))
        return out

    whole = events()
    monkeypatch.setattr(rows_module, "CHUNK_ROWS", 3)
    assert events() == whole
    assert sum(1 for e in whole if len(e) == 5 and e[3] == "superseded") > 0
    assert sum(1 for e in whole if isinstance(e[0], tuple)) > 1000
