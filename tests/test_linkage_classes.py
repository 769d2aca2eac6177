"""The classes of records issue 11 names, hand-made and added to the sample batch (so that the
model has data to learn from): utility accounts under short names, legacy identifier
columns, residents known by name, phone and address in a block too large to compare in
full, and mentions whose subject is a masked ID number or a name."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from resolver.linkage.link import LinkResult, run_link
from resolver.linkage.mentions import SubjectIndex, masked_id_pattern
from resolver.standardize import identifiers as ids
from tests.conftest import SAMPLE

FIRM_USCC = ids.make_uscc("9", "1", "510104", "7C3D5E2F")
FIRM_REG = "510104" + "2" + "0004321"
FIRM_REG += ids.reg_no_check_digit(FIRM_REG)
OTHER_USCC = ids.make_uscc("9", "1", "510104", "7C3D5E3G")
OTHER_REG = "510104" + "1" + "0007654"
OTHER_REG += ids.reg_no_check_digit(OTHER_REG)
LEGACY_TAX = "510104" + ids.uscc_org_code(OTHER_USCC)  # 15-char tax number: division + org code


def _id(region: str, birth: str, seq: str) -> str:
    body = region + birth + seq
    return body + ids.id_check_char(body)


ID_X = _id("510104", "19800312", "071")
ID_Z = _id("510104", "19911120", "082")


def _write(batch: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    with (batch / name).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _add_sources(batch: Path) -> None:
    # The registered firm, and a second firm of a different 字号 on the same street.
    _write(
        batch,
        "t_amr.csv",
        ["编号", "统一社会信用代码", "名称", "住所", "电话"],
        [
            [
                "R1",
                FIRM_USCC,
                "成都市测瑞机械设备有限公司",
                "四川省成都市锦江区红星路88号",
                "028-86001234",
            ],
            [
                "R2",
                OTHER_USCC,
                "成都市测远光电科技有限公司",
                "四川省成都市锦江区红星路90号",
                "028-86009876",
            ],
        ],
    )
    # Utility accounts: 字号 + industry word, no region, no identifier, several per firm.
    _write(
        batch,
        "t_power.csv",
        ["户号", "户名", "用电地址", "联系电话"],
        [
            ["U1", "测瑞机械", "锦江区红星路88号", ""],
            ["U2", "测瑞机械设备有限公司，", "成都市锦江区红星路88号", "028-86001234"],
            ["U3", "测瑞机械设备", "四川省成都市锦江区红星路88号", "(028)86001234"],
            ["U4", "测远光电", "锦江区红星路90号", ""],
        ],
    )
    # Legacy identifier columns: 15-digit registration numbers, one cell holding a USCC, and a
    # 15-character legacy tax number.
    _write(
        batch,
        "t_stat.csv",
        ["名录号", "注册号", "单位名称"],
        [
            ["S1", FIRM_REG, "成都市测瑞机械设备有限公司"],
            ["S2", OTHER_USCC, "成都市测远光电科技有限公司"],
            ["S3", OTHER_REG, "成都市测远光电科技有限公司"],
        ],
    )
    _write(
        batch,
        "t_amr_old.csv",
        ["编号", "注册号", "统一社会信用代码", "名称"],
        [
            ["O1", FIRM_REG, FIRM_USCC, "成都市测瑞机械设备有限公司"],
            ["O2", OTHER_REG, OTHER_USCC, "成都市测远光电科技有限公司"],
        ],
    )
    _write(
        batch,
        "t_tax.csv",
        ["档案号", "纳税人识别号", "纳税人名称"],
        [["X1", LEGACY_TAX, "测远光电科技有限公司"]],
    )
    # Residents: 45 homonyms born on different days in one district (blocks of more than
    # max_block records on the name and on name + district), and one person delivered twice:
    # with an ID number, and by name, birth date and address only.
    residents = [
        [
            f"H{k:02d}",
            "",
            "测伟强",
            f"1980-03-{k + 1:02d}" if k < 28 and k != 11 else f"1980-04-{k - 26:02d}",
            "",
            f"成都市锦江区{('东大街', '书院街', '春熙路')[k % 3]}{100 + k}号",
        ]
        for k in range(45)
    ]
    residents += [
        [
            "X1",
            ID_X,
            "测伟强",
            "1980-03-12",
            "13912340000",
            "成都市锦江区红星路5号阳光小区3栋201室",
        ],
        ["X2", "", "测伟强", "1980-03-12", "", "四川省成都市锦江区红星路5号阳光小区3栋201室"],
        ["Z1", ID_Z, "测伟强", "1991-11-20", "13912349999", "成都市锦江区红星路7号"],
    ]
    _write(
        batch,
        "t_residents.csv",
        ["编号", "身份证号", "姓名", "出生日期", "电话", "住址"],
        residents,
    )
    # Credit events: masked ID numbers with names, and name-only subjects.
    _write(
        batch,
        "t_court.csv",
        ["案号", "被执行人", "证件号码", "执行法院", "立案日期"],
        [
            ["C1", "测伟强", ID_X[:4] + "*" * 10 + ID_X[-4:], "成都市中级人民法院", "2025-05-01"],
            ["C2", "测伟强", ID_Z[:10] + "****" + ID_Z[-4:], "成都市中级人民法院", "2025-05-02"],
            ["C3", "测无此人", "5101**********1234", "成都市中级人民法院", "2025-05-03"],
            ["C4", "测瑞机械设备有限公司", "", "成都市生态环境局", "2025-05-04"],
        ],
    )
    manifest = yaml.safe_load((batch / "manifest.yaml").read_text("utf-8"))

    def src(dept: str, file: str, kind: str, rid: str, columns: dict[str, str]) -> dict[str, Any]:
        return {"dept": dept, "file": file, "kind": kind, "record_id": rid, "columns": columns}

    manifest["sources"] += [
        src("TAMR", "t_amr.csv", "enterprise", "编号",
            {"统一社会信用代码": "uscc", "名称": "name", "住所": "address", "电话": "phone"}),
        src("TPOWER", "t_power.csv", "enterprise", "户号",
            {"户名": "name", "用电地址": "address", "联系电话": "phone"}),
        src("TSTAT", "t_stat.csv", "enterprise", "名录号", {"注册号": "reg_no", "单位名称": "name"}),
        src("TAMROLD", "t_amr_old.csv", "enterprise", "编号",
            {"注册号": "reg_no", "统一社会信用代码": "uscc", "名称": "name"}),
        src("TTAX", "t_tax.csv", "enterprise", "档案号", {"纳税人识别号": "tax_id", "纳税人名称": "name"}),
        src("TRES", "t_residents.csv", "person", "编号",
            {"身份证号": "id_number", "姓名": "name", "出生日期": "birth_date", "电话": "phone",
             "住址": "address"}),
        src("TCOURT", "t_court.csv", "credit_event", "案号",
            {"被执行人": "name", "证件号码": "id_number", "执行法院": "authority", "立案日期": "date"}),
    ]  # fmt: skip
    (batch / "manifest.yaml").write_text(
        yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False), "utf-8"
    )


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> LinkResult:
    root = tmp_path_factory.mktemp("classes")
    batch = root / "batch"
    shutil.copytree(SAMPLE / "batch", batch)
    _add_sources(batch)
    return run_link(batch, root / "run")


@pytest.fixture(scope="module")
def links(linked: LinkResult) -> dict[tuple[str, str], dict[str, str]]:
    with (linked.out_dir / "links.csv").open(encoding="utf-8", newline="") as fh:
        return {(r["dept"], r["record_id"]): r for r in csv.DictReader(fh)}


def _gid(links: dict[tuple[str, str], dict[str, str]], dept: str, rid: str) -> str:
    return links[(dept, rid)]["entity_id"]


def test_utility_short_names_join_the_registered_firm(
    links: dict[tuple[str, str], dict[str, str]],
) -> None:
    firm = _gid(links, "TAMR", "R1")
    assert {_gid(links, "TPOWER", r) for r in ("U1", "U2", "U3")} == {firm}
    other = _gid(links, "TAMR", "R2")
    assert _gid(links, "TPOWER", "U4") == other != firm
    assert links[("TPOWER", "U1")]["decision"] == "probabilistic"


def test_legacy_identifier_columns_link(
    links: dict[tuple[str, str], dict[str, str]],
) -> None:
    firm, other = _gid(links, "TAMR", "R1"), _gid(links, "TAMR", "R2")
    # a 15-digit registration number joins the record that carries it with the USCC
    assert _gid(links, "TSTAT", "S1") == firm == _gid(links, "TAMROLD", "O1")
    # a USCC in the registration-number column is used as a USCC
    assert _gid(links, "TSTAT", "S2") == other
    assert _gid(links, "TSTAT", "S3") == other == _gid(links, "TAMROLD", "O2")
    # a legacy tax number (division + organisation code) joins by the organisation code
    assert _gid(links, "TTAX", "X1") == other


def test_large_block_keeps_its_pairs(
    linked: LinkResult, links: dict[tuple[str, str], dict[str, str]]
) -> None:
    assert linked.report["entities"]["person"]["windowed_blocks"] >= 1
    x = _gid(links, "TRES", "X1")
    assert _gid(links, "TRES", "X2") == x
    assert _gid(links, "TRES", "Z1") != x
    homonyms = {_gid(links, "TRES", f"H{k:02d}") for k in range(45)}
    assert len(homonyms) == 45 and x not in homonyms


def test_masked_id_and_name_only_subjects(links: dict[tuple[str, str], dict[str, str]]) -> None:
    c1, c2, c3, c4 = (links[("TCOURT", f"C{k}")] for k in range(1, 5))
    assert (c1["entity_id"], c1["decision"]) == (_gid(links, "TRES", "X1"), "by_masked_id")
    assert (c2["entity_id"], c2["decision"]) == (_gid(links, "TRES", "Z1"), "by_masked_id")
    assert (c3["entity_id"], c3["decision"], c3["reason"]) == (
        "",
        "unresolved",
        "masked_id_no_match",
    )
    assert c4["entity_id"] == _gid(links, "TAMR", "R1")
    assert all(r["reason"] == "" for r in (c1, c2, c4))


def test_masked_id_pattern() -> None:
    assert masked_id_pattern("4401**********123x") == "4401**********123X"
    assert masked_id_pattern(" 440106 ******** 1234") == "440106********1234"
    assert masked_id_pattern("440106198001011234") is None  # not masked
    assert masked_id_pattern("44**1234") is None  # not an ID number's length


def test_masked_id_ambiguity_is_a_reason() -> None:
    index = SubjectIndex()
    a, b = "440106198001011234", "440106198505051234"  # homonyms, same last four
    index.persons["张伟"] = {"P1": ({a}, {"440106"}), "P2": ({b}, {"440106"})}
    # the birth date shown tells them apart
    assert index.person_by_masked_id("张伟", "4401061980****1234", (), "X") == (
        "P1",
        "by_masked_id",
        "",
    )
    assert index.person_by_masked_id("张伟", "4401**********1234", (), "X") == (
        None,
        "unresolved",
        "masked_id_ambiguous",
    )
    assert index.person_by_masked_id("张伟", "4402**********1234", (), "X") == (
        None,
        "unresolved",
        "masked_id_no_match",
    )
