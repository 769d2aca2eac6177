"""Identifier checks over a whole column of values at once (numpy), for ingest's fast path.

Most identifier values in a department file occur once, so a memo per value does not pay;
the check characters of a column's values can be computed together instead. Each function
here returns the values of a column that are *certainly* valid in their common form, with
nothing to flag or note: every check of :mod:`resolver.standardize.identifiers` passes and
no warning flag (``unknown_region``, ``unknown_type`` …) is raised. A value not returned is
not thereby invalid — the per-value functions decide it as before — so these sets only ever
skip work, never change an outcome (tests/test_id_columns.py compares them with the
per-value checks).

The functions take values already normalised (:func:`quick_normal`: ASCII values, cased and
stripped as :func:`identifiers.normalise_identifier` does); a value of any other form is
left to the general path.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Sequence
from itertools import compress

import numpy as np
from numpy.typing import NDArray

from resolver.standardize import identifiers as ids

U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]
Mask = NDArray[np.bool_]

_NOT = -1


def _table(pairs: dict[str, int]) -> I64:
    t = np.full(256, _NOT, dtype=np.int64)
    for c, v in pairs.items():
        t[ord(c)] = v
    return t


_DIGIT_VALUE = _table({str(d): d for d in range(10)})
_USCC_VALUE = _table({c: i for i, c in enumerate(ids.USCC_ALPHABET)})
#: GB 11714 character values: digits and upper-case ASCII letters (check_org_code's charset).
_ORG_VALUE = _table(
    {**{str(d): d for d in range(10)}, **{chr(c): c - 55 for c in range(ord("A"), ord("Z") + 1)}}
)
_USCC_W = np.array(ids._USCC_WEIGHTS, dtype=np.int64)
_ORG_W = np.array(ids._ORG_WEIGHTS, dtype=np.int64)
_ID_W = np.array(ids._ID_WEIGHTS, dtype=np.int64)
#: The check character of a MOD 11-2 remainder, and of a GB 11714 remainder, as bytes.
_ID_CHECK = np.frombuffer(ids._ID_CHECK.encode("ascii"), dtype=np.uint8)
_ORG_CHECK = np.frombuffer(b"0X987654321", dtype=np.uint8)  # index: total % 11
#: Province codes (first two digits) a division code may start with.
_PROVINCE = np.zeros(100, dtype=bool)
_PROVINCE[[int(p) for p in ids.PROVINCE_CODES]] = True
#: Provinces of the Mainland resident identity number (81, 82: the HK/Macau permits).
_RESIDENT_PROVINCE = _PROVINCE.copy()
_RESIDENT_PROVINCE[[81, 82, 83]] = False
#: (authority, type) pairs of GB 32100 that raise no flag.
_AUTHORITY_TYPE = np.zeros((256, 256), dtype=bool)
for _auth, _types in ids.USCC_AUTHORITY_TYPES.items():
    for _t in _types:
        _AUTHORITY_TYPE[ord(_auth), ord(_t)] = True
_EXTRA_REGIONS = np.array([100000, *map(int, ids.HMT_PERMIT_PREFIXES)], dtype=np.int64)
_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_E = ord("E")
#: A 15-digit number's birth date is in the 1900s: always before any batch's date.
_LATEST = dt.date(1999, 12, 31)


_STRIP = re.compile(r"[\s\-_.]+")
_ODD = re.compile(r"[^0-9A-Za-z\n]")


def quick_normal(values: Sequence[str]) -> list[str]:
    """Each value as :func:`identifiers.normalise_identifier` gives it, where that is plain to
    see (ASCII after NFKC: a leading ``'``, whitespace, ``-``, ``_`` and ``.`` dropped, upper
    case); ``""`` for the rest. An Excel float (``1.10105E17``) keeps its ``E`` between digits,
    which no check below accepts."""
    if not values:
        return []
    joined = "\n".join(values)
    if joined.count("\n") != len(values) - 1:  # a value holds a line break
        return [_normal_one(v) for v in values]
    out = joined.upper().split("\n")
    # Only the values holding another character than an ASCII letter or digit need more:
    # found in the joined text, each by counting the line breaks before it.
    line = pos = 0
    while (m := _ODD.search(joined, pos)) is not None:
        line += joined.count("\n", pos, m.start())
        out[line] = _normal_one(values[line])
        pos = joined.find("\n", m.start()) + 1  # on with the next value
        if pos == 0:
            break
        line += 1
    return out


def _normal_one(v: str) -> str:
    """:func:`quick_normal` of one value."""
    if v.isascii():
        compact = v.replace("-", "")  # 12345678-9
        if compact.isalnum():
            return compact.upper()
    else:
        v = unicodedata.normalize("NFKC", v)  # full-width digits and letters
        if not v.isascii():
            return ""
    v = v.strip()
    v = _STRIP.sub("", v[1:] if v.startswith("'") else v)
    return v.upper() if v.isalnum() else ""


class Column:
    """A chunk's normalised values of one field as a (n, 20) array of character codes (a
    character beyond Latin-1 as 255, which no check accepts), with their lengths."""

    WIDTH = 20

    def __init__(self, norms: Sequence[str]) -> None:
        n = len(norms)
        self.values = list(norms)
        self.length = np.fromiter(map(len, norms), dtype=np.int64, count=n)
        # Longer values are cut here; their length keeps them out of every check.
        wide = np.array(self.values, dtype=f"U{self.WIDTH}").view(np.uint32)
        self.codes: U8 = np.minimum(wide.reshape(n, self.WIDTH), 255).astype(np.uint8)

    def _rows(self, width: int, check: Callable[[U8], Mask]) -> Mask:
        """``check`` over the values of ``width`` characters; False for the others."""
        sel = self.length == width
        out = np.zeros(len(self.values), dtype=bool)
        if sel.any():
            out[sel] = check(self.codes[sel, :width])
        return out

    def usccs(self) -> Mask:
        """USCCs that :func:`identifiers.check_uscc` finds valid without a flag."""
        return self._rows(18, _uscc_ok)

    def resident_ids(self, as_of: dt.date) -> Mask:
        """Identity numbers :func:`identifiers.check_resident_id` (as of ``as_of``) finds
        valid, of kind ``resident_id``, without a flag."""
        return self._rows(18, lambda a: _resident_ok(a, as_of))

    def reg_nos(self) -> Mask:
        """Registration numbers :func:`identifiers.check_reg_no` finds valid without a flag."""
        return self._rows(15, _reg_no_ok)

    def org_codes(self) -> Mask:
        """Compact (9-character) organisation codes :func:`identifiers.check_org_code` finds
        valid."""
        return self._rows(9, _org_code_ok)

    def legacy_tax_ids(self) -> Mask:
        """15-character legacy tax numbers (6-digit division + organisation code) that
        :func:`identifiers.check_tax_id` finds valid."""
        return self._rows(15, _legacy_tax_id_ok)

    def uscc_check_fails(self) -> Mask:
        """Values of 18 USCC characters whose USCC check character is wrong (``bad_check``):
        no USCC, so that :func:`identifiers.classify_identifier` reads a valid identity
        number among them as one."""
        return self._rows(18, _uscc_check_fails)

    def id15s(self) -> tuple[Mask, list[str]]:
        """Valid 15-digit identity numbers (:func:`identifiers.check_id15`), and their
        18-digit forms (:func:`identifiers.upgrade_id15`) in the order of the mask."""
        ok = self._rows(15, _id15_ok)
        picked = list(compress(self.values, ok.tolist()))
        if not picked:
            return ok, []
        d = _DIGIT_VALUE[self.codes[ok, :15]]
        body = np.concatenate([d[:, :6], np.tile([1, 9], (len(d), 1)), d[:, 6:15]], axis=1)
        checks = _ID_CHECK[(body * _ID_W).sum(axis=1) % 11].tobytes().decode("ascii")
        return ok, [f"{v[:6]}19{v[6:]}{c}" for v, c in zip(picked, checks, strict=True)]

    def picked(self, mask: Mask) -> set[str]:
        return set(compress(self.values, mask.tolist()))


def _not_excel_float(a: U8, digit: I64) -> Mask:
    """False for digits on both sides of one ``E`` (``110105E17``): Excel's float notation,
    which the general path flags rather than reads (a USCC may end in ``E``)."""
    nondigit = digit < 0
    out: Mask = ~((nondigit.sum(axis=1) == 1) & (a[:, 1:-1] == _E).any(axis=1))
    return out


def _region_plausible(d: I64) -> Mask:
    """:func:`identifiers.region_code_plausible` of six digit values per row (all >= 0)."""
    code = (d * np.array([100000, 10000, 1000, 100, 10, 1], dtype=np.int64)).sum(axis=1)
    out: Mask = _PROVINCE[code // 10000] | np.isin(code, _EXTRA_REGIONS)
    return out


def _org_check_ok(body: I64, check: U8) -> Mask:
    """GB 11714: the check character of 8 body values (-1 where a character is not allowed)."""
    total = (body * _ORG_W).sum(axis=1) % 11
    out: Mask = (body >= 0).all(axis=1) & (_ORG_CHECK[total] == check)
    return out


def _uscc_ok(a: U8) -> Mask:
    """Rows of ``a`` (n, 18) that are USCCs passing both check characters, with a known
    authority and type and a plausible registrar region."""
    v = _USCC_VALUE[a]
    digit = _DIGIT_VALUE[a]
    total = (v[:, :17] * _USCC_W).sum(axis=1) % 31
    ok = (v >= 0).all(axis=1) & (v[:, 17] == (31 - total) % 31)
    region = digit[:, 2:8]
    ok &= (region >= 0).all(axis=1) & _region_plausible(np.where(region < 0, 0, region))
    ok &= _AUTHORITY_TYPE[a[:, 0], a[:, 1]]
    ok &= _org_check_ok(_ORG_VALUE[a[:, 8:16]], a[:, 16])
    out: Mask = ok & _not_excel_float(a, digit)
    return out


def valid_usccs(values: Sequence[str]) -> set[str]:
    """The values that :func:`identifiers.check_uscc` finds valid without a flag."""
    col = Column(values)
    return col.picked(col.usccs())


def _resident_ok(a: U8, as_of: dt.date) -> Mask:
    """Rows of ``a`` (n, 18) that are Mainland resident identity numbers passing every check
    of :func:`identifiers.check_resident_id` (kind ``resident_id``, no flag)."""
    d = _DIGIT_VALUE[a]
    ok = (d[:, :17] >= 0).all(axis=1) & ((d[:, 17] >= 0) | (a[:, 17] == ord("X")))
    d = np.where(d < 0, 0, d)
    ok &= a[:, 0] != ord("9")
    ok &= _RESIDENT_PROVINCE[d[:, 0] * 10 + d[:, 1]]
    year = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    ok &= _date_ok(year, d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13], as_of)
    ok &= (d[:, 14] + d[:, 15] + d[:, 16]) > 0  # sequence 000 is not issued
    total = (d[:, :17] * _ID_W).sum(axis=1) % 11
    out: Mask = ok & (_ID_CHECK[total] == a[:, 17])
    return out


def _date_ok(year: I64, month: I64, day: I64, latest: dt.date) -> Mask:
    """Possible dates from MIN_BIRTH_YEAR to ``latest`` (identifiers._parse_birth)."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    good_month = (month >= 1) & (month <= 12)
    days = _DAYS[np.where(good_month, month, 0)] - ((month == 2) & ~leap)
    out: Mask = (
        good_month
        & (day >= 1)
        & (day <= days)
        & (year >= ids.MIN_BIRTH_YEAR)
        & (
            year * 10000 + month * 100 + day
            <= latest.year * 10000 + latest.month * 100 + latest.day
        )
    )
    return out


def _id15_ok(a: U8) -> Mask:
    """Rows of ``a`` (n, 15): pre-1999 identity numbers :func:`identifiers.check_id15` finds
    valid (digits, province, a possible 19xx birth date)."""
    d = _DIGIT_VALUE[a]
    ok = (d >= 0).all(axis=1)
    d = np.where(d < 0, 0, d)
    ok &= _PROVINCE[d[:, 0] * 10 + d[:, 1]]
    year = 1900 + d[:, 6] * 10 + d[:, 7]
    out: Mask = ok & _date_ok(year, d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], _LATEST)
    return out


def valid_resident_ids(values: Sequence[str], as_of: dt.date) -> set[str]:
    """The values that :func:`identifiers.check_resident_id` (as of ``as_of``) finds valid, of
    kind ``resident_id``, without a flag."""
    col = Column(values)
    return col.picked(col.resident_ids(as_of))


def _reg_no_ok(a: U8) -> Mask:
    """Rows of ``a`` (n, 15): 15-digit registration numbers passing ISO 7064 MOD 11,10 with a
    plausible region."""
    d = _DIGIT_VALUE[a]
    ok = (d >= 0).all(axis=1)
    d = np.where(d < 0, 0, d)
    p = np.full(len(a), 10, dtype=np.int64)
    for j in range(14):
        s = (p + d[:, j]) % 10
        p = (2 * np.where(s == 0, 10, s)) % 11
    ok &= (p + d[:, 14]) % 10 == 1
    out: Mask = ok & _region_plausible(d[:, :6])
    return out


def id15_upgrades(values: Sequence[str]) -> dict[str, str]:
    """Valid 15-digit identity numbers (:func:`identifiers.check_id15`) and their 18-digit
    form (:func:`identifiers.upgrade_id15`)."""
    col = Column(values)
    ok, upgraded = col.id15s()
    return dict(zip(compress(col.values, ok.tolist()), upgraded, strict=True))


def valid_reg_nos(values: Sequence[str]) -> set[str]:
    """The values that :func:`identifiers.check_reg_no` finds valid without a flag."""
    col = Column(values)
    return col.picked(col.reg_nos())


def _org_code_ok(a: U8) -> Mask:
    ok = _org_check_ok(_ORG_VALUE[a[:, :8]], a[:, 8])
    out: Mask = ok & _not_excel_float(a, _DIGIT_VALUE[a])
    return out


def valid_org_codes(values: Sequence[str]) -> set[str]:
    """The compact (9-character) values :func:`identifiers.check_org_code` finds valid."""
    col = Column(values)
    return col.picked(col.org_codes())


def _legacy_tax_id_ok(a: U8) -> Mask:
    digit = _DIGIT_VALUE[a]
    ok = (digit[:, :6] >= 0).all(axis=1) & _org_check_ok(_ORG_VALUE[a[:, 6:14]], a[:, 14])
    out: Mask = ok & _not_excel_float(a, digit)
    return out


def valid_legacy_tax_ids(values: Sequence[str]) -> set[str]:
    """15-character legacy tax numbers (6-digit division + organisation code) that
    :func:`identifiers.check_tax_id` finds valid."""
    col = Column(values)
    return col.picked(col.legacy_tax_ids())


def _uscc_check_fails(a: U8) -> Mask:
    v = _USCC_VALUE[a]
    total = (v[:, :17] * _USCC_W).sum(axis=1) % 31
    out: Mask = (v >= 0).all(axis=1) & (v[:, 17] != (31 - total) % 31)
    return out


def uscc_check_fails(values: Sequence[str]) -> set[str]:
    """Values of 18 USCC characters whose USCC check character is wrong (``bad_check``)."""
    col = Column(values)
    return col.picked(col.uscc_check_fails())
