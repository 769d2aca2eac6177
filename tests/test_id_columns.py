"""Identifier columns checked at once (resolver/standardize/id_columns.py) give exactly what the
per-value checks give: the values they pass are valid without a flag, the standardiser's
outcome is the same with and without them, and the common valid forms do take the fast path."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.standardize import id_columns
from resolver.standardize import identifiers as ids
from resolver.standardize.records import (
    ENTERPRISE_ID_FIELDS,
    PERSON_ID_FIELDS,
    RELATED_USCC_FIELDS,
    Standardiser,
)

AS_OF = dt.date(2026, 11, 1)
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _uscc(rng: random.Random) -> str:
    auth = rng.choice(sorted(ids.USCC_AUTHORITY_TYPES))
    org_type = rng.choice(sorted(ids.USCC_AUTHORITY_TYPES[auth]))
    region = rng.choice(["110105", "440106", "510104", "100000", "990101", "830000"])
    body = "".join(rng.choice(ids.USCC_ALPHABET) for _ in range(8))
    return ids.make_uscc(auth, org_type, region, body)


def _resident(rng: random.Random) -> str:
    region = rng.choice(["110105", "440106", "810000", "820000", "990101", "510104"])
    born = dt.date(1850, 1, 1) + dt.timedelta(days=rng.randrange(0, 64000))
    seq = rng.choice(["000", f"{rng.randrange(1000):03d}"])
    body = f"{region}{born:%Y%m%d}{seq}"
    if rng.random() < 0.05:
        body = f"{region}{born.year}0229{seq}"  # a leap day, possibly not one
    return body + ids.id_check_char(body)


def _reg_no(rng: random.Random) -> str:
    body = rng.choice(["110105", "440106", "990101", "100000"]) + "".join(
        rng.choice("0123456789") for _ in range(8)
    )
    return body + ids.reg_no_check_digit(body)


def _org_code(rng: random.Random) -> str:
    body = "".join(rng.choice(_ALNUM) for _ in range(8))
    return body + ids.org_code_check_char(body)


def _mutate(rng: random.Random, value: str) -> str:
    """A department's mistakes and writing habits: one character changed, case, spaces,
    full-width digits, Excel's float notation, a hyphen, a character left out, a ``'``."""
    i = rng.randrange(len(value))
    choice = rng.randrange(8)
    if choice == 0:
        return value[:i] + rng.choice(_ALNUM + "xeE") + value[i + 1 :]
    if choice == 1:
        return value.lower()
    if choice == 2:
        return f" {value} "
    if choice == 3:
        return value.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if choice == 4:
        return value[:i] + "E" + "".join(c for c in value[i + 1 :] if c.isdigit())
    if choice == 5:
        return value[:8] + "-" + value[8:]
    if choice == 6:
        return value[:i] + value[i + 1 :]
    return "'" + value  # Excel's text marker


def _values(seed: int, n: int = 400) -> list[str]:
    rng = random.Random(seed)
    makers = (_uscc, _resident, _reg_no, _org_code)
    out = []
    for _ in range(n):
        v = rng.choice(makers)(rng)
        out.append(v if rng.random() < 0.6 else _mutate(rng, v))
    out.append("1.10105E+17")
    out.append("110105E17")
    out.append("")
    return out


def test_quick_normal_agrees_with_normalise_identifier() -> None:
    values = [*_values(3, 3000), "'91440101MA5X", " 9144-0101 ", "a_b.c", "1.10105E17", "ａ"]
    checks = (
        id_columns.valid_usccs,
        id_columns.valid_reg_nos,
        id_columns.valid_org_codes,
        id_columns.valid_legacy_tax_ids,
        id_columns.id15_upgrades,
        lambda vs: id_columns.valid_resident_ids(vs, AS_OF),
    )
    for raw, norm in zip(values, id_columns.quick_normal(values), strict=True):
        if not norm:
            continue
        expected = ids.normalise_identifier(raw)
        if expected is None:  # Excel's float notation: kept, and no check accepts it
            assert not any(check([norm]) for check in checks), raw
        else:
            assert norm == expected, raw
    assert id_columns.quick_normal(["'9144-0101 x", "１２", "九一"]) == ["91440101X", "12", ""]


def test_column_checks_pass_only_values_valid_without_a_flag() -> None:
    values = id_columns.quick_normal(_values(1, 3000))
    usccs = id_columns.valid_usccs(values)
    people = id_columns.valid_resident_ids(values, AS_OF)
    reg_nos = id_columns.valid_reg_nos(values)
    orgs = id_columns.valid_org_codes(values)
    legacy = id_columns.valid_legacy_tax_ids(values)
    for v in usccs:
        r = ids.check_uscc(v)
        assert r.valid and r.flags == () and r.value == v, v
    for v in people:
        r = ids.check_resident_id(v, AS_OF)
        assert r.valid and r.kind == "resident_id" and r.flags == () and r.value == v, v
    for v in reg_nos:
        r = ids.check_reg_no(v)
        assert r.valid and r.flags == () and r.value == v, v
    for v in orgs:
        r = ids.check_org_code(v)
        assert r.valid and r.value == v and not ids.is_excel_float(v), v
    for v in legacy:
        r = ids.check_tax_id(v, AS_OF)
        assert r.valid and r.details["form"] == "legacy_15_org" and r.value == v, v
    # ... and they find the plain valid values: the fast path is taken, not just correct.
    plain_valid_usccs = {
        v for v in values if (r := ids.check_uscc(v)).valid and not r.flags and r.value == v
    }
    assert usccs == plain_valid_usccs and len(usccs) > 100
    plain_people = {
        v
        for v in values
        if (r := ids.check_resident_id(v, AS_OF)).valid
        and r.kind == "resident_id"
        and not r.flags
        and r.value == v
    }
    assert people == plain_people and len(people) > 100
    assert len(reg_nos) > 100 and len(orgs) > 100
    upgrades = id_columns.id15_upgrades(
        [v[:6] + v[8:17] for v in plain_people] + ["110105491231002"]
    )
    assert upgrades["110105491231002"] == ids.upgrade_id15("110105491231002")
    for v15, v18 in upgrades.items():
        assert ids.check_id15(v15).valid and v18 == ids.upgrade_id15(v15)
    assert len(upgrades) > 50


def _outcome(std: Standardiser, fld: str, value: str) -> tuple[object, object]:
    res = std.standardise({fld: value}, 7)
    return res.std, [(f.field, f.code, f.message) for f in res.flags]


def test_standardiser_gives_the_same_with_and_without_prevalidation() -> None:
    values = _values(2, 2500)
    fields = (*ENTERPRISE_ID_FIELDS, *PERSON_ID_FIELDS, *RELATED_USCC_FIELDS)
    taken = 0
    for fld in fields:
        columns = {"列": fld}
        general = Standardiser("enterprise", columns, AS_OF, features=False)
        fast = Standardiser("enterprise", columns, AS_OF, features=False)
        fast.prevalidate(fld, values)
        known = fast._known_ids.get(fld) or fast._known_values.get(fld) or ()
        taken += len(known)
        for v in values:
            if v:
                assert _outcome(fast, fld, v) == _outcome(general, fld, v), (fld, v)
    assert taken > 2000


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet="0123456789XEe-x '._", min_size=9, max_size=20)
        | st.sampled_from(_values(5, 300)),
        max_size=30,
    )
)
def test_prevalidated_values_of_any_shape_change_nothing(values: list[str]) -> None:
    for fld in ("any_id", "tax_id", "id_number", "reg_no", "org_code", "uscc", "parent_uscc"):
        general = Standardiser("enterprise", {"列": fld}, AS_OF, features=False)
        fast = Standardiser("enterprise", {"列": fld}, AS_OF, features=False)
        fast.prevalidate(fld, values)
        for v in values:
            if v:
                assert _outcome(fast, fld, v) == _outcome(general, fld, v), (fld, v)


def test_quick_normal_of_a_chunk_is_that_of_each_value() -> None:
    """The chunk's values are cased at once and only the odd ones looked at singly: the
    same as one value at a time, wherever the odd ones are (line breaks inside a value too)."""
    rng = random.Random(4)
    alphabet = [*"0123456789ABCDEFabc-'. \n", "ａ", "１", "九"]
    for _ in range(3000):
        values = [
            "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6)))
            for _ in range(rng.randrange(0, 12))
        ]
        assert id_columns.quick_normal(values) == [id_columns._normal_one(v) for v in values]


def test_domain_vectors_through_the_standardiser_with_and_without_column_checks() -> None:
    """Every identifier of ../shared/domain/test_vectors.json (valid, invalid, suspicious,
    written in other forms): the same outcome whether the column checks ran or not."""
    from tests.test_identifier_vectors import VECTORS

    values: list[str] = []
    for section in (
        "uscc",
        "org_code",
        "reg_no_15",
        "resident_id",
        "hmt_residence_permit",
        "foreign_permanent_resident_2023",
        "tax_id",
    ):
        for part in VECTORS[section].values():
            values += [c["value"] for c in part if isinstance(c, dict) and "value" in c]
    for section in ("uscc_normalise", "resident_id_normalise", "id15_to_id18", "id15_invalid"):
        values += [c.get("input") or c.get("value") or c.get("id15") for c in VECTORS[section]]
    values = [v for v in values if isinstance(v, str) and v]
    assert len(values) > 60
    taken = 0
    for fld in (*ENTERPRISE_ID_FIELDS, *PERSON_ID_FIELDS, *RELATED_USCC_FIELDS):
        general = Standardiser("enterprise", {"列": fld}, AS_OF, features=False)
        fast = Standardiser("enterprise", {"列": fld}, AS_OF, features=False)
        fast.prevalidate(fld, values)
        taken += len(fast._known_ids.get(fld) or fast._known_values.get(fld) or ())
        for v in values:
            assert _outcome(fast, fld, v) == _outcome(general, fld, v), (fld, v)
    assert taken > 30
