"""Resolving what a procurement or bidding office types (a USCC or an enterprise name) to a
golden enterprise, with the linker's standardisation (resolver/identifiers.py, names.py).

exact     a valid USCC of one enterprise, or the canonical name of exactly one enterprise
probable  the canonical name is one enterprise's former name, or the name without its
          place prefix matches exactly one enterprise
ambiguous several enterprises carry that name (same name, different registrars)
none      nothing matches (or the USCC fails its check character)"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from resolver.identifiers import check_uscc, normalise_identifier
from resolver.names import _leading_region, canonical_enterprise_name


@dataclass(frozen=True, slots=True)
class Match:
    match: str
    entity_id: str | None = None
    name: str | None = None
    candidates: tuple[str, ...] = ()
    note: str = ""


@dataclass(slots=True)
class CheckIndex:
    """Keys of every current enterprise, built once from the graph."""

    by_uscc: dict[str, list[str]]
    by_name: dict[str, list[str]]
    by_former: dict[str, list[str]]
    by_body: dict[str, list[str]]  # canonical name without its leading place names
    names: dict[str, str]
    size: int = 0

    @classmethod
    def build(cls, rows: Iterable[dict[str, object]]) -> CheckIndex:
        by_uscc: dict[str, list[str]] = defaultdict(list)
        by_name: dict[str, list[str]] = defaultdict(list)
        by_former: dict[str, list[str]] = defaultdict(list)
        by_body: dict[str, list[str]] = defaultdict(list)
        names: dict[str, str] = {}
        n = 0
        for r in rows:
            uid = str(r["uid"])
            n += 1
            if isinstance(r.get("uscc"), str):
                by_uscc[str(r["uscc"])].append(uid)
            name = r.get("name")
            if isinstance(name, str) and name:
                names[uid] = name
                canon, former = canonical_enterprise_name(name)
                by_name[canon].append(uid)
                by_body[_leading_region(canon)[1]].append(uid)
                if former:
                    by_former[canonical_enterprise_name(former)[0]].append(uid)
            former_name = r.get("former_name")
            if isinstance(former_name, str) and former_name:
                by_former[canonical_enterprise_name(former_name)[0]].append(uid)
        return cls(dict(by_uscc), dict(by_name), dict(by_former), dict(by_body), names, n)

    def _one(self, uids: list[str], how: str, note: str = "") -> Match:
        uniq = sorted(set(uids))
        if len(uniq) == 1:
            return Match(how, uniq[0], self.names.get(uniq[0]), (), note)
        return Match(
            "ambiguous",
            None,
            None,
            tuple(uniq[:20]),
            f"{len(uniq)} enterprises match {note}".strip(),
        )

    def match(self, text: str) -> Match:
        raw = text.strip()
        if not raw:
            return Match("none", note="empty input")
        ident = normalise_identifier(raw) or ""
        if len(ident) == 18 and ident.isalnum() and ident.isascii():
            check = check_uscc(ident)
            if not check.valid:
                return Match("none", note=f"not a valid USCC ({check.reason})")
            uids = self.by_uscc.get(ident)
            if uids:
                return self._one(uids, "exact", "by USCC")
            return Match("none", note="USCC not in the graph")
        canon, former = canonical_enterprise_name(raw)
        if canon in self.by_name:
            return self._one(self.by_name[canon], "exact", "by name")
        if canon in self.by_former:
            return self._one(self.by_former[canon], "probable", "by former name")
        if former and former in self.by_name:
            return self._one(self.by_name[former], "probable", "by name in （原…）")
        hits = self.by_body.get(_leading_region(canon)[1])
        if hits:
            return self._one(hits, "probable", "by name without its place prefix")
        return Match("none", note="no enterprise with this USCC or name")
