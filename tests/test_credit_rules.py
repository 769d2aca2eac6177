"""Event status, listing periods and repairs on both sides of 2026-04-01; grade boundaries."""

from __future__ import annotations

import datetime as dt

import pytest

from credit.catalog import default_catalog
from credit.grading import grade
from credit.rules import Event, Role, assess, responsible

D = dt.date
CAT = default_catalog()


def ev(event_type: str, day: dt.date, severity: str | None = None, uid: str = "X|1") -> Event:
    return Event(uid, event_type, "AMR", uid.split("|")[1], f"决定{uid}", day, severity)


def status_on(e: Event, day: dt.date, repaired: dt.date | None = None) -> str:
    return assess(CAT, e, day, repaired).status


def test_penalty_after_2026_04_01_is_public_one_year() -> None:
    e = ev("行政处罚", D(2026, 5, 10), "一般")
    a = assess(CAT, e, D(2026, 5, 10))
    assert (a.status, a.until, a.public) == ("active", D(2027, 5, 10), True)
    assert "ndrc-credit-repair-2026" in a.rule and "1y" in a.rule
    assert status_on(e, D(2027, 5, 9)) == "active"
    assert status_on(e, D(2027, 5, 10)) == "expired"


def test_penalty_before_2026_04_01_ends_by_the_transitional_rule() -> None:
    # Order 58 would publish until 2028-01-10; the 2026 rule's 1-year maximum is shorter,
    # applied from the day the new rule took effect.
    e = ev("行政处罚", D(2025, 1, 10), "一般")
    assert status_on(e, D(2026, 3, 31)) == "active"
    a = assess(CAT, e, D(2026, 4, 1))
    assert (a.status, a.until) == ("expired", D(2026, 4, 1))
    assert a.rule.startswith("ended 2026-04-01: transitional rule")
    # a decision of 2025-09 ends one year after its decision date, not on 2026-04-01
    late = ev("行政处罚", D(2025, 9, 15), "一般")
    assert assess(CAT, late, D(2026, 4, 1)).until == D(2026, 9, 15)


def test_minor_penalty_under_the_new_rule_is_not_published() -> None:
    a = assess(CAT, ev("行政处罚", D(2026, 6, 1), "轻微"), D(2026, 6, 2))
    assert (a.status, a.public, a.until) == ("active", False, D(2026, 9, 1))


def test_serious_list_keeps_its_own_period() -> None:
    e = ev("失信被执行人", D(2025, 6, 1), "严重")
    a = assess(CAT, e, D(2026, 6, 1))
    assert (a.status, a.until) == ("active", D(2027, 6, 1))
    assert a.listed_on(D(2027, 5, 31)) and not a.listed_on(D(2027, 6, 1))


def test_abnormal_list_before_and_after_the_new_rule() -> None:
    old = ev("经营异常名录", D(2024, 1, 5), "一般")
    assert assess(CAT, old, D(2026, 3, 31)).listed_on(D(2026, 3, 31))
    assert not assess(CAT, old, D(2026, 4, 1)).listed_on(D(2026, 4, 1))
    new = ev("经营异常名录", D(2026, 4, 1), "一般")  # 3y sector period capped at 1y
    a = assess(CAT, new, D(2026, 4, 1))
    assert a.until == D(2027, 4, 1) and "一般 maximum 1y" in a.rule


@pytest.mark.parametrize(
    ("decided", "repaired", "shared_after"),
    [
        (D(2025, 6, 1), D(2026, 2, 10), True),  # repaired under Order 58: sharing goes on
        (D(2025, 6, 1), D(2026, 4, 1), False),  # repaired under the 2026 rule: stops sharing
        (D(2026, 5, 1), D(2026, 9, 30), False),
    ],
)
def test_repair_leaves_the_list_on_its_day(
    decided: dt.date, repaired: dt.date, shared_after: bool
) -> None:
    e = ev("严重违法失信名单", decided, "严重")
    before = assess(CAT, e, repaired - dt.timedelta(days=1), repaired)
    on = assess(CAT, e, repaired, repaired)
    assert before.status == "active" and before.listed_on(repaired - dt.timedelta(days=1))
    assert on.status == "repaired" and not on.listed_on(repaired)
    assert on.until == repaired and on.public is False and on.shared is shared_after


def test_penalty_repair_before_its_minimum_period_does_not_count() -> None:
    e = ev("行政处罚", D(2026, 5, 1), "严重")
    too_early = assess(CAT, e, D(2026, 8, 1), D(2026, 7, 1))  # 严重: minimum 1 year
    assert too_early.status == "active" and too_early.repaired_on is None
    assert assess(CAT, e, D(2027, 6, 1), D(2027, 5, 2)).status == "repaired"


def test_red_lists_ignore_repair_classes_and_unknown_or_undated_events() -> None:
    a = assess(CAT, ev("守信激励对象", D(2026, 8, 29), "轻微"), D(2026, 11, 1))
    assert a.severity is None and a.until == D(2028, 8, 29)
    assert assess(CAT, ev("未知类型", D(2026, 1, 1)), D(2026, 2, 1)).status == "unknown_type"
    undated = Event("X|2", "行政处罚", "AMR", "2", None, None, "一般")
    assert assess(CAT, undated, D(2026, 2, 1)).status == "undated"
    assert status_on(ev("行政处罚", D(2026, 3, 1), "一般"), D(2026, 2, 1)) == "pending"


def test_roles_reach_persons_as_they_stood() -> None:
    lt = CAT.lists["重大税收违法失信主体"]
    rep = Role("P1", "张三", "E1", "LEGAL_REP_OF", "法定代表人", D(2020, 1, 1), D(2024, 6, 30))
    cfo = Role("P2", "李四", "E1", "SERVES_AS", "财务负责人", None, None)
    director = Role("P3", "王五", "E1", "SERVES_AS", "董事", D(2020, 1, 1), None)
    assert responsible(lt, rep) and responsible(lt, cfo) and not responsible(lt, director)
    assert rep.held_on(D(2024, 6, 30)) and not rep.held_on(D(2024, 7, 1))


def _card_grade(events: list[Event], day: dt.date) -> tuple[str, float, float]:
    g = grade(CAT.scorecard, [assess(CAT, e, day) for e in events], day)
    return g.grade, g.score, round(sum(line.points for line in g.lines), 2)


@pytest.mark.parametrize(
    ("events", "expected_grade", "expected_score"),
    [
        ([], "A", 100.0),
        ([ev("行政处罚", D(2026, 10, 1), "一般", "A|1")], "A", 90.0),  # exactly 90: A
        (
            [
                ev("行政处罚", D(2026, 10, 1), "一般", "A|1"),
                ev("行政处罚", D(2026, 10, 2), "轻微", "A|2"),
            ],
            "B",
            87.0,
        ),
        (
            [ev("行政处罚", D(2026, 10, 1), "一般", f"A|{i}") for i in range(3)],
            "B",
            70.0,
        ),  # exactly 70: B
        (
            [ev("行政处罚", D(2026, 10, 1), "一般", f"A|{i}") for i in range(3)]
            + [ev("行政处罚", D(2026, 10, 2), "轻微", "A|9")],
            "C",
            67.0,
        ),
        (
            [
                ev("严重违法失信名单", D(2026, 10, 1), "严重", "A|1"),
                ev("行政处罚", D(2026, 10, 1), "一般", "A|2"),
                ev("行政处罚", D(2026, 10, 1), "一般", "A|3"),
            ],
            "C",
            40.0,
        ),  # exactly 40: C
        (
            [
                ev("严重违法失信名单", D(2026, 10, 1), "严重", "A|1"),
                ev("行政处罚", D(2026, 10, 1), "一般", "A|2"),
                ev("行政处罚", D(2026, 10, 1), "一般", "A|3"),
                ev("行政处罚", D(2026, 10, 2), "轻微", "A|4"),
            ],
            "D",
            37.0,
        ),
        # recency: a 严重 penalty 17 months old counts 0.6 of its points
        ([ev("行政处罚", D(2025, 6, 1), "严重", "A|1")], "B", 76.0),
        # red list adds points; a direct-D type makes D whatever the score
        ([ev("守信激励对象", D(2026, 9, 1), None, "A|1")], "A", 105.0),
        (
            [
                ev("失信被执行人", D(2026, 9, 1), "严重", "A|1"),
                ev("守信激励对象", D(2026, 9, 1), None, "A|2"),
            ],
            "D",
            65.0,
        ),
    ],
)
def test_grade_boundaries_and_explanations_sum(
    events: list[Event], expected_grade: str, expected_score: float
) -> None:
    g, score, total = _card_grade(events, D(2026, 11, 1))
    assert (g, score) == (expected_grade, expected_score)
    assert total == score


def test_expired_and_repaired_events_do_not_count() -> None:
    day = D(2026, 11, 1)
    old = ev("行政处罚", D(2024, 1, 1), "一般", "A|1")  # ended 2026-04-01 (transitional)
    repaired = ev("严重违法失信名单", D(2026, 5, 1), "严重", "A|2")
    g = grade(
        CAT.scorecard, [assess(CAT, old, day), assess(CAT, repaired, day, D(2026, 7, 1))], day
    )
    assert (g.grade, g.score, len(g.lines)) == ("A", 100.0, 1)


def test_one_decision_delivered_twice_counts_once() -> None:
    """A decision delivered again under a new record id (a later batch) or by a second
    department is one decision: one line, one deduction; another decision still counts."""
    day = D(2026, 11, 1)

    def penalty(uid: str, decision: str, dept: str = "EE") -> Event:
        return Event(uid, "行政处罚", dept, uid.split("|")[1], decision, D(2026, 10, 1), "一般")

    once = grade(CAT.scorecard, [assess(CAT, penalty("EE|1", "环罚〔2026〕1号"), day)], day)
    twice = grade(
        CAT.scorecard,
        [
            assess(CAT, penalty("EE|1", "环罚〔2026〕1号"), day),
            assess(CAT, penalty("EE|10000001", "环罚〔2026〕1号"), day),
            assess(CAT, penalty("CREDIT|7", "环罚〔2026〕1号", "CREDIT"), day),
        ],
        day,
    )
    assert len(once.lines) == 2 and once.score < 100
    assert (twice.grade, twice.score, len(twice.lines)) == (once.grade, once.score, 2)
    other = grade(
        CAT.scorecard,
        [
            assess(CAT, penalty("EE|1", "环罚〔2026〕1号"), day),
            assess(CAT, penalty("EE|2", "环罚〔2026〕2号"), day),
        ],
        day,
    )
    assert len(other.lines) == 3 and other.score < once.score


def test_batch_canonical_names_equal_one_by_one() -> None:
    from resolver.standardize.names import canonical_enterprise_name, canonical_enterprise_names

    names = [
        "深圳市騰訊計算機系統有限責任公司",
        "佛山市南海区永盛五金制品有限公司（原佛山市永盛五金厂）",
        " 广州 同名 贸易 有限公司。",
        "",
        "腾讯科技(深圳)有限公司",
        "ABC Trading Co., Ltd.",
    ]
    assert canonical_enterprise_names(names) == [canonical_enterprise_name(n) for n in names]
