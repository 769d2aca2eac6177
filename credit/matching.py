"""Resolving what a procurement or bidding office types (a USCC or an enterprise name) to a
golden enterprise, with the linker's standardisation (resolver/standardize/identifiers.py, names.py).

exact     a valid USCC of one enterprise, or the canonical name of exactly one enterprise
probable  the canonical name is one enterprise's former name, or the name without its
          place prefix matches exactly one enterprise
ambiguous several enterprises carry that name (same name, different registrars)
none      nothing matches (or the USCC fails its check character)"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from resolver.standardize.identifiers import check_uscc, normalise_identifier
from resolver.standardize.names import (
    _leading_region,
    canonical_enterprise_name,
    canonical_enterprise_names,
)


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
    names: dict[str, str]
    size: int = 0
    _body: dict[str, list[str]] | None = None  # canonical name without its place prefix

    @property
    def by_body(self) -> dict[str, list[str]]:
        """Built on first use: most look-ups never need it."""
        if self._body is None:
            body: dict[str, list[str]] = defaultdict(list)
            for text, uids in self.by_name.items():
                body[_leading_region(text)[1]].extend(uids)
            self._body = dict(body)
        return self._body

    @classmethod
    def build(
        cls, packed: Iterable[str], former_names: Mapping[str, list[str]] | None = None
    ) -> CheckIndex:
        """From :data:`credit.queries.ENTERPRISE_KEYS` rows: ``uid¦uscc¦former name¦name``,
        and each enterprise's list of former names where a loaded run gives them."""
        from credit.queries import KEY_SEPARATOR

        uids: list[str] = []
        usccs: list[str] = []
        raw_names: list[str] = []
        formers: dict[int, str] = {}
        for k in packed:
            uid, uscc, former, name = k.split(KEY_SEPARATOR, 3)
            if KEY_SEPARATOR in name:  # a separator inside a name: the former name is unknown
                former, name = "", f"{former}{KEY_SEPARATOR}{name}"
            if former:
                formers[len(uids)] = former
            uids.append(uid)
            usccs.append(uscc)
            raw_names.append(name)
        by_uscc: dict[str, list[str]] = defaultdict(list)
        by_name: dict[str, list[str]] = defaultdict(list)
        by_former: dict[str, list[str]] = defaultdict(list)
        names: dict[str, str] = {}
        canon = canonical_enterprise_names(raw_names)
        former_canon = dict(
            zip(formers, canonical_enterprise_names(list(formers.values())), strict=True)
        )
        for i, uid in enumerate(uids):
            if usccs[i]:
                by_uscc[usccs[i]].append(uid)
            if not raw_names[i]:
                continue
            names[uid] = raw_names[i]
            text, annotated = canon[i]
            by_name[text].append(uid)
            if annotated:
                by_former[canonical_enterprise_name(annotated)[0]].append(uid)
            if i in former_canon:
                by_former[former_canon[i][0]].append(uid)
        listed = [(uid, f) for uid, fs in (former_names or {}).items() for f in fs]
        for (uid, _), (text, _annotated) in zip(
            listed, canonical_enterprise_names([f for _, f in listed]), strict=True
        ):
            if uid not in by_former.get(text, ()):
                by_former[text].append(uid)
        return cls(dict(by_uscc), dict(by_name), dict(by_former), names, len(uids))

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
