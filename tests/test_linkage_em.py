"""Training of the Fellegi–Sunter model (resolver.linkage.fellegi_sunter.train) on level matrices
made by hand: what it learns must not depend on how many homonyms a batch happens to hold,
and namesake districts compare by the district the other side names."""

from __future__ import annotations

import numpy as np

from resolver.ingest.rows import Record
from resolver.linkage.blocking import training_eligibility
from resolver.linkage.compare import (
    DISAGREEMENT_LEVELS,
    PERSON_FEATURES,
    PERSON_LEVELS,
    compare_persons,
    entity_record,
)
from resolver.linkage.fellegi_sunter import M_FLOOR, NULL, train

M = NULL  # missing
# name, birth_date, gender, phone, address, employer
SURE = [[3, 2, 1, 1, 3, M]] * 180 + [[3, 1, 1, 1, 3, M]] * 2 + [[3, 0, 1, 0, 3, M]] * 2


def _column(*counts: int) -> list[int]:
    return [level for level, n in enumerate(counts) for _ in range(n)]


# random pairs (10,000): each column with its own agreement rates
RANDOM = np.stack(
    [
        np.asarray(_column(9900, 0, 0, 100)),
        np.asarray(_column(9940, 50, 10)),
        np.asarray(_column(5000, 5000)),
        np.asarray(_column(9990, 10)),
        np.asarray(_column(9000, 900, 90, 10)),
        np.full(10_000, M),
    ],
    axis=1,
).astype(np.int8)
# homonyms in one street: same name, same street, birth dates that differ (some in one month)
HOMONYM = [[3, 1, M, M, 2, M], [3, 0, M, M, 2, M]]
# records of one person without an identifier: same name, birth date and address
SAME_PERSON = [[3, 2, M, M, 3, M]]


def _train(homonym_pairs: int) -> list[list[float]]:
    cands = np.asarray(SAME_PERSON * 40 + HOMONYM * homonym_pairs, dtype=np.int8)
    model = train(
        PERSON_FEATURES,
        PERSON_LEVELS,
        np.asarray(SURE, dtype=np.int8),
        RANDOM,
        cands,
        prior=1e-3,
        disagreement=DISAGREEMENT_LEVELS["person"],
    )
    assert 1 <= model.iterations <= 25
    return model.m


def test_birth_date_disagreement_does_not_absorb_homonyms() -> None:
    few, many = _train(5), _train(500)
    # m of "different" and "same month" comes from the identifier-linked pairs (2 of 184
    # each), shrunk towards 1 %: the same whatever number of homonyms is in the batch
    expected = (2 + 50 * 0.01) / (184 + 50)
    for m in (few, many):
        assert abs(m[1][0] - expected) < 1e-9 and abs(m[1][1] - expected) < 1e-9
    assert many[1] == few[1]


def test_levels_never_reach_zero() -> None:
    m = _train(50)
    for f, levels in enumerate(m):
        assert abs(sum(levels) - 1.0) < 1e-9
        if f not in DISAGREEMENT_LEVELS["person"]:
            assert min(levels) >= M_FLOOR / 1.1, (PERSON_FEATURES[f], levels)


def _person(idx: int, rid: str, name: str, address: str, birth: str = "") -> Record:
    std: dict[str, object] = {"name_norm": name, "name_pinyin": name}
    from resolver.standardize.addresses import parse_address

    a = parse_address(address)
    std["address_norm"] = a.canonical
    std["district_code"] = a.district_code
    if birth:
        std["birth_date"] = birth
    return Record("RES", "r.csv", idx + 2, rid, "person", {"address": address}, std, [], {})


def test_blocking_columns_do_not_train_their_own_m() -> None:
    recs = [
        _person(0, "A", "赵一", "陕西省西安市新城区解放路1号", "1980-01-01"),
        _person(1, "B", "赵一", "陕西省西安市新城区解放路1号", "1980-01-01"),
    ]
    ers = [entity_record(i, r) for i, r in enumerate(recs)]
    elig = training_eligibility("person", ers, [(0, 1)], len(PERSON_FEATURES))
    # met through the name alone (and name + birth month, name + district): the pair trains
    # every feature but the name
    assert elig[0].tolist() == [False, True, True, True, True, True]


def test_namesake_district_is_read_in_the_other_sides_city() -> None:
    # 新城区 is a district of 西安 and of 呼和浩特: without a city the parser guesses one
    bare = _person(0, "A", "贺旭", "新城区东五路427号金色公寓19栋803室")
    xian = _person(1, "B", "贺旭", "西安新城区东五路427号金色公寓19栋803室")
    other = _person(2, "C", "贺旭", "西安新城区东五路9号")
    hohhot = _person(3, "D", "贺旭", "呼和浩特市新城区东五路427号金色公寓19栋803室")
    assert bare.std["district_code"] != xian.std["district_code"]
    a, b, c, d = (entity_record(i, r) for i, r in enumerate((bare, xian, other, hohhot)))
    levels = compare_persons([a, a, a, b], [b, c, d, d])[:, 4].tolist()
    assert levels == [3, 1, 3, 0]  # exact, same district, exact, different district
