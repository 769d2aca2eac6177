"""Every identifier vector of ../shared/domain/test_vectors.json, read from the file itself."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from resolver.standardize import identifiers as ids

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "domain" / "test_vectors.json"
COPY = HERE / "data" / "test_vectors.json"
VECTORS: dict[str, Any] = json.loads((SHARED if SHARED.exists() else COPY).read_text("utf-8"))
AS_OF = dt.date.fromisoformat(VECTORS["meta"]["as_of_for_dates"])


def _cases(section: str, part: str | None = None) -> list[Any]:
    data = VECTORS[section]
    return list(data[part] if part else data)


def test_committed_copy_matches_shared() -> None:
    if not SHARED.exists():
        pytest.skip("../shared is not beside this checkout")
    assert json.loads(COPY.read_text("utf-8")) == json.loads(SHARED.read_text("utf-8"))


@pytest.mark.parametrize("case", _cases("uscc", "valid"), ids=lambda c: c["value"])
def test_uscc_valid(case: dict[str, str]) -> None:
    res = ids.check_uscc(case["value"])
    assert res.valid, res
    assert res.details["region"] == case["region"]
    assert res.details["org_code"] == case["org_code"]
    assert res.details["authority"] == case["authority"] and res.details["type"] == case["type"]
    assert ids.org_code_display(ids.uscc_org_code(res.value)) == case["org_code_display"]
    assert ids.uscc_check_char(res.value[:17]) == case["check"]
    assert (
        ids.make_uscc(case["authority"], case["type"], case["region"], case["org_code"][:8])
        == case["value"]
    )


@pytest.mark.parametrize("case", _cases("uscc", "invalid"), ids=lambda c: c["value"])
def test_uscc_invalid(case: dict[str, Any]) -> None:
    res = ids.check_uscc(case["value"])
    assert res.reason == case["reason"]
    assert list(res.failures) == case["all_failures"]


@pytest.mark.parametrize(
    "case", _cases("uscc", "suspicious_but_checksum_valid"), ids=lambda c: c["value"]
)
def test_uscc_suspicious(case: dict[str, str]) -> None:
    res = ids.check_uscc(case["value"])
    assert res.valid
    assert case["reason"] in res.flags


@pytest.mark.parametrize("case", _cases("uscc_normalise"), ids=lambda c: c["expected"])
def test_uscc_normalise(case: dict[str, str]) -> None:
    assert ids.normalise_identifier(case["input"]) == case["expected"]
    assert ids.check_uscc(case["input"]).valid


@pytest.mark.parametrize("case", _cases("uscc_to_org_code"), ids=lambda c: c["uscc"])
def test_uscc_derivations(case: dict[str, str]) -> None:
    assert ids.uscc_org_code(case["uscc"]) == case["org_code"]
    assert ids.org_code_display(case["org_code"]) == case["org_code_display"]
    assert ids.uscc_region(case["uscc"]) == case["region"]
    assert ids.cross_check_org_code(case["uscc"], case["org_code_display"])
    assert ids.check_org_code(case["org_code"]).valid


@pytest.mark.parametrize("case", _cases("org_code", "valid"), ids=lambda c: c["value"])
def test_org_code_valid(case: dict[str, str]) -> None:
    res = ids.check_org_code(case["value"])
    assert res.valid and res.value == case["compact"]


@pytest.mark.parametrize("case", _cases("org_code", "invalid"), ids=lambda c: c["value"])
def test_org_code_invalid(case: dict[str, str]) -> None:
    assert ids.check_org_code(case["value"]).reason == case["reason"]


@pytest.mark.parametrize("case", _cases("reg_no_15", "valid"), ids=lambda c: c["value"])
def test_reg_no_valid(case: dict[str, str]) -> None:
    assert ids.check_reg_no(case["value"]).valid
    assert ids.reg_no_check_digit(case["value"][:14]) == case["value"][14]


@pytest.mark.parametrize("case", _cases("reg_no_15", "invalid"), ids=lambda c: c["value"])
def test_reg_no_invalid(case: dict[str, str]) -> None:
    assert ids.check_reg_no(case["value"]).reason == case["reason"]


@pytest.mark.parametrize(
    "case", _cases("reg_no_15", "real_nonconforming"), ids=lambda c: c["value"]
)
def test_reg_no_nonconforming_is_flagged(case: dict[str, str]) -> None:
    res = ids.check_reg_no(case["value"])
    assert not res.valid and "nonstandard" in res.flags


@pytest.mark.parametrize("case", _cases("resident_id", "valid"), ids=lambda c: c["value"])
def test_resident_id_valid(case: dict[str, str]) -> None:
    res = ids.check_resident_id(case["value"], AS_OF)
    assert res.valid, res
    assert res.kind == "resident_id"
    assert res.details["birth_date"] == case["birth_date"]
    assert res.details["gender"] == case["gender"]
    assert res.details["region"] == case["region"]


@pytest.mark.parametrize("case", _cases("resident_id", "invalid"), ids=lambda c: c["value"])
def test_resident_id_invalid(case: dict[str, str]) -> None:
    assert ids.check_resident_id(case["value"], AS_OF).reason == case["reason"]


@pytest.mark.parametrize("case", _cases("resident_id_normalise"), ids=lambda c: c["input"])
def test_resident_id_normalise(case: dict[str, str | None]) -> None:
    assert ids.normalise_identifier(case["input"]) == case["expected"]
    if case["expected"] is None:
        assert ids.is_excel_float(case["input"])


@pytest.mark.parametrize("case", _cases("id15_to_id18"), ids=lambda c: c["id15"])
def test_id15_upgrade(case: dict[str, str]) -> None:
    assert ids.check_id15(case["id15"]).valid
    expected = case.get("id18") or case["id18_naive"]
    assert ids.upgrade_id15(case["id15"]) == expected
    if "id18_actual" in case:
        assert ids.upgrade_id15(case["id15"]) != case["id18_actual"]


@pytest.mark.parametrize("case", _cases("id15_invalid"), ids=lambda c: c["value"])
def test_id15_invalid(case: dict[str, str]) -> None:
    assert ids.check_id15(case["value"]).reason == case["reason"]


@pytest.mark.parametrize("case", _cases("hmt_residence_permit", "valid"), ids=lambda c: c["value"])
def test_hmt_permit_valid(case: dict[str, str]) -> None:
    res = ids.check_resident_id(case["value"], AS_OF)
    assert res.valid and res.kind == "hmt_permit"
    assert res.details["birth_date"] == case["birth_date"]
    assert res.details["gender"] == case["gender"]
    assert res.details["region"] == case["region"]


@pytest.mark.parametrize(
    "case", _cases("hmt_residence_permit", "invalid"), ids=lambda c: c["value"]
)
def test_hmt_permit_invalid(case: dict[str, str]) -> None:
    assert ids.check_resident_id(case["value"], AS_OF).reason == case["reason"]


@pytest.mark.parametrize(
    "case", _cases("foreign_permanent_resident_2023", "valid"), ids=lambda c: c["value"]
)
def test_foreign_2023_valid(case: dict[str, str]) -> None:
    res = ids.check_resident_id(case["value"], AS_OF)
    assert res.valid and res.kind == "foreign_permanent_resident"
    assert res.details["birth_date"] == case["birth_date"]
    assert res.details["region"] == case["province"]
    assert res.details["nationality_numeric"] == case["nationality_numeric"]


@pytest.mark.parametrize(
    "case", _cases("foreign_permanent_resident_2023", "invalid"), ids=lambda c: c["value"]
)
def test_foreign_2023_invalid(case: dict[str, str]) -> None:
    assert ids.check_resident_id(case["value"], AS_OF).reason == case["reason"]


@pytest.mark.parametrize(
    "case",
    _cases("foreign_permanent_resident_2023", "old_format_15_examples"),
    ids=lambda c: c["value"],
)
def test_foreign_old_format(case: dict[str, Any]) -> None:
    assert ids.check_foreign_old15(case["value"]).valid is case["valid_format"]
    assert ids.classify_identifier(case["value"]).kind == "foreign_old15"  # type: ignore[union-attr]


@pytest.mark.parametrize("case", _cases("tax_id", "valid"), ids=lambda c: c["value"])
def test_tax_id_valid(case: dict[str, str]) -> None:
    res = ids.check_tax_id(case["value"], AS_OF)
    assert res.valid, res
    expected_form = {"uscc_as_tin": "uscc", "temporary_L_prefix": "temporary_l"}.get(
        case["kind"], case["kind"]
    )
    assert res.details["form"] == expected_form


@pytest.mark.parametrize("case", _cases("tax_id", "invalid"), ids=lambda c: c["value"])
def test_tax_id_invalid(case: dict[str, str]) -> None:
    assert ids.check_tax_id(case["value"], AS_OF).reason == case["reason"]


@pytest.mark.parametrize("case", _cases("tax_id", "mapping"), ids=lambda c: c["uscc"])
def test_tax_id_mapping(case: dict[str, str]) -> None:
    assert ids.legacy_tax_id_from_uscc(case["uscc"]) == case["legacy_tax_id_15"]
    assert ids.check_tax_id(case["legacy_tax_id_15"]).valid


def test_a_resident_id_that_also_passes_the_uscc_check_is_a_resident_id() -> None:
    # 360830197805290945: a valid resident ID whose 18th character happens to be the USCC
    # check character of its first 17 (the newcomer pass found `show` reading it as a USCC).
    as_uscc = ids.check_uscc("360830197805290945")
    assert as_uscc.valid and as_uscc.flags  # passes, but with an unknown type and region
    found = ids.classify_identifier("360830197805290945")
    assert found is not None and found.kind == "resident_id" and found.valid
