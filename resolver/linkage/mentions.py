"""Subjects of mentions (credit events, facts, tax declarations) that carry no usable
identifier: a masked ID number with a name, or a name alone.

- **Masked ID number** (``4401**********123X``, ``440106********1234``): the golden persons of
  that name whose ID number agrees on every unmasked position (region prefix, the birth date
  when shown, sequence and check). One candidate resolves; several or none stay unresolved
  with the reason.
- **Name only**: the golden entities carrying the name (a person's normalised name; an
  enterprise's full name, or its 字号 + industry stem when the region or legal form is left
  out), narrowed by the region of the deciding authority (成都市生态环境局 names firms of 成都)
  and then by the department context (entities the same department also delivers records
  about). Exactly one candidate resolves.

The reasons given for unresolved subjects are the ``reason`` column of links.csv
(DESIGN.md, Contract 2).
"""

from __future__ import annotations

import functools
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from resolver.ingest.rows import Record
from resolver.standardize.names import (
    EnterpriseName,
    leading_region_codes,
    normalise_enterprise_name,
    normalise_person_name,
)

Resolution = tuple[str | None, str, str]  # golden ID, how, reason when unresolved


def masked_id_pattern(raw: str | None) -> str | None:
    """The 18-character pattern of a masked ID number (``*`` where masked), or None."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", raw).upper()
    text = "".join(c for c in text if c not in " -_'")
    if "*" not in text or len(text) != 18 or text.count("*") > 14:
        return None
    return text


def name_stem(name: str) -> str | None:
    """The name without region and legal form: the 字号 and industry word."""
    return _stem(normalise_enterprise_name(name))


def _stem(en: EnterpriseName) -> str | None:
    body = en.body
    if body and en.form and not en.is_branch and body.endswith(en.form):
        body = body[: -len(en.form)]
    return body or None


def record_stem(rec: Record) -> str | None:
    """:func:`name_stem` of an enterprise record's name, from the name features ingest
    already standardised (the same normalisation) when the record carries them."""
    s = rec.std
    if "name_body" not in s:
        raw = rec.raw.get("name")
        return name_stem(raw) if raw else None
    body: str | None = s["name_body"]
    form: str | None = s.get("form")
    if body and form and not s.get("is_branch") and body.endswith(form):
        body = body[: -len(form)]
    return body or None


#: Standardised fields that hold identifiers, in any record kind.
TOKEN_ID_FIELDS = ("uscc", "org_code", "reg_no", "id18", "parent_uscc", "holder_id_number")


def mention_tokens(rec: Record, keyed_hash: Callable[[str], str]) -> set[str]:
    """What a record can be looked up by when a mention is resolved: each name it carries
    normalised as an enterprise name, as its stem (字号 + industry) and as a person name,
    and each identifier (as ``keyed_hash`` of it: no identifier is stored in clear).

    Name look-ups of mention subjects are exact on these forms (``SubjectIndex``, the
    state's name keys), so a row resolved by name — or not at all — can only resolve
    differently after a batch that changes the entity of a record sharing a token with it.
    Both sides use this one function."""
    return name_tokens(rec) | identifier_tokens(rec, keyed_hash)


def name_tokens(rec: Record) -> set[str]:
    """The name part of :func:`mention_tokens`."""
    names = {v for k, v in rec.std.items() if k.endswith("name_norm") and isinstance(v, str)}
    if isinstance(raw := rec.raw.get("name"), str):
        names.add(raw)
    out: set[str] = set()
    for name in names:
        if name:
            out.update(_name_tokens(name))
    return out


@functools.lru_cache(maxsize=1 << 16)
def _name_tokens(name: str) -> tuple[str, ...]:
    """The name part of :func:`mention_tokens` for one name (names recur across records:
    each is normalised once)."""
    en = normalise_enterprise_name(name)
    stem = _stem(en)
    return (
        "e|" + en.normalised,
        *(("s|" + stem,) if stem else ()),
        "p|" + normalise_person_name(name),
    )


def identifier_tokens(rec: Record, keyed_hash: Callable[[str], str]) -> set[str]:
    """The identifier part of :func:`mention_tokens`."""
    return {
        "i|" + keyed_hash(v)
        for field_name in TOKEN_ID_FIELDS
        if isinstance(v := rec.std.get(field_name), str) and v
    }


def looks_like_person_name(name: str) -> bool:
    """2–4 hanzi with no legal form or business word, or a name with a middle dot."""
    n = normalise_person_name(name)
    if "·" in n:
        return True
    en = normalise_enterprise_name(name)
    return 2 <= len(n) <= 4 and en.form is None and not en.region and n.isalpha()


@dataclass(slots=True)
class SubjectIndex:
    """Golden entities by name, with their regions and departments."""

    persons: dict[str, dict[str, tuple[set[str], set[str]]]] = field(
        default_factory=lambda: defaultdict(dict)
    )  # name -> gid -> (ID numbers, region codes)
    enterprise_names: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    enterprise_stems: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    regions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    depts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add_enterprise(self, gid: str, rec: Record) -> None:
        s = rec.std
        for fld in ("name_norm", "former_name_norm"):
            if s.get(fld):
                self.enterprise_names[s[fld]].add(gid)
        raw = rec.raw.get("name")
        if raw and (stem := record_stem(rec)):
            self.enterprise_stems[stem].add(gid)
        for code in (s.get("district_code"), s.get("name_region_code")):
            if code:
                self.regions[gid].add(code)
        if s.get("uscc"):
            self.regions[gid].add(s["uscc"][2:8])
        self.depts[gid].add(rec.dept)

    def add_person(self, gid: str, rec: Record) -> None:
        s = rec.std
        name = s.get("name_norm")
        if not name:
            return
        ids, regions = self.persons[name].setdefault(gid, (set(), set()))
        if s.get("id18"):
            ids.add(s["id18"])
            regions.add(s["id18"][:6])
        if s.get("district_code"):
            regions.add(s["district_code"])
        self.regions[gid].update(regions)
        self.depts[gid].add(rec.dept)

    # -- resolution ----------------------------------------------------------------------------
    def person_by_masked_id(
        self, name: str, pattern: str, regions: tuple[str, ...], dept: str
    ) -> Resolution:
        by_gid = self.persons.get(name, {})
        found = {
            gid
            for gid, (ids, _r) in by_gid.items()
            if any(all(p in ("*", c) for p, c in zip(pattern, i, strict=True)) for i in ids)
        }
        if len(found) == 1:
            return next(iter(found)), "by_masked_id", ""
        if found:
            return None, "unresolved", "masked_id_ambiguous"
        # No person of that name with an agreeing ID number: the persons of that name whose ID
        # number nobody delivered (residents known by name, phone and address) cannot
        # contradict the mask; narrow them by the authority's region as a name-only subject.
        without_id = {gid for gid, (ids, _r) in by_gid.items() if not ids}
        if not without_id:
            return None, "unresolved", "masked_id_no_match"
        gid, how, reason = self._narrow(without_id, regions, dept, "by_name_masked_id")
        return gid, how, reason and f"masked_id_no_match_{reason}"

    def _narrow(self, found: set[str], regions: tuple[str, ...], dept: str, how: str) -> Resolution:
        if len(found) == 1 and (not regions or self._in_region(next(iter(found)), regions)):
            return next(iter(found)), how, ""
        if not found:
            return None, "unresolved", "name_not_found"
        if regions:
            found = {g for g in found if self._in_region(g, regions)}
            if len(found) == 1:
                return next(iter(found)), f"{how}_region", ""
            if not found:
                return None, "unresolved", "name_other_region"
        in_dept = {g for g in found if dept in self.depts.get(g, ())}
        if len(in_dept) == 1:
            return next(iter(in_dept)), f"{how}_department", ""
        return None, "unresolved", "name_ambiguous"

    def _in_region(self, gid: str, regions: tuple[str, ...]) -> bool:
        return any(code.startswith(r) for code in self.regions.get(gid, ()) for r in regions)

    def person_by_name(self, name: str, regions: tuple[str, ...], dept: str) -> Resolution:
        return self._narrow(set(self.persons.get(name, {})), regions, dept, "by_name")

    def enterprise_by_name(self, raw: str, regions: tuple[str, ...], dept: str) -> Resolution:
        en = normalise_enterprise_name(raw)
        found = self.enterprise_names.get(en.normalised, set())
        if found:
            return self._narrow(set(found), regions, dept, "by_name")
        stem = name_stem(raw)
        return self._narrow(
            set(self.enterprise_stems.get(stem, set())) if stem else set(),
            regions,
            dept,
            "by_name_stem",
        )


def resolve_without_identifier(index: SubjectIndex, rec: Record) -> tuple[Resolution, str]:
    """The subject of a mention whose identifiers resolved nothing: (resolution, subject type)."""
    raw_name = rec.raw.get("name") or ""
    pattern = next(
        (
            p
            for fld in ("id_number", "any_id", "uscc")
            if (p := masked_id_pattern(rec.raw.get(fld)))
        ),
        None,
    )
    regions = leading_region_codes(rec.raw.get("authority") or "")
    if not raw_name:
        return (None, "unresolved", "masked_id_without_name" if pattern else "no_name"), "Person"
    if pattern:
        name = normalise_person_name(raw_name)
        return index.person_by_masked_id(name, pattern, regions, rec.dept), "Person"
    if looks_like_person_name(raw_name):
        return index.person_by_name(normalise_person_name(raw_name), regions, rec.dept), "Person"
    return index.enterprise_by_name(raw_name, regions, rec.dept), "Enterprise"
