"""Entity records for linkage and their pairwise comparison into discrete levels.

Names are compared with rapidfuzz over whole arrays of pairs (``process.cpdist``), not in a
Python loop per pair; the other comparisons are equality tests on standardised values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process

from resolver.fellegi_sunter import NULL, Levels
from resolver.ingest import Record


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
    phone: str | None
    rep: str | None
    established: str | None
    birth: str | None
    gender: str | None
    employer: str | None


def entity_record(idx: int, rec: Record) -> EntityRecord:
    """Build the linkage view of an accepted enterprise or person record."""
    s = rec.std
    keys: list[tuple[str, str]] = []
    if rec.kind == "enterprise":
        for tag, fld in (("U", "uscc"), ("O", "org_code"), ("R", "reg_no")):
            if s.get(fld):
                keys.append((tag, s[fld]))
    elif s.get("id18"):
        keys.append(("I", s["id18"]))
    addr = s.get("address_norm")
    return EntityRecord(
        idx=idx,
        kind=rec.kind,
        record=rec,
        keys=tuple(keys),
        uscc=s.get("uscc"),
        id18=s.get("id18") if rec.kind == "person" else None,
        name=s.get("name_norm"),
        body=s.get("name_body"),
        core=s.get("name_core"),
        former=s.get("former_name_norm"),
        core_pinyin=s.get("name_core_pinyin"),
        region=s.get("name_region_code"),
        form=s.get("form"),
        is_branch=bool(s.get("is_branch")),
        branch_part=s.get("branch_part"),
        pinyin=s.get("name_pinyin"),
        district=s.get("district_code"),
        address=addr if addr and addr.split("|")[2] else None,
        phone=s.get("phone") if s.get("phone_type") != "service" else None,
        rep=s.get("legal_rep_name_norm"),
        established=s.get("established"),
        birth=s.get("birth_date"),
        gender=s.get("gender"),
        employer=s.get("employer_uscc") or s.get("employer_name_norm"),
    )


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
    ["different", "same 字号", "similar (≥ 90)", "same without region", "exact or former name"],
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
            if x.address == y.address:
                out[k] = 3
            elif x.district and x.district == y.district:
                out[k] = (
                    2
                    if x.address.split("|")[1]
                    and x.address.split("|")[1] == y.address.split("|")[1]
                    else 1
                )
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
            name[k] = 4
        elif x.body == y.body:
            name[k] = 3
        elif sim[k] >= 90:
            name[k] = 2
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
    """Keys that put possible matches of a record into the same block."""
    keys: list[tuple[str, ...]] = []
    if r.kind == "enterprise":
        if r.name:
            keys.append(("n", r.name))
        if r.former:
            keys.append(("n", r.former))
        if r.body:
            keys.append(("b", r.body))
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
