"""Name, phone and address vectors of ../shared/domain/test_vectors.json."""

from __future__ import annotations

from typing import Any

import pytest

from resolver.standardize.addresses import parse_address
from resolver.standardize.dates import parse_date, parse_money, parse_period
from resolver.standardize.names import (
    normalise_enterprise_name,
    normalise_person_name,
    person_pinyin_key,
)
from resolver.standardize.phones import parse_phone
from tests.test_identifier_vectors import VECTORS


def _cases(section: str) -> list[Any]:
    return list(VECTORS[section])


@pytest.mark.parametrize("case", _cases("enterprise_name_normalise"), ids=lambda c: c["input"])
def test_enterprise_name_normalise(case: dict[str, str]) -> None:
    res = normalise_enterprise_name(case["input"])
    assert res.normalised == case["expected"]
    assert res.former_name == case.get("former_name")


@pytest.mark.parametrize("case", _cases("branch_detection"), ids=lambda c: c["name"])
def test_branch_detection(case: dict[str, Any]) -> None:
    res = normalise_enterprise_name(case["name"])
    assert res.is_branch is case["is_branch"]
    assert res.parent == case.get("parent")
    assert res.branch_part == case.get("branch_part")


@pytest.mark.parametrize(
    "case", _cases("enterprise_name_pairs"), ids=lambda c: f"{c['a']}|{c['b']}"
)
def test_enterprise_name_pairs(case: dict[str, str]) -> None:
    a, b = normalise_enterprise_name(case["a"]), normalise_enterprise_name(case["b"])
    if case["label"] == "same":
        assert a.normalised == b.normalised
    elif case["label"] == "different":
        # Different legal persons never share a normalised name.
        assert a.normalised != b.normalised
    if not a.is_branch and ("分公司" in case["b"] or "支行" in case["b"] or "办事处" in case["b"]):
        assert (
            b.is_branch and b.parent == a.normalised
        )  # a branch points at its parent, never merges


@pytest.mark.parametrize("case", _cases("person_name_normalise"), ids=lambda c: c["input"])
def test_person_name_normalise(case: dict[str, str]) -> None:
    res = normalise_person_name(case["input"])
    assert res == case["expected"]
    if "pinyin_key" in case:
        assert person_pinyin_key(res) == case["pinyin_key"]


@pytest.mark.parametrize("case", _cases("phone_normalise"), ids=lambda c: c["input"])
def test_phone_normalise(case: dict[str, Any]) -> None:
    res = parse_phone(case["input"])
    for key, value in case["expected"].items():
        if key != "note":
            assert getattr(res, key) == value, key


@pytest.mark.parametrize("case", _cases("address_parse"), ids=lambda c: c["input"])
def test_address_parse(case: dict[str, Any]) -> None:
    res = parse_address(case["input"])
    for key, value in case["expected"].items():
        assert getattr(res, key) == value, key


def test_address_city_hint_resolves_ambiguity() -> None:
    res = parse_address("桂城街道南海大道北88号")
    assert res.district_code is None
    hinted = parse_address("南海区桂城街道南海大道北88号", city_hint="4406")
    assert hinted.district_code == "440605" and not hinted.ambiguous


@pytest.mark.parametrize(
    ("text", "value", "precision", "flag"),
    [
        ("2019-03-05", "2019-03-05", "day", None),
        ("2019/3/5", "2019-03-05", "day", None),
        ("20190305", "2019-03-05", "day", None),
        ("2019年3月5日", "2019-03-05", "day", None),
        ("2019.03.05", "2019-03-05", "day", None),
        ("２０１９年３月５日", "2019-03-05", "day", None),
        ("2019-03-05 00:00:00", "2019-03-05", "day", None),
        ("43529", "2019-03-05", "day", None),  # Excel serial date
        ("2019年03月", "2019-03", "month", "partial_date"),
        ("201903", "2019-03", "month", "partial_date"),
        ("2019", "2019", "year", "partial_date"),
        ("2019-02-30", None, None, "bad_date"),
        ("2019年13月5日", None, None, "bad_date"),
        ("不详", None, None, "bad_date"),
    ],
)
def test_dates(text: str, value: str | None, precision: str | None, flag: str | None) -> None:
    res = parse_date(text)
    assert (res.value, res.precision, res.flag) == (value, precision, flag)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("2026-Q3", "2026Q3"),
        ("2026年第3季度", "2026Q3"),
        ("20260701-20260930", "2026Q3"),
        ("2026/7/1-2026/9/30", "2026Q3"),
        ("2026-05", "2026-05"),
        ("2026", "2026"),
        ("2026-05-03", "2026-05-03"),
    ],
)
def test_periods(text: str, label: str) -> None:
    res = parse_period(text)
    assert res is not None and res.label == label


@pytest.mark.parametrize(
    ("text", "hint", "yuan"),
    [
        ("500万元", None, 5e6),
        ("5,000,000元", None, 5e6),
        ("5000000.00", None, 5e6),
        ("500万", None, 5e6),
        ("1.5亿元", None, 1.5e8),
        ("￥1,200.50", None, 1200.5),
        ("12.5", "万元", 125000.0),
        ("abc", None, None),
    ],
)
def test_money(text: str, hint: str | None, yuan: float | None) -> None:
    assert parse_money(text, hint) == yuan
