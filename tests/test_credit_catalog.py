"""The credit catalogs: the shipped ones load; broken ones fail naming file, line and key."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from credit.catalog import CATALOG_DIR, CatalogError, Period, load_catalog


def test_shipped_catalog_covers_the_regime() -> None:
    c = load_catalog()
    for name in (
        "行政许可",
        "行政处罚",
        "失信被执行人",
        "重大税收违法失信主体",
        "严重违法失信名单",
        "经营异常名录",
        "海关失信企业",
        "海关高级认证企业",
        "纳税信用A级",
        "纳税信用B级",
        "纳税信用M级",
        "纳税信用C级",
        "纳税信用D级",
        "守信激励对象",
        "表彰",
        "信用修复",
    ):
        assert c.event_type(name) is not None, name
    assert c.event_type("严重违法失信企业名单") is c.event_types["严重违法失信名单"]  # alias
    assert [r.key for r in c.repair_rules] == ["ndrc-order-58", "ndrc-credit-repair-2026"]
    assert c.rule_on(dt.date(2026, 3, 31)).key == "ndrc-order-58"  # type: ignore[union-attr]
    assert c.rule_on(dt.date(2026, 4, 1)).key == "ndrc-credit-repair-2026"  # type: ignore[union-attr]
    new = c.rule("ndrc-credit-repair-2026")
    assert (str(new.classes["一般"].minimum), str(new.classes["一般"].maximum)) == ("3m", "1y")
    assert (str(new.classes["严重"].minimum), str(new.classes["严重"].maximum)) == ("1y", "3y")
    assert new.classes["轻微"].published is False
    assert new.on_repair == {"publishing", "sharing", "joint_measures"}
    dishonest = c.lists["失信被执行人"]
    assert dishonest.issuer == "COURT" and "法定代表人" in dishonest.responsible
    assert any(m.extends and m.dept == "TRANS" for m in dishonest.measures)
    assert {lt.kind for lt in c.lists.values()} == {"punishment", "incentive"}


def test_periods_add_calendar_months() -> None:
    assert Period(1, "y").after(dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)
    assert Period(3, "m").after(dt.date(2025, 11, 30)) == dt.date(2026, 2, 28)
    assert Period(90, "d").after(dt.date(2026, 1, 1)) == dt.date(2026, 4, 1)


def _broken(tmp_path: Path, file: str, old: str, new: str) -> Path:
    d = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (d / file).read_text("utf-8")
    assert old in text, old
    (d / file).write_text(text.replace(old, new, 1), "utf-8")
    return d


@pytest.mark.parametrize(
    ("file", "old", "new", "needle", "message"),
    [
        # an event type the scorecard names but the catalog lacks
        (
            "scorecard.yaml",
            "  表彰: 3",
            "  表彰奖励: 3",
            "表彰奖励",
            r"bonuses\.表彰奖励: unknown event type",
        ),
        (
            "scorecard.yaml",
            "direct_d: [重大税收违法失信主体,",
            "direct_d: [重大税收违法失信主体X,",
            "direct_d",
            r"direct_d\.重大税收违法失信主体X: unknown event type",
        ),
        # a bad period
        (
            "event_types.yaml",
            "    period: 2y\n    subjects: [enterprise, person]\n    basis: 法释",
            "    period: 2 years\n    subjects: [enterprise, person]\n    basis: 法释",
            "period: 2 years",
            r"失信被执行人\.period: bad period '2 years'",
        ),
        (
            "repair_rules.yaml",
            "一般: {min: 3m, max: 1y}",
            "一般: {min: 3m, max: 1w}",
            "max: 1w",
            r"ndrc-credit-repair-2026\.classes\.一般\.max: bad period '1w'",
        ),
        (
            "repair_rules.yaml",
            "一般: {min: 3m, max: 1y}",
            "一般: {min: 2y, max: 1y}",
            "min: 2y",
            r"classes\.一般\.max: bad period: max 1y is below min 2y",
        ),
        # a missing / unknown department
        (
            "event_types.yaml",
            "    category: licence\n    department: AMR\n",
            "    category: licence\n",
            "  行政许可:",
            r"行政许可\.department: missing",
        ),
        (
            "event_types.yaml",
            "    department: CUSTOMS\n",
            "    department: HAIGUAN\n",
            "HAIGUAN",
            r"海关失信企业\.department: unknown department 'HAIGUAN'",
        ),
        (
            "lists.yaml",
            "{dept: PBOC, measure: 审慎授信",
            "{dept: BANK, measure: 审慎授信",
            "BANK",
            r"环境严重失信\.measures\[2\]\.dept: unknown department 'BANK'",
        ),
        # a duplicate key
        (
            "event_types.yaml",
            "  税务行政处罚:\n",
            "  行政处罚:\n",
            "  行政处罚:",
            r"event_types\.行政处罚: duplicate key \(first on line \d+\)",
        ),
        (
            "lists.yaml",
            "  限制高消费:\n    kind",
            "  失信被执行人:\n    kind",
            "  失信被执行人:",
            r"lists\.失信被执行人: duplicate key",
        ),
        # an unknown list type / class / field
        (
            "event_types.yaml",
            "    list_type: 海关失信企业\n",
            "    list_type: 海关黑名单\n",
            "  海关失信企业:",
            r"海关失信企业\.list_type: unknown list type '海关黑名单'",
        ),
        (
            "event_types.yaml",
            "    severity: 严重\n    disclosure: restricted",
            "    severity: 特别严重\n    disclosure: restricted",
            "特别严重",
            r"severity: '特别严重' is not one of 轻微, 一般, 严重, none",
        ),
    ],
)
def test_broken_catalog_is_a_clear_error(
    tmp_path: Path, file: str, old: str, new: str, needle: str, message: str
) -> None:
    d = _broken(tmp_path, file, old, new)
    with pytest.raises(CatalogError) as info:
        load_catalog(d)
    text = str(info.value)
    assert re.search(message, text), text
    m = re.match(rf"{re.escape(file)}:(\d+): ", text)
    assert m, text
    # The line named is the offending line (or the entry that lacks a field / is repeated).
    occurrences = [
        i
        for i, line in enumerate((d / file).read_text("utf-8").splitlines(), start=1)
        if needle in line
    ]
    assert int(m.group(1)) in occurrences, (text, occurrences)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    d = _broken(tmp_path, "lists.yaml", "lists:\n", "lists: [\n")
    with pytest.raises(CatalogError, match=r"^lists\.yaml:\d+: not valid YAML"):
        load_catalog(d)
    (d / "lists.yaml").unlink()
    with pytest.raises(CatalogError, match=r"lists\.yaml: cannot read"):
        load_catalog(d)
