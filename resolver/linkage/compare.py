"""Entity records for linkage and their pairwise comparison into discrete levels.

Names are compared with rapidfuzz over whole arrays of pairs (``process.cpdist``), not in a
Python loop per pair; the other comparisons are equality tests on standardised values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process

from resolver.ingest.rows import Record
from resolver.linkage.fellegi_sunter import NULL, Levels
from resolver.standardize.addresses import parse_address
from resolver.standardize.divisions import load_divisions


@dataclass(slots=True)
class EntityRecord:
    """The linkage view of one enterprise or person record."""

    idx: int
    kind: str
    record: Record
    keys: tuple[
        tuple[str, str], ...
    ]  # valid strong identifiers: (U)SCC, (O)rg code, (R)eg no, (I)D
    uscc: str | None
    id18: str | None
    name: str | None
    body: str | None
    stem: str | None  # the name without region and legal form: 字号 + industry (+ branch part)
    lead: str | None  # the first two characters of the stem: the 字号 as a short name keeps it
    core: str | None
    former: str | None
    core_pinyin: str | None
    region: str | None  # division code named by the name's region part
    form: str | None
    is_branch: bool
    branch_part: str | None
    pinyin: str | None
    district: str | None
    address: str | None
    unanchored: str | None  # the raw address when its district was guessed among namesakes
    phone: str | None
    rep: str | None
    established: str | None
    birth: str | None
    gender: str | None
    employer: str | None


def entity_record(idx: int, rec: Record) -> EntityRecord:
    """Build the linkage view of an accepted enterprise or person record."""
    s = rec.std
    get = s.get  # a million records: each field looked up once
    kind = rec.kind
    enterprise = kind == "enterprise"
    keys: list[tuple[str, str]] = []
    uscc = get("uscc")
    if enterprise:
        if uscc:
            keys.append(("U", uscc))
        if org := get("org_code"):
            keys.append(("O", org))
        if reg := get("reg_no"):
            keys.append(("R", reg))
        id18 = None
    elif id18 := get("id18"):
        keys.append(("I", id18))
    addr = get("address_norm")
    district = get("district_code")
    stem = _stem(s) if enterprise else None
    return EntityRecord(
        idx,
        kind,
        rec,
        tuple(keys),
        uscc,
        id18,
        get("name_norm"),
        get("name_body"),
        stem,
        stem[:2] if stem and len(stem) >= 3 else None,
        get("name_core"),
        get("former_name_norm"),
        get("name_core_pinyin"),
        get("name_region_code"),
        get("form"),
        bool(get("is_branch")),
        get("branch_part"),
        get("name_pinyin"),
        district,
        addr if addr and addr.split("|")[2] else None,
        _unanchored(rec.raw.get("address"), district),
        get("phone") if get("phone_type") != "service" else None,
        get("legal_rep_name_norm"),
        get("established"),
        get("birth_date"),
        get("gender"),
        get("employer_uscc") or get("employer_name_norm"),
    )


@cache
def _namesake_districts() -> frozenset[str]:
    """District codes whose name another district shares (新城区 in 西安 and 呼和浩特)."""
    holders: dict[str, set[str]] = defaultdict(set)
    for d in load_divisions().districts.values():
        holders[d.name].add(d.code)
    return frozenset(c for codes in holders.values() if len(codes) > 1 for c in codes)


def _unanchored(raw: str | None, district: str | None) -> str | None:
    """The raw address when no province or city anchored its district (parse_address picked
    one of several namesake districts), else None."""
    if not raw or not district or district not in _namesake_districts():
        return None
    return raw if parse_address(raw).ambiguous else None


def _anchored(x: EntityRecord, y: EntityRecord) -> tuple[str, str] | None:
    """The two addresses to compare when one side's district is a guess among namesakes and
    the other side names a district of the same name: the guessing side re-read in the other
    side's city. None when neither applies."""
    div = load_divisions().districts
    dx, dy = div.get(x.district or ""), div.get(y.district or "")
    if dx is None or dy is None or dx.name != dy.name:
        return None
    if x.unanchored and y.district:
        return parse_address(x.unanchored, y.district[:4]).canonical, str(y.address)
    if y.unanchored and x.district:
        return str(x.address), parse_address(y.unanchored, x.district[:4]).canonical
    return None


def _stem(s: dict[str, Any]) -> str | None:
    """字号 + industry word (+ branch part): the name body without its legal form. A utility's
    short account name (华瑞机械) is a leading part or an abbreviation of it."""
    body: str | None = s.get("name_body")
    form: str | None = s.get("form")
    if body and form and not s.get("is_branch") and body.endswith(form) and len(body) > len(form):
        return body[: -len(form)]
    return body


def short_name_of(short: str, full: str) -> bool:
    """Whether ``short`` is a short name of ``full`` (both stems): the same 字号 (first two
    characters) and the rest an abbreviation of the rest — a prefix (华瑞机械 of 华瑞机械设备)
    or its characters in order (汽配 of 汽车配件, 传媒 of 文化传媒)."""
    if len(short) < 3 or len(short) >= len(full) or short[:2] != full[:2]:
        return False
    rest = iter(full[2:])
    return all(c in rest for c in short[2:])


ENTERPRISE_FEATURES = [
    "name",
    "name_region",
    "address",
    "phone",
    "legal_rep",
    "established",
    "form",
]
ENTERPRISE_LEVELS = [
    [
        "different",
        "same 字号",
        "short name (字号 + industry abbreviated)",
        "similar (≥ 90)",
        "same without region",
        "exact or former name",
    ],
    ["different places", "compatible places"],
    ["different district", "same district", "same street", "exact"],
    ["different", "same"],
    ["different", "same"],
    ["different", "same year", "same day"],
    ["different", "same"],
]
PERSON_FEATURES = ["name", "birth_date", "gender", "phone", "address", "employer"]
PERSON_LEVELS = [
    ["different", "similar (≥ 80)", "same pinyin", "exact"],
    ["different", "same month", "same day"],
    ["different", "same"],
    ["different", "same"],
    ["different district", "same district", "same street", "exact"],
    ["different", "same"],
]

#: Per kind: the feature names and level names of its comparison.
COMPARISONS: dict[str, tuple[list[str], list[list[str]]]] = {
    "enterprise": (ENTERPRISE_FEATURES, ENTERPRISE_LEVELS),
    "person": (PERSON_FEATURES, PERSON_LEVELS),
}


def _eq(a: list[str | None], b: list[str | None]) -> Levels:
    out = np.full(len(a), NULL, dtype=np.int8)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if x and y:
            out[k] = 1 if x == y else 0
    return out


def _address(a: list[EntityRecord], b: list[EntityRecord]) -> Levels:
    out = np.full(len(a), NULL, dtype=np.int8)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.address and y.address:
            ax, ay, same_district = (
                x.address,
                y.address,
                bool(x.district) and x.district == y.district,
            )
            if not same_district and (x.unanchored or y.unanchored):
                anchored = _anchored(x, y)
                if anchored:
                    ax, ay = anchored
                    same_district = ax.split("|")[0] == ay.split("|")[0]
            if ax == ay:
                out[k] = 3
            elif same_district:
                out[k] = 2 if ax.split("|")[1] and ax.split("|")[1] == ay.split("|")[1] else 1
            else:
                out[k] = 0
    return out


def _date(a: list[str | None], b: list[str | None]) -> Levels:
    out = np.full(len(a), NULL, dtype=np.int8)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if x and y:
            out[k] = (
                2
                if x == y
                else 1
                if x[:7] == y[:7] or ((len(x) < 10 or len(y) < 10) and x[:4] == y[:4])
                else 0
            )
    return out


def _ratio(a: list[str], b: list[str]) -> NDArray[np.float64]:
    if not a:
        return np.zeros(0)
    return np.asarray(process.cpdist(a, b, scorer=fuzz.ratio, workers=1), dtype=np.float64)


def compare_enterprises(a: list[EntityRecord], b: list[EntityRecord]) -> Levels:
    """Comparison levels (rows = pairs, columns = ENTERPRISE_FEATURES)."""
    n = len(a)
    levels = np.full((n, len(ENTERPRISE_FEATURES)), NULL, dtype=np.int8)
    sim = _ratio([x.body or "" for x in a], [y.body or "" for y in b])
    name = levels[:, 0]
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if not (x.name and y.name):
            continue
        if x.name == y.name or x.name == y.former or y.name == x.former:
            name[k] = 5
        elif x.body == y.body or (x.stem and x.stem == y.stem):
            name[k] = 4
        elif sim[k] >= 90:
            name[k] = 3
        elif x.lead and x.lead == y.lead:  # a short name keeps the 字号 (lead): else level 1
            name[k] = (
                2
                if x.stem
                and y.stem
                and (short_name_of(x.stem, y.stem) or short_name_of(y.stem, x.stem))
                else 1
            )
        elif x.core and x.core == y.core:
            name[k] = 1
        else:
            name[k] = 0
    region = levels[:, 1]
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.region and y.region:
            region[k] = 1 if x.region.startswith(y.region) or y.region.startswith(x.region) else 0
    levels[:, 2] = _address(a, b)
    levels[:, 3] = _eq([x.phone for x in a], [y.phone for y in b])
    levels[:, 4] = _eq([x.rep for x in a], [y.rep for y in b])
    levels[:, 5] = _date([x.established for x in a], [y.established for y in b])
    levels[:, 6] = _eq([x.form for x in a], [y.form for y in b])
    return levels


def compare_persons(a: list[EntityRecord], b: list[EntityRecord]) -> Levels:
    """Comparison levels (rows = pairs, columns = PERSON_FEATURES)."""
    n = len(a)
    levels = np.full((n, len(PERSON_FEATURES)), NULL, dtype=np.int8)
    sim = _ratio([x.name or "" for x in a], [y.name or "" for y in b])
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if not (x.name and y.name):
            continue
        if x.name == y.name:
            levels[k, 0] = 3
        elif x.pinyin and x.pinyin == y.pinyin:
            levels[k, 0] = 2
        elif sim[k] >= 80:
            levels[k, 0] = 1
        else:
            levels[k, 0] = 0
    levels[:, 1] = _date([x.birth for x in a], [y.birth for y in b])
    levels[:, 2] = _eq([x.gender for x in a], [y.gender for y in b])
    levels[:, 3] = _eq([x.phone for x in a], [y.phone for y in b])
    levels[:, 4] = _address(a, b)
    levels[:, 5] = _eq([x.employer for x in a], [y.employer for y in b])
    return levels


def blocking_keys(r: EntityRecord) -> list[tuple[str, ...]]:
    """Keys that put possible matches of a record into the same block (each once)."""
    keys: list[tuple[str, ...]] = []
    if r.kind == "enterprise":
        if r.name:
            keys.append(("n", r.name))
        if r.former and r.former != r.name:
            keys.append(("n", r.former))
        if r.body:
            keys.append(("b", r.body))
        if r.lead:  # a short account name keeps the 字号, often nothing else of the name
            keys.append(("ld", r.lead, (r.district or "")[:4]))
        if r.core:
            keys.append(("c", r.core, (r.district or "")[:4]))
            if r.core_pinyin:  # 字号 typos are often homophones (辉/晖 hui)
                keys.append(("cp", r.core_pinyin, (r.district or "")[:4]))
            if r.rep:
                keys.append(("l", r.core, r.rep))
        if r.phone:
            keys.append(("p", r.phone))
        if r.address:
            keys.append(("a", r.address))
    else:
        if r.name:
            keys.append(("nn", r.name))  # alone: rare names meet even with no other field in common
            keys.append(("n", r.name, (r.birth or "")[:7]))
            if r.phone:
                keys.append(("np", r.name, r.phone))
            if r.employer:
                keys.append(("ne", r.name, r.employer))
            if r.district:
                keys.append(("nd", r.name, r.district))
        if r.pinyin and r.birth:
            keys.append(("y", r.pinyin, r.birth))
        if r.phone:
            keys.append(("p", r.phone))
    return keys


#: Per kind: feature -> {disagreement level: default m} of strong identifiers. Two records of
#: one person almost always give the same birth date (a typo is rare); homonyms in one street
#: do not, so these levels are learned from identifier-linked pairs only, never from
#: expectation over candidate pairs (where homonyms would pass for typos).
DISAGREEMENT_LEVELS: dict[str, dict[int, dict[int, float]]] = {
    "enterprise": {},
    "person": {1: {0: 0.01, 1: 0.01}, 2: {0: 0.01}},
}
#: Per kind: blocking-key tag (the first element of a key from :func:`blocking_keys`) -> the
#: features whose values the key is built from. A candidate pair met only through keys built
#: on a feature is biased towards agreeing on it, so it does not train that feature's ``m``
#: (Splink: a blocking rule's columns are not estimated from pairs it blocked).
BLOCK_FEATURES: dict[str, dict[str, frozenset[int]]] = {
    "enterprise": {
        "n": frozenset({0, 1, 6}),  # the full name holds the region and the legal form
        "b": frozenset({0, 6}),
        "ld": frozenset({0, 2}),
        "c": frozenset({0, 2}),
        "cp": frozenset({0, 2}),
        "l": frozenset({0, 4}),
        "p": frozenset({3}),
        "a": frozenset({2}),
    },
    "person": {
        "nn": frozenset({0}),
        "n": frozenset({0, 1}),
        "np": frozenset({0, 3}),
        "ne": frozenset({0, 5}),
        "nd": frozenset({0, 4}),
        "y": frozenset({0, 1}),
        "p": frozenset({3}),
    },
}


#: Per kind: feature -> the value whose equality is that feature's top level. Its u is
#: measured from value counts rather than sampled (see fellegi_sunter.train).
EXACT_VALUES: dict[str, dict[int, Callable[[EntityRecord], str | None]]] = {
    "enterprise": {
        0: lambda e: e.name,
        2: lambda e: e.address,
        3: lambda e: e.phone,
        4: lambda e: e.rep,
        5: lambda e: e.established if e.established and len(e.established) == 10 else None,
    },
    "person": {
        0: lambda e: e.name,
        1: lambda e: e.birth if e.birth and len(e.birth) == 10 else None,
        3: lambda e: e.phone,
        4: lambda e: e.address,
        5: lambda e: e.employer,
    },
}
#: Per kind: name level -> the term-frequency table that adjusts it.
TF_TABLES: dict[str, dict[int, str]] = {
    "enterprise": {5: "stem", 4: "stem", 1: "lead"},
    "person": {3: "name"},
}


def name_terms(e: EntityRecord) -> list[tuple[str, str]]:
    """The (table, value) pairs a record contributes to the term-frequency tables."""
    if e.kind == "enterprise":
        return [(t, v) for t, v in (("stem", e.stem), ("lead", e.lead)) if v]
    return [("name", e.name)] if e.name else []


def name_term(e: EntityRecord, table: str) -> str | None:
    if table == "stem":
        return e.stem
    if table == "lead":
        return e.lead
    return e.name


#: Sort orders of the sorted-neighbourhood pass over an oversized block: records that agree
#: on one of these sit next to each other in that order.
NEIGHBOURHOOD_ORDERS: tuple[Callable[[EntityRecord], str], ...] = (
    lambda e: e.phone or "\uffff",
    lambda e: e.address or "\uffff",
    lambda e: e.birth or e.established or "\uffff",
    lambda e: (e.employer or e.rep or "\uffff") + (e.stem or e.name or ""),
)


def neighbourhood_pairs(members: list[EntityRecord], window: int) -> Iterator[tuple[int, int]]:
    """Candidate pairs of a block too large to compare in full: every record with the next
    ``window - 1`` records in each sort order (phone, address, date, employer or
    representative). Linear in the block size; a pair agreeing on any of these keys is kept."""
    for order in NEIGHBOURHOOD_ORDERS:
        ranked = sorted(members, key=lambda e: (order(e), e.idx))
        for i, x in enumerate(ranked):
            for y in ranked[i + 1 : i + window]:
                yield x.idx, y.idx
