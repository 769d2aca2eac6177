"""Survivorship: the golden record of a cluster, attribute by attribute, with provenance, and
the conflicts between sources that departments need back."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from resolver.ingest.rows import Record
from resolver.standardize.status import registration_status

#: Source authority per attribute: earlier departments win (DOMAIN.md: AMR for names and
#: registration data, PSB for persons, TAX for tax data). Unlisted departments rank after.
AUTHORITY: dict[str, dict[str, tuple[str, ...]]] = {
    "enterprise": {
        "name": ("AMR", "CA", "AGRI", "JUST", "TAX", "CUSTOMS", "STAT", "PBOC"),
        "uscc": ("AMR", "CA", "TAX", "PBOC"),
        "org_code": ("AMR", "STAT", "TAX"),
        "reg_no": ("AMR",),
        "legal_rep_name": ("AMR", "CA", "TAX", "PBOC", "CUSTOMS"),
        "address": ("AMR", "CA", "TAX", "CUSTOMS", "STAT"),
        "phone": ("TAX", "AMR", "CUSTOMS", "POWER"),
        "established": ("AMR", "CA", "TAX", "STAT", "CUSTOMS"),
        "reg_capital": ("AMR", "CA", "COMM"),
        "industry": ("AMR", "STAT"),
        "status": ("AMR", "TAX"),
        "former_name": ("AMR",),
    },
    "person": {
        "name": ("PSB", "HRSS", "HPF", "JUST", "SUB"),
        "gender": ("PSB", "HRSS"),
        "birth_date": ("PSB", "HRSS"),
        "address": ("PSB", "SUB"),
        "phone": ("HRSS", "HPF", "SUB"),
        "employer": ("HRSS", "HPF", "JUST"),
    },
}

#: Attribute -> (value from the record's std or raw, comparison key for conflicts).
ENTERPRISE_ATTRS = (
    "uscc",
    "org_code",
    "reg_no",
    "name",
    "former_name",
    "legal_rep_name",
    "address",
    "phone",
    "established",
    "reg_capital",
    "industry",
    "status",
)
PERSON_ATTRS = ("name", "gender", "birth_date", "phone", "address", "employer")


Value = tuple[Any, str] | None  # (display value, comparison key), None when absent/invalid


def _std(field: str) -> Callable[[Record], Value]:
    def get(rec: Record) -> Value:
        v = rec.std.get(field)
        return (v, str(v)) if v not in (None, "") else None

    return get


def _std_text(field: str) -> Callable[[Record], Value]:
    def get(rec: Record) -> Value:
        v = rec.std.get(field)
        return (v, v) if v else None

    return get


def _address(rec: Record) -> Value:
    raw = rec.raw.get("address")
    if not raw:
        return None
    return (raw, rec.std.get("address_norm") or raw)


def _status(rec: Record) -> Value:
    v = registration_status(rec.raw.get("status"))
    return (v, v) if v else None


def _employer(rec: Record) -> Value:
    v = rec.std.get("employer_uscc") or rec.std.get("employer_name_norm")
    return (v, v) if v else None


def _raw(field: str) -> Callable[[Record], Value]:
    def get(rec: Record) -> Value:
        v = rec.raw.get(field)
        return (v, v) if v else None

    return get


#: Attribute -> how a record gives its (display value, comparison key).
_GETTERS: dict[str, Callable[[Record], Value]] = {
    **{
        a: _std(a)
        for a in (
            "uscc",
            "org_code",
            "reg_no",
            "established",
            "reg_capital",
            "gender",
            "birth_date",
        )
    },
    "name": _std_text("name_norm"),
    "former_name": _std_text("former_name_norm"),
    "legal_rep_name": _std_text("legal_rep_name_norm"),
    "address": _address,
    "phone": _std_text("phone"),
    "status": _status,
    "employer": _employer,
}


#: Per kind: the std and the raw fields :func:`build_golden` reads (its getters above and
#: the identifiers, former names and branch flag below), nothing else: a process that only
#: builds golden records keeps these (``tests/test_survivorship.py`` holds it to that).
GOLDEN_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "enterprise": (
        frozenset(
            {
                "uscc",
                "org_code",
                "reg_no",
                "established",
                "reg_capital",
                "name_norm",
                "former_name_norm",
                "legal_rep_name_norm",
                "address_norm",
                "phone",
                "is_branch",
            }
        ),
        frozenset({"address", "status", "industry"}),
    ),
    "person": (
        frozenset(
            {
                "id18",
                "gender",
                "birth_date",
                "name_norm",
                "phone",
                "address_norm",
                "employer_uscc",
                "employer_name_norm",
            }
        ),
        frozenset({"address", "name"}),
    ),
}


def _value(rec: Record, attr: str) -> Value:
    """(display value, comparison key) of an attribute in one record, or None when absent/invalid."""
    get = _GETTERS.get(attr)
    return get(rec) if get is not None else _raw(attr)(rec)


#: Per kind: attribute -> its getter, in output order.
_KIND_GETTERS: dict[str, list[tuple[str, Callable[[Record], Value]]]] = {
    "enterprise": [(a, _GETTERS.get(a) or _raw(a)) for a in ENTERPRISE_ATTRS],
    "person": [(a, _GETTERS.get(a) or _raw(a)) for a in PERSON_ATTRS],
}
#: Per kind and attribute: department -> rank (lower wins; unlisted rank after all).
_RANKS: dict[str, dict[str, dict[str, int]]] = {
    kind: {attr: {d: i for i, d in enumerate(order)} for attr, order in by_attr.items()}
    for kind, by_attr in AUTHORITY.items()
}


#: GB/T 4754-2017 sections: a department may report the letter (or a class code starting
#: with it), another the section's name; they are the same value, not a conflict.
INDUSTRY_SECTIONS = {
    "A": "农、林、牧、渔业",
    "B": "采矿业",
    "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业",
    "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业",
    "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业",
    "J": "金融业",
    "K": "房地产业",
    "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业",
    "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业",
    "P": "教育",
    "Q": "卫生和社会工作",
    "R": "文化、体育和娱乐业",
    "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}
_SECTION_OF_NAME = {name: letter for letter, name in INDUSTRY_SECTIONS.items()}
DATE_ATTRS = frozenset({"established", "birth_date"})


def industry_section(value: str) -> str:
    """The GB/T 4754 section letter of an industry value (letter, class code or name)."""
    v = value.strip()
    if v[:1].upper() in INDUSTRY_SECTIONS and (len(v) == 1 or v[1:].isdigit()):
        return v[:1].upper()
    return _SECTION_OF_NAME.get(v, v)


def real_disagreement(attr: str, keys: list[str]) -> bool:
    """Whether the values of an attribute truly disagree: an industry code and its own
    section name agree, and so do a month-only (or year-only) date and a full date within
    that month (a partial date keeps its precision, DESIGN.md Contract 1)."""
    distinct = set(keys)
    if attr == "industry":
        distinct = {industry_section(k) for k in distinct}
    elif attr in DATE_ATTRS:
        distinct = {k for k in distinct if not any(o != k and o.startswith(k) for o in distinct)}
        # what is left: the most precise dates; they agree only if they are equal
    return len(distinct) > 1


@dataclass(frozen=True, slots=True)
class Golden:
    """One golden entity (a line of golden.jsonl)."""

    data: dict[str, Any]
    conflicts: list[dict[str, Any]]


def mask_id_number(id18: str) -> str:
    """The published form of an ID number: province and check character only
    (``44***************X``).

    Published next to the birth *year*, the gender and the address (which gives the
    division code away), this leaves about 365 days x 500 sequence numbers / 11 check
    characters, i.e. over 16,000 candidates; the usual first-4 + last-4 form next to a full
    birth date left a handful (docs/security.md; tests/reliability/test_state_privacy.py).
    """
    if len(id18) < 8:
        return "*" * len(id18)
    return id18[:2] + "*" * (len(id18) - 3) + id18[-1]


def publish_person_attributes(
    chosen: dict[str, Any], provenance: dict[str, dict[str, str]]
) -> None:
    """A golden person carries the birth year, not the birth date (see mask_id_number)."""
    if "birth_date" in chosen:
        chosen["birth_year"] = str(chosen.pop("birth_date"))[:4]
        provenance["birth_year"] = provenance.pop("birth_date")


def id_hash(id18: str, salt: str) -> str:
    """Salted hash of a personal ID number: stable per installation, not reversible."""
    return hmac.new(salt.encode(), id18.encode(), hashlib.sha256).hexdigest()[:32]


def _authority(rank: dict[str, int], cand: tuple[Record, Any]) -> tuple[int, str, str]:
    """Order of sources that agree on a value: authority, then department and record."""
    rec = cand[0]
    return (rank.get(rec.dept, len(rank)), rec.dept, rec.record_id)


def build_golden(
    gid: str,
    kind: str,
    members: list[Record],
    as_of: str,
    salt: str,
    extra_ids: list[str] | None = None,
) -> Golden:
    """Pick the best value of each attribute and keep where it came from."""
    chosen: dict[str, Any] = {}
    provenance: dict[str, dict[str, str]] = {}
    conflicts: list[dict[str, Any]] = []
    ranks = _RANKS[kind]
    single = len(members) == 1
    for attr, get in _KIND_GETTERS[kind]:
        if single:  # one source: its value, nothing to weigh or report
            v = get(members[0])
            if v is not None:
                chosen[attr] = v[0]
                provenance[attr] = {
                    "dept": members[0].dept,
                    "record_id": members[0].record_id,
                    "as_of": as_of,
                }
            continue
        cands = [(rec, v) for rec in members if (v := get(rec)) is not None]
        if not cands:
            continue
        rank = ranks.get(attr, {})
        first_key = cands[0][1][1]
        if all(v[1] == first_key for _, v in cands):  # all sources agree: authority decides
            best, (value, _) = min(cands, key=partial(_authority, rank))
            chosen[attr] = value
            provenance[attr] = {"dept": best.dept, "record_id": best.record_id, "as_of": as_of}
            continue
        freq = Counter(key for _, (_, key) in cands)

        def score(
            item: tuple[Record, tuple[Any, str]],
            freq: Counter[str] = freq,
            rank: dict[str, int] = rank,
        ) -> tuple[int, int, str, str]:
            rec, (_, key) = item
            return (rank.get(rec.dept, len(rank)), -freq[key], rec.dept, rec.record_id)

        best_rec, (best_val, _) = min(cands, key=score)
        chosen[attr] = best_val
        provenance[attr] = {"dept": best_rec.dept, "record_id": best_rec.record_id, "as_of": as_of}
        if len(freq) > 1 and attr != "former_name" and real_disagreement(attr, list(freq)):
            conflicts.append(
                {
                    "attribute": attr,
                    "chosen": best_val,
                    "values": [
                        {"value": v, "dept": rec.dept, "record_id": rec.record_id}
                        for rec, (v, _) in sorted(cands, key=score)
                    ],
                }
            )
    data: dict[str, Any] = {
        "id": gid,
        "type": "Enterprise" if kind == "enterprise" else "Person",
        "lifecycle": "active",
    }
    if kind == "person":
        ids = sorted({r.std["id18"] for r in members if r.std.get("id18")} | set(extra_ids or []))
        if ids:
            data["id_hash"] = id_hash(ids[0], salt)
            data["id_masked"] = mask_id_number(ids[0])
        publish_person_attributes(chosen, provenance)
    else:
        formers = sorted(
            {r.std["former_name_norm"] for r in members if r.std.get("former_name_norm")}
            - {chosen.get("name")}
        )
        chosen.pop("former_name", None)
        provenance.pop("former_name", None)
        if formers:
            chosen["former_names"] = formers
        chosen["is_branch"] = (
            Counter(
                bool(r.std.get("is_branch")) for r in members if r.std.get("name_norm")
            ).most_common(1)[0][0]
            if any(r.std.get("name_norm") for r in members)
            else False
        )
    data["attributes"] = chosen
    data["provenance"] = provenance
    data["members"] = [
        {"dept": r.dept, "record_id": r.record_id, "file": r.file, "line": r.line} for r in members
    ]
    return Golden(data, conflicts)
