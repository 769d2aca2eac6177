"""The linkage engine on hand-made cases (added to the sample batch so the model has data to
learn from) and the Contract 2 output set."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from resolver.linkage.evaluate import evaluate
from resolver.linkage.fellegi_sunter import FSModel
from resolver.linkage.link import LinkResult, run_link
from resolver.standardize import identifiers as ids
from tests.conftest import SAMPLE

PARENT_USCC = ids.make_uscc("9", "1", "440605", "7A3B5C2D")
BRANCH_USCC = ids.make_uscc("9", "1", "440605", "7A3B5C3E")
OTHER_USCC = ids.make_uscc("9", "1", "440606", "7A3B5C4F")
TYPO_TARGET = ids.make_uscc("9", "1", "440604", "7A3B5C5G")
REG_NO = "440605" + "1" + "2345678"
REG_NO += ids.reg_no_check_digit(REG_NO)
ID_A = "44060519800101" + "001"
ID_A += ids.id_check_char(ID_A)
ID_B = "44060519850505" + "002"
ID_B += ids.id_check_char(ID_B)
ID_OLD18 = "440605" + "19720815" + "337"
ID_OLD18 += ids.id_check_char(ID_OLD18)
ID_OLD15 = ID_OLD18[:6] + ID_OLD18[8:17]

ENTERPRISE_ROWS = [
    # record_id, uscc, reg_no, name, address, phone, legal rep
    (
        "T-P1",
        PARENT_USCC,
        "",
        "佛山市南海区测盛五金制品有限公司",
        "广东省佛山市南海区桂城街道南海大道北88号",
        "0757-86221234",
        "陈志强",
    ),
    (
        "T-P2",
        PARENT_USCC,
        "",
        "佛山市南海区测盛五金制品有限责任公司",
        "广东省佛山市南海区桂城街道南海大道北88号",
        "0757-86221234",
        "陈志强",
    ),
    (
        "T-B1",
        BRANCH_USCC,
        "",
        "佛山市南海区测盛五金制品有限公司大沥分公司",
        "广东省佛山市南海区桂城街道南海大道北88号",
        "0757-86221234",
        "陈志强",
    ),
    # the branch again without an identifier: same address and phone as the parent, never merged with it
    (
        "T-B2",
        "",
        "",
        "佛山市南海区测盛五金制品有限公司大沥分公司",
        "广东省佛山市南海区桂城街道南海大道北88号",
        "0757-86221234",
        "陈志强",
    ),
    # conflicting USCCs sharing a registration number: never merged
    (
        "T-C1",
        OTHER_USCC,
        REG_NO,
        "佛山市顺德区测冲突贸易有限公司",
        "广东省佛山市顺德区大良街道新桂路1号",
        "0757-22223333",
        "李四",
    ),
    (
        "T-C2",
        TYPO_TARGET,
        REG_NO,
        "佛山市顺德区测冲突贸易有限公司",
        "广东省佛山市顺德区大良街道新桂路1号",
        "0757-22223333",
        "李四",
    ),
    # a typo'd USCC (bad check) linked probabilistically to the valid one
    (
        "T-T1",
        PARENT_USCC[:-1] + ("0" if PARENT_USCC[-1] != "0" else "1"),
        "",
        "佛山市南海区测盛五金制品有限公司",
        "广东省佛山市南海区桂城街道南海大道北88号",
        "0757-86221234",
        "陈志强",
    ),
]
PERSON_ROWS = [
    # record_id, id_number, name, birth date, phone, address
    (
        "T-A1",
        ID_A,
        "测王伟",
        "1980-01-01",
        "13800138000",
        "广东省佛山市南海区桂城街道南海大道北1号",
    ),
    (
        "T-B1",
        ID_B,
        "测王伟",
        "1985-05-05",
        "13900139000",
        "广东省佛山市南海区桂城街道南海大道北2号",
    ),
    # homonym without an ID: same birth date and phone as the first 测王伟 only
    ("T-A2", "", "测王伟", "1980-01-01", "13800138000", ""),
    # 15-digit ID of the same person as the 18-digit one
    ("T-O1", ID_OLD18, "测赵六", "1972-08-15", "", "广东省佛山市南海区桂城街道南海大道北3号"),
    ("T-O2", ID_OLD15, "测赵六", "", "13700137000", ""),
]


def _add_test_sources(batch: Path) -> None:
    with (batch / "test_enterprise.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "统一社会信用代码", "注册号", "名称", "地址", "电话", "法人"])
        w.writerows(ENTERPRISE_ROWS)
    with (batch / "test_person.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "身份证号", "姓名", "出生日期", "手机", "住址"])
        w.writerows(PERSON_ROWS)
    manifest = yaml.safe_load((batch / "manifest.yaml").read_text("utf-8"))
    manifest["sources"] += [
        {
            "dept": "TEST",
            "file": "test_enterprise.csv",
            "kind": "enterprise",
            "record_id": "编号",
            "columns": {
                "统一社会信用代码": "uscc",
                "注册号": "reg_no",
                "名称": "name",
                "地址": "address",
                "电话": "phone",
                "法人": "legal_rep_name",
            },
        },
        {
            "dept": "TESTP",
            "file": "test_person.csv",
            "kind": "person",
            "record_id": "编号",
            "columns": {
                "身份证号": "id_number",
                "姓名": "name",
                "出生日期": "birth_date",
                "手机": "phone",
                "住址": "address",
            },
        },
    ]
    (batch / "manifest.yaml").write_text(
        yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False), "utf-8"
    )


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> LinkResult:
    root = tmp_path_factory.mktemp("link")
    batch = root / "batch"
    shutil.copytree(SAMPLE / "batch", batch)
    _add_test_sources(batch)
    return run_link(batch, root / "run")


def _links(run: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (run / "links.csv").open(encoding="utf-8", newline="") as fh:
        return {(r["dept"], r["record_id"]): r for r in csv.DictReader(fh)}


def _entity(links: dict[tuple[str, str], dict[str, str]], dept: str, rid: str) -> str:
    return links[(dept, rid)]["entity_id"]


def test_branch_never_merges_with_parent(linked: LinkResult) -> None:
    links = _links(linked.out_dir)
    parent = _entity(links, "TEST", "T-P1")
    assert _entity(links, "TEST", "T-P2") == parent
    assert _entity(links, "TEST", "T-B1") != parent
    assert _entity(links, "TEST", "T-B2") != parent


def test_conflicting_usccs_are_never_merged(linked: LinkResult) -> None:
    links = _links(linked.out_dir)
    assert _entity(links, "TEST", "T-C1") != _entity(links, "TEST", "T-C2")
    assert linked.report["entities"]["enterprise"]["refusals"].get("different_uscc", 0) >= 1


def test_typo_uscc_links_probabilistically(linked: LinkResult) -> None:
    links = _links(linked.out_dir)
    row = links[("TEST", "T-T1")]
    assert row["entity_id"] == _entity(links, "TEST", "T-P1")
    assert row["decision"] == "probabilistic" and float(row["score"]) >= 0.9


def test_homonyms_stay_apart_and_id_less_record_joins_the_right_one(linked: LinkResult) -> None:
    links = _links(linked.out_dir)
    a, b = _entity(links, "TESTP", "T-A1"), _entity(links, "TESTP", "T-B1")
    assert a != b
    assert _entity(links, "TESTP", "T-A2") == a


def test_15_digit_id_links_to_18_digit(linked: LinkResult) -> None:
    links = _links(linked.out_dir)
    assert _entity(links, "TESTP", "T-O1") == _entity(links, "TESTP", "T-O2")
    assert links[("TESTP", "T-O2")]["decision"] == "strong_id"


def test_every_contract_2_file_is_written(linked: LinkResult) -> None:
    for name in (
        "links.csv",
        "golden.jsonl",
        "edges.jsonl",
        "events.jsonl",
        "rejects.csv",
        "conflicts.csv",
        "review.csv",
        "report.json",
    ):
        assert (linked.out_dir / name).is_file(), name
    with (linked.out_dir / "links.csv").open(encoding="utf-8") as fh:
        assert fh.readline().strip() == "dept,record_id,kind,entity_id,score,decision,reason"
    golden = [
        json.loads(line)
        for line in (linked.out_dir / "golden.jsonl").read_text("utf-8").splitlines()
    ]
    assert {g["type"] for g in golden} == {"Enterprise", "Person"}
    for g in golden:
        for attr, prov in g["provenance"].items():
            assert attr in g["attributes"] and prov["dept"] and prov["record_id"]
        assert all("id18" not in k for k in g)  # personal IDs only hashed and masked
    edges = [
        json.loads(line)
        for line in (linked.out_dir / "edges.jsonl").read_text("utf-8").splitlines()
    ]
    assert {e["type"] for e in edges} >= {"LEGAL_REP_OF", "SERVES_AS", "HOLDS_SHARES", "BRANCH_OF"}


def test_report_counts_balance_with_ingest(linked: LinkResult) -> None:
    r: dict[str, Any] = linked.report
    ing = r["ingest"]
    assert ing["read"] == ing["accepted"] + ing["rejected"]
    for f in ing["files"]:
        assert f["read"] == f["accepted"] + f["rejected"]
    accepted = Counter(ing["accepted_by_kind"])
    for kind in ("enterprise", "person", "credit_event", "fact", "tax_declaration"):
        assert r["links_rows"][kind] == accepted[kind], kind
    edges_from_rows = (
        r["edges"]["LEGAL_REP_OF"] + r["edges"]["SERVES_AS"] + r["edges"]["HOLDS_SHARES"]
    )
    # Enterprise records naming their legal representative give a LEGAL_REP_OF row too.
    with (linked.out_dir / "links.csv").open(encoding="utf-8", newline="") as fh:
        enterprise_keys = {
            (row["dept"], row["record_id"])
            for row in csv.DictReader(fh)
            if row["kind"] == "enterprise"
        }
    with (linked.out_dir / "edges.jsonl").open(encoding="utf-8") as fh:
        reps = [json.loads(line) for line in fh]
    from_enterprises = sum(
        1
        for e in reps
        if e["type"] == "LEGAL_REP_OF"
        and (e["source"]["dept"], e["source"]["record_id"]) in enterprise_keys
    )
    assert 0 < from_enterprises <= accepted["enterprise"]
    assert edges_from_rows - from_enterprises == accepted["role"] + accepted["shareholding"]
    assert r["events"] == accepted["credit_event"] + accepted["fact"] + accepted["tax_declaration"]
    links = _links(linked.out_dir)
    assert len(links) == sum(r["links_rows"].values())


def test_review_pairs_carry_explanations(linked: LinkResult) -> None:
    with (linked.out_dir / "review.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        weights = json.loads(row["weights"])
        assert "prior" in weights and "name" in weights
        assert 0.0 <= float(row["probability"]) < 1.0


def test_model_parameters_are_json(linked: LinkResult) -> None:
    data = json.loads((linked.out_dir / "model.json").read_text("utf-8"))
    for kind in ("enterprise", "person"):
        model = FSModel.from_json(data[kind])
        assert 0 < model.prior < 1
        assert model.to_json()["features"] == data[kind]["features"]


def test_sample_accuracy(linked: LinkResult) -> None:
    scores = evaluate(linked.out_dir, SAMPLE / "truth")
    assert scores["enterprise"]["pairwise"]["f1"] >= 0.99
    assert scores["person"]["pairwise"]["f1"] >= 0.97
    assert scores["enterprise"]["pairwise"]["precision"] >= 0.995
    assert scores["mentions"]["precision"] >= 0.99
