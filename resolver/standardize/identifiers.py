"""Chinese legal-person and natural-person identifiers: normalisation, check digits, parsing.

Implements DOMAIN.md section 1: the Unified Social Credit Code (GB 32100-2015), the
organisation code (GB 11714-1997), the 15-digit business registration number (GS 15-2006,
ISO 7064 MOD 11,10), taxpayer identification numbers, resident identity numbers
(GB 11643-1999, 18- and 15-digit), HK/Macau/Taiwan residence permits and the 2023 foreign
permanent-residence card. Every function is pure; failures are reported, never raised.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from operator import mul

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"
_USCC_CHARS = frozenset(USCC_ALPHABET)
_ORG_VALUE = {c: int(c) if c.isdigit() else ord(c) - 55 for c in map(chr, range(128))}
_DIGIT = {str(d): d for d in range(10)}
#: ISO 7064 MOD 11,10: the state after a digit, by (state, digit).
_MOD11_10 = {(p, d): (2 * (((p + d) % 10) or 10)) % 11 for p in range(11) for d in range(10)}

#: Order in which failure reasons are reported; the first one present is the primary reason.
REASON_PRECEDENCE = (
    "bad_length",
    "bad_charset",
    "bad_format",
    "bad_birth_date",
    "bad_region",
    "bad_sequence",
    "bad_check",
    "bad_org_check",
    "bad_id_check",
)

#: GB 32100 registration authorities and their organisation-type codes.
USCC_AUTHORITY_TYPES: dict[str, frozenset[str]] = {
    "1": frozenset("1239"),
    "2": frozenset("19"),
    "3": frozenset("123459"),
    "4": frozenset("19"),
    "5": frozenset("1239"),
    "6": frozenset("129"),
    "7": frozenset("129"),
    "8": frozenset("19"),
    "9": frozenset("123"),
    "A": frozenset("19"),
    "N": frozenset("1239"),
    "Y": frozenset("1"),
}

#: GB/T 2260 province codes (plus 71 Taiwan, 81 HK, 82 Macau).
PROVINCE_CODES = frozenset(
    [str(c) for c in range(11, 16)]
    + [str(c) for c in range(21, 24)]
    + [str(c) for c in range(31, 38)]
    + [str(c) for c in range(41, 47)]
    + [str(c) for c in range(50, 55)]
    + [str(c) for c in range(61, 66)]
    + ["71", "81", "82"]
)
#: Region prefixes of the HK/Macau/Taiwan residence permits.
HMT_PERMIT_PREFIXES = frozenset({"810000", "820000", "830000"})
#: Lowest plausible birth year of a living or recorded identity holder (configurable by callers).
MIN_BIRTH_YEAR = 1860

_EXCEL_FLOAT = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
_STRIP = re.compile(r"[\s\-_.]+")


@dataclass(frozen=True, slots=True)
class IdCheck:
    """The outcome of validating one identifier value."""

    kind: str
    value: str
    failures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    details: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """True when no check failed (flags such as ``unknown_region`` do not invalidate)."""
        return not self.failures

    @property
    def reason(self) -> str | None:
        """The primary failure reason, by :data:`REASON_PRECEDENCE`."""
        return self.failures[0] if self.failures else None


def _digits(text: str) -> list[int]:
    """The values of a string of decimal digits (ASCII by table, any other script by int)."""
    try:
        return list(map(_DIGIT.__getitem__, text))
    except KeyError:
        return [int(c) for c in text]


def _ordered(failures: set[str]) -> tuple[str, ...]:
    if not failures:
        return ()
    return tuple(r for r in REASON_PRECEDENCE if r in failures)


@lru_cache(maxsize=131_072)
def normalise_identifier(raw: str | None) -> str | None:
    """NFKC, drop whitespace, ``-``, ``_``, ``.`` and a leading Excel ``'``, uppercase.

    Returns None for blanks and for Excel-mangled floats (``1.10105E+17``), which have lost
    digits and must not be repaired.
    """
    if raw is None:
        return None
    if raw.isascii() and raw.isalnum():  # the common case: nothing to normalise but the case
        if ("e" in raw or "E" in raw) and _EXCEL_FLOAT.match(raw):
            return None
        return raw.upper()
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if text.startswith("'"):
        text = text[1:]
    if _EXCEL_FLOAT.match(text.strip()):
        return None
    # Upper-casing can produce non-normalised sequences (a + combining mark): normalise again.
    text = unicodedata.normalize("NFKC", _STRIP.sub("", text).upper())
    text = _STRIP.sub("", text)
    return text or None


def is_excel_float(raw: str | None) -> bool:
    """True when a raw cell value looks like an identifier mangled into a float by Excel."""
    if raw is None or ("e" not in raw and "E" not in raw and "ｅ" not in raw and "Ｅ" not in raw):
        return False
    text = unicodedata.normalize("NFKC", str(raw)).strip().lstrip("'")
    return bool(_EXCEL_FLOAT.match(text))


# --- USCC -------------------------------------------------------------------------------


def uscc_check_char(body17: str) -> str:
    """The GB 32100 mod-31 check character for the first 17 characters."""
    if len(body17) != 17:
        raise ValueError("a USCC body has 17 characters")
    total = sum(map(mul, map(_USCC_VALUE.__getitem__, body17), _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


@lru_cache(maxsize=131_072)
def check_uscc(raw: str | None) -> IdCheck:
    """Validate a Unified Social Credit Code (both check characters, layout, codes)."""
    value = normalise_identifier(raw) or ""
    if len(value) != 18:
        return IdCheck("uscc", value, ("bad_length",))
    if not _USCC_CHARS.issuperset(value):
        return IdCheck("uscc", value, ("bad_charset",))
    if not value[2:8].isdigit():
        return IdCheck("uscc", value, ("bad_format",))
    failures: set[str] = set()
    if uscc_check_char(value[:17]) != value[17]:
        failures.add("bad_check")
    if org_code_check_char(value[8:16]) != value[16]:
        failures.add("bad_org_check")
    flags: list[str] = []
    types = USCC_AUTHORITY_TYPES.get(value[0])
    if types is None:
        flags.append("unknown_authority")
    elif value[1] not in types:
        flags.append("unknown_type")
    if not region_code_plausible(value[2:8]):
        flags.append("unknown_region")
    return IdCheck(
        "uscc",
        value,
        _ordered(failures),
        tuple(flags),
        {"region": value[2:8], "org_code": value[8:17], "authority": value[0], "type": value[1]},
    )


def make_uscc(authority: str, org_type: str, region: str, org_body8: str) -> str:
    """Build a valid USCC from its parts (computes both check characters)."""
    org = org_body8 + org_code_check_char(org_body8)
    body = authority + org_type + region + org
    return body + uscc_check_char(body)


def uscc_org_code(uscc: str) -> str:
    """The embedded organisation code (chars 9-17, without hyphen)."""
    return uscc[8:17]


def uscc_region(uscc: str) -> str:
    """The registrar's division code (chars 3-8)."""
    return uscc[2:8]


def legacy_tax_id_from_uscc(uscc: str) -> str:
    """The legacy 15-character tax number a USCC usually replaced (region + org code)."""
    return uscc[2:17]


def org_code_display(compact: str) -> str:
    """``XXXXXXXXC`` → ``XXXXXXXX-C``."""
    return f"{compact[:8]}-{compact[8:]}"


def cross_check_org_code(uscc: str, org_code: str) -> bool:
    """True when a separately given organisation code equals the one embedded in the USCC."""
    return uscc_org_code(normalise_identifier(uscc) or "") == (normalise_identifier(org_code) or "")


# --- Organisation code ------------------------------------------------------------------


def _org_value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - 55


def org_code_check_char(body8: str) -> str:
    """The GB 11714 check character (``0``-``9`` or ``X``) for 8 body characters."""
    if len(body8) != 8:
        raise ValueError("an organisation code body has 8 characters")
    try:
        values = list(map(_ORG_VALUE.__getitem__, body8))
    except KeyError:  # a non-ASCII character
        values = [_org_value(c) for c in body8]
    total = sum(map(mul, values, _ORG_WEIGHTS))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


@lru_cache(maxsize=131_072)
def check_org_code(raw: str | None) -> IdCheck:
    """Validate an organisation code, with or without its hyphen."""
    value = normalise_identifier(raw) or ""
    if len(value) != 9:
        return IdCheck("org_code", value, ("bad_length",))
    if not all(c.isascii() and (c.isdigit() or c.isupper()) for c in value):
        return IdCheck("org_code", value, ("bad_charset",))
    if org_code_check_char(value[:8]) != value[8]:
        return IdCheck("org_code", value, ("bad_check",))
    return IdCheck("org_code", value)


# --- 15-digit business registration number ------------------------------------------------


def _mod11_10_state(digits: str) -> int:
    p = 10
    for d in _digits(digits):
        p = _MOD11_10[p, d]
    return p


def reg_no_check_digit(body14: str) -> str:
    """ISO 7064 MOD 11,10 check digit for a 14-digit registration-number body."""
    return str((11 - _mod11_10_state(body14)) % 10)


@lru_cache(maxsize=131_072)
def check_reg_no(raw: str | None) -> IdCheck:
    """Validate a 15-digit business registration number 工商注册号."""
    value = normalise_identifier(raw) or ""
    if len(value) != 15:
        return IdCheck("reg_no", value, ("bad_length",))
    if not value.isdigit():
        return IdCheck("reg_no", value, ("bad_charset",), ("nonstandard",))
    if (_mod11_10_state(value[:14]) + int(value[14])) % 10 != 1:
        return IdCheck("reg_no", value, ("bad_check",))
    flags = () if region_code_plausible(value[:6]) else ("unknown_region",)
    return IdCheck("reg_no", value, (), flags, {"region": value[:6]})


# --- Resident identity numbers and related documents -----------------------------------------


def id_check_char(body17: str) -> str:
    """GB 11643 / ISO 7064 MOD 11-2 check character for 17 digits."""
    if len(body17) != 17:
        raise ValueError("an identity number body has 17 digits")
    return _ID_CHECK[sum(map(mul, _digits(body17), _ID_WEIGHTS)) % 11]


def _parse_birth(yyyymmdd: str, as_of: dt.date | None) -> dt.date | None:
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None
    if born.year < MIN_BIRTH_YEAR or born > (as_of or dt.date.today()):
        return None
    return born


@lru_cache(maxsize=131_072)
def check_resident_id(raw: str | None, as_of: dt.date | None = None) -> IdCheck:
    """Validate an 18-character identity number: citizen, HK/Macau/Taiwan permit or 2023
    foreign permanent-residence card (all share the MOD 11-2 check)."""
    value = normalise_identifier(raw) or ""
    if len(value) != 18:
        return IdCheck("resident_id", value, ("bad_length",))
    if not (value[:17].isdigit() and (value[17].isdigit() or value[17] == "X")):
        return IdCheck("resident_id", value, ("bad_charset",))
    failures: set[str] = set()
    if value[0] == "9":
        kind, province, region = "foreign_permanent_resident", value[1:3], value[1:3]
        if province not in PROVINCE_CODES:
            failures.add("bad_region")
    else:
        region = value[:6]
        province = region[:2]
        kind = "hmt_permit" if province in {"81", "82", "83"} else "resident_id"
        if kind == "hmt_permit":
            if region not in HMT_PERMIT_PREFIXES:
                failures.add("bad_region")
        elif province not in PROVINCE_CODES:
            failures.add("bad_region")
    born = _parse_birth(value[6:14], as_of)
    if born is None:
        failures.add("bad_birth_date")
    if value[14:17] == "000":
        failures.add("bad_sequence")
    if id_check_char(value[:17]) != value[17]:
        failures.add("bad_check")
    details = {"region": region, "gender": "M" if int(value[16]) % 2 else "F"}
    if born is not None:
        details["birth_date"] = born.isoformat()
    if kind == "foreign_permanent_resident":
        details["nationality_numeric"] = value[3:6]
    flags: tuple[str, ...] = ()
    if kind == "resident_id" and "bad_region" not in failures and not region_code_plausible(region):
        flags = ("unknown_region",)
    ordered = _ordered(failures)
    if "bad_check" in failures:
        # A failed check means the digits are corrupt: the date, region and sequence read
        # from them are symptoms, so the check failure is the primary reason.
        ordered = ("bad_check", *(r for r in ordered if r != "bad_check"))
    return IdCheck(kind, value, ordered, flags, details)


@lru_cache(maxsize=131_072)
def check_id15(raw: str | None) -> IdCheck:
    """Validate a pre-1999 15-digit identity number (no check digit)."""
    value = normalise_identifier(raw) or ""
    if len(value) != 15:
        return IdCheck("id15", value, ("bad_length",))
    if not value.isdigit():
        return IdCheck("id15", value, ("bad_charset",))
    failures: set[str] = set()
    if value[:2] not in PROVINCE_CODES:
        failures.add("bad_region")
    born = _parse_birth("19" + value[6:12], None)
    if born is None:
        failures.add("bad_birth_date")
    details = {"region": value[:6], "gender": "M" if int(value[14]) % 2 else "F"}
    if born is not None:
        details["birth_date"] = born.isoformat()
    return IdCheck("id15", value, _ordered(failures), (), details)


def upgrade_id15(id15: str) -> str:
    """15-digit → 18-digit identity number: insert ``19`` before the year, append the check.

    A 15-digit number cannot encode a pre-1900 birth; callers should confirm the century
    from another source when it matters.
    """
    body = id15[:6] + "19" + id15[6:15]
    return body + id_check_char(body)


def check_foreign_old15(raw: str | None) -> IdCheck:
    """Format check of a 2004/2017 permanent-residence card number (3 letters + 12 digits)."""
    value = normalise_identifier(raw) or ""
    if len(value) != 15:
        return IdCheck("foreign_old15", value, ("bad_length",))
    if not (value[:3].isalpha() and value[:3].isascii() and value[3:].isdigit()):
        return IdCheck("foreign_old15", value, ("bad_format",))
    return IdCheck("foreign_old15", value, (), ("format_only",))


# --- Taxpayer identification numbers -----------------------------------------------------------


@lru_cache(maxsize=131_072)
def check_tax_id(raw: str | None, as_of: dt.date | None = None) -> IdCheck:
    """Validate a taxpayer identification number by its form (DOMAIN.md 1.4).

    ``details['form']`` names the form found: ``uscc``, ``temporary_l``, ``legacy_15_org``,
    ``individual_20`` or ``individual_17``.
    """
    value = normalise_identifier(raw) or ""
    n = len(value)
    if n == 19 and value[0] == "L":
        inner = check_uscc(value[1:])
        if inner.valid:
            return IdCheck(
                "tax_id", value, (), inner.flags, {"form": "temporary_l", "uscc": inner.value}
            )
        person = check_resident_id(value[1:], as_of)
        if person.valid:
            return IdCheck(
                "tax_id", value, (), (), {"form": "temporary_l", "id_number": person.value}
            )
        return IdCheck("tax_id", value, inner.failures, (), {"form": "temporary_l"})
    if n == 18:
        inner = check_uscc(value)
        return IdCheck("tax_id", value, inner.failures, inner.flags, {"form": "uscc"})
    if n == 15:
        if not value[:6].isdigit():
            return IdCheck("tax_id", value, ("bad_format",), (), {"form": "legacy_15_org"})
        org = check_org_code(value[6:])
        failures = ("bad_org_check",) if org.failures == ("bad_check",) else org.failures
        return IdCheck(
            "tax_id", value, failures, (), {"form": "legacy_15_org", "org_code": value[6:]}
        )
    if n == 20:
        person = check_resident_id(value[:18], as_of)
        if not value[18:].isdigit():
            return IdCheck("tax_id", value, ("bad_format",), (), {"form": "individual_20"})
        failures = tuple("bad_id_check" if f == "bad_check" else f for f in person.failures)
        return IdCheck(
            "tax_id", value, failures, (), {"form": "individual_20", "id_number": value[:18]}
        )
    if n == 17:
        person = check_id15(value[:15])
        if not value[15:].isdigit():
            return IdCheck("tax_id", value, ("bad_format",), (), {"form": "individual_17"})
        return IdCheck(
            "tax_id", value, person.failures, (), {"form": "individual_17", "id15": value[:15]}
        )
    return IdCheck("tax_id", value, ("bad_length",))


# --- Region codes -------------------------------------------------------------------------------


def region_code_plausible(code: str) -> bool:
    """Shape check of a 6-digit division code: known province, or the national registrar.

    Codes change over time, so an unknown county part is never a failure; see
    :mod:`resolver.standardize.divisions` for the full table.
    """
    if len(code) != 6 or not code.isdigit():
        return False
    return code == "100000" or code[:2] in PROVINCE_CODES or code in HMT_PERMIT_PREFIXES


# --- Shape classification --------------------------------------------------------------------------


@lru_cache(maxsize=131_072)
def classify_identifier(raw: str | None, as_of: dt.date | None = None) -> IdCheck | None:
    """Find which identifier a value is by its shape, preferring a form whose checks pass.

    Returns the check of the best-fitting form, or None for a blank value.
    """
    value = normalise_identifier(raw)
    if value is None:
        return None
    candidates: list[IdCheck] = []
    n = len(value)
    if n == 18:
        candidates = [check_uscc(value), check_resident_id(value, as_of)]
        if value[:17].isdigit() and not candidates[0].valid:
            candidates.reverse()
    elif n == 15:
        candidates = [
            check_reg_no(value),
            check_id15(value),
            check_tax_id(value, as_of),
            check_foreign_old15(value),
        ]
    elif n == 9:
        candidates = [check_org_code(value)]
    elif n in (17, 19, 20):
        candidates = [check_tax_id(value, as_of)]
    else:
        return IdCheck("unknown", value, ("bad_length",))
    valid = [c for c in candidates if c.valid]
    if valid:
        # Both forms can pass their checks (about one resident ID in 31 also passes the USCC
        # check): the form that needs no warning flag (unknown_type, unknown_region) fits best.
        return min(valid, key=lambda c: len(c.flags))
    return candidates[0]
