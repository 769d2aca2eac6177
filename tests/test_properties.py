"""Property tests: idempotent normalisation, identifiers surviving formatting noise, and what
the check characters provably catch.

Provable detection (DOMAIN.md 1.1, 1.5): the USCC mod-31 check catches every single-character
substitution within its alphabet and every adjacent transposition of different characters
(31 is prime and all weights 3^i mod 31 are distinct and non-zero); the resident-ID MOD 11-2
check catches every single-digit substitution and every adjacent transposition of different
digits (2^i mod 11 weights, 11 prime, consecutive weights differ). The organisation code is
NOT proven against substitutions whose values differ by 11 or 22 and is not tested for them.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.standardize import identifiers as ids
from resolver.standardize.names import normalise_enterprise_name, normalise_person_name

ORG_BODY = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8)
REGION = st.sampled_from(["440605", "440300", "110105", "310108", "650102", "100000"])
AUTH_TYPE = st.sampled_from(
    [("9", "1"), ("9", "2"), ("9", "3"), ("5", "1"), ("1", "2"), ("N", "2"), ("Y", "1")]
)


@st.composite
def usccs(draw: st.DrawFn) -> str:
    auth, typ = draw(AUTH_TYPE)
    return ids.make_uscc(auth, typ, draw(REGION), draw(ORG_BODY))


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["440605", "110105", "650102", "310103", "440682"]))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)))
    seq = draw(st.integers(min_value=1, max_value=999))
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + ids.id_check_char(body)


FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def formatting_noise(value: str, how: int) -> str:
    if how == 0:
        return "".join(FULLWIDTH.get(c, c) for c in value)
    if how == 1:
        return " " + " ".join(value[i : i + 4] for i in range(0, len(value), 4)) + "\u3000"
    if how == 2:
        return value.lower()
    if how == 3:
        return "'" + value[:6] + "-" + value[6:]
    return "\t" + value + "\n"


@given(usccs(), st.integers(min_value=0, max_value=4))
def test_valid_uscc_survives_formatting_noise(uscc: str, how: int) -> None:
    res = ids.check_uscc(formatting_noise(uscc, how))
    assert res.valid and res.value == uscc


@given(resident_ids(), st.integers(min_value=0, max_value=4))
def test_valid_id_survives_formatting_noise(id18: str, how: int) -> None:
    res = ids.check_resident_id(formatting_noise(id18, how), dt.date(2026, 11, 1))
    assert res.valid and res.value == id18


@given(usccs(), st.integers(min_value=0, max_value=17), st.sampled_from(ids.USCC_ALPHABET))
def test_uscc_single_substitution_is_detected(uscc: str, pos: int, char: str) -> None:
    if uscc[pos] == char or (2 <= pos <= 7 and not char.isdigit()):
        return
    changed = uscc[:pos] + char + uscc[pos + 1 :]
    assert not ids.check_uscc(changed).valid


@given(usccs(), st.integers(min_value=0, max_value=16))
def test_uscc_adjacent_transposition_is_detected(uscc: str, pos: int) -> None:
    if uscc[pos] == uscc[pos + 1]:
        return
    swapped = uscc[:pos] + uscc[pos + 1] + uscc[pos] + uscc[pos + 2 :]
    assert not ids.check_uscc(swapped).valid


@given(resident_ids(), st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_id_single_substitution_is_detected(id18: str, pos: int, char: str) -> None:
    if id18[pos] == char or (pos < 17 and char == "X"):
        return
    changed = id18[:pos] + char + id18[pos + 1 :]
    assert not ids.check_resident_id(changed, dt.date(2026, 11, 1)).valid


@given(resident_ids(), st.integers(min_value=0, max_value=16))
def test_id_adjacent_transposition_is_detected(id18: str, pos: int) -> None:
    if id18[pos] == id18[pos + 1]:
        return
    swapped = id18[:pos] + id18[pos + 1] + id18[pos] + id18[pos + 2 :]
    assert not ids.check_resident_id(swapped, dt.date(2026, 11, 1)).valid


@given(
    st.text(alphabet=st.sampled_from("0123456789"), min_size=14, max_size=14),
    st.integers(0, 14),
    st.integers(0, 9),
)
def test_reg_no_single_substitution_is_detected(body: str, pos: int, digit: int) -> None:
    reg = body + ids.reg_no_check_digit(body)
    if reg[pos] == str(digit):
        return
    assert not ids.check_reg_no(reg[:pos] + str(digit) + reg[pos + 1 :]).valid


NAME_CHARS = st.sampled_from(
    list(
        "佛山市南海区永盛五金制品有限责任公司股份（）()【】 　.。,廣州區輝製分公司办事处ABCａｂｃ123１２３·•"
    )
)


@settings(max_examples=300, deadline=None)  # no wall-clock limits in tests (shared machine)
@given(st.text(NAME_CHARS, min_size=1, max_size=30))
def test_enterprise_name_normalisation_is_idempotent(text: str) -> None:
    once = normalise_enterprise_name(text).normalised
    assert normalise_enterprise_name(once).normalised == once


@settings(max_examples=300, deadline=None)  # no wall-clock limits in tests (shared machine)
@given(
    st.text(
        st.sampled_from(list("陳志強王李欧阳买提艾力·•‧. 　ＡＢＣabc")), min_size=1, max_size=12
    )
)
def test_person_name_normalisation_is_idempotent(text: str) -> None:
    once = normalise_person_name(text)
    assert normalise_person_name(once) == once


@given(st.text(max_size=25))
def test_identifier_normalisation_is_idempotent(text: str) -> None:
    once = ids.normalise_identifier(text)
    if once is not None:
        assert ids.normalise_identifier(once) == once
