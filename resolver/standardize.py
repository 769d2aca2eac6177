"""Per-record standardisation: validate and normalise canonical fields, flag what is wrong.

A bad value never rejects a row: it is kept raw, flagged, and left out of ``std`` so that it
is never used as evidence (DESIGN.md, Contract 1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from resolver import identifiers as ids
from resolver.addresses import parse_address
from resolver.dates import parse_date, parse_money, parse_period, parse_ratio
from resolver.names import (
    EnterpriseName,
    normalise_enterprise_name,
    normalise_person_name,
    person_pinyin_key,
    region_code,
)
from resolver.phones import parse_phone

ENTERPRISE_ID_FIELDS = ("uscc", "org_code", "reg_no", "tax_id", "any_id")
PERSON_ID_FIELDS = ("id_number", "legal_rep_id", "holder_id_number")
RELATED_USCC_FIELDS = ("parent_uscc", "employer_uscc", "holder_uscc")
DATE_FIELDS = ("established", "birth_date", "date", "start", "end", "publicity_until")
MONEY_FIELDS = ("reg_capital", "amount", "taxable_amount", "tax_paid")
ENTERPRISE_NAME_FIELDS = ("parent_name", "employer_name")
PERSON_NAME_FIELDS = ("legal_rep_name", "person_name")
#: Fields that carry an identifier or a name of the record's subject (the no_name_no_id rule).
SUBJECT_NAME_FIELDS = ("name",)
SUBJECT_ID_FIELDS = (*ENTERPRISE_ID_FIELDS, "id_number")


@dataclass(frozen=True, slots=True)
class Flag:
    """A field value kept raw but not used: machine code plus a message for the department."""

    field: str
    code: str
    message: str


@dataclass(slots=True)
class Standardised:
    std: dict[str, Any] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)


def mask_identifier(value: str) -> str:
    """Personal identifiers are never shown in clear: ``4406**********123X``."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def _id_detail(res: ids.IdCheck) -> str:
    v = res.value
    if res.reason == "bad_check" and res.kind == "uscc" and len(v) == 18:
        return f" expected check {ids.uscc_check_char(v[:17])!r}"
    if res.reason == "bad_org_check" and len(v) == 18:
        return f" embedded organisation code check should be {ids.org_code_check_char(v[8:16])!r}"
    if res.reason == "bad_check" and res.kind in (
        "resident_id",
        "hmt_permit",
        "foreign_permanent_resident",
    ):
        return " check character does not match"
    return ""


#: A handler's outcome for one value: the (key, value) pairs it adds to ``std`` and its flags
#: as (code, text after ``column=``); the line and the column go into the message when used.
Items = tuple[tuple[str, Any], ...]
FlagSpec = tuple[str, str]
Outcome = tuple[Items, tuple[FlagSpec, ...]]
Handler = Callable[[str, str], Outcome]
#: Most values one memo holds before it starts afresh (bounded memory).
MEMO_CAP = 100_000
#: Look-ups after which a field whose values rarely repeat stops being memoised.
MEMO_PROBE = 4_096
#: Below this share of repeated values (after MEMO_PROBE look-ups) a memo costs more than it saves.
MEMO_MIN_REPEAT = 0.1
_NONE: Outcome = ((), ())
_GENDER = {"男": "M", "女": "F", "M": "M", "F": "F", "1": "M", "2": "F"}


def _flag(code: str, value: str, detail: str = "", personal: bool = False) -> Outcome:
    """The outcome of a value that is flagged and not used."""
    shown = mask_identifier(value) if personal else value
    return (), ((code, f"{shown!r}{detail}"),)


class _Step:
    """One mapped field's standardisation: its handler, chosen once per file, and the memo of
    its outcomes by value (identifiers, dates, codes and amounts repeat within a department)."""

    __slots__ = ("col", "field", "handler", "keep_first", "lookups", "memo")

    def __init__(
        self, fld: str, col: str, handler: Handler, keep_first: bool, memo: dict[str, Outcome]
    ) -> None:
        self.field, self.col, self.handler, self.keep_first = fld, col, handler, keep_first
        self.memo: dict[str, Outcome] | None = memo
        self.lookups = 0

    def outcome(self, value: str) -> Outcome:
        """The handler's outcome for a value not in the memo; memoised while values repeat."""
        outcome = self.handler(self.field, value)
        memo = self.memo
        if memo is not None:
            if self.lookups >= MEMO_PROBE and len(memo) > (1 - MEMO_MIN_REPEAT) * self.lookups:
                self.memo = None  # values rarely repeat in this file: the memo would only cost
            else:
                if len(memo) >= MEMO_CAP:
                    memo.clear()
                memo[value] = outcome
        return outcome


#: Memos of this process, shared by the files it reads: (field, kind, as_of, unit) -> memo.
_MEMOS: dict[tuple[str, str, dt.date, str | None], dict[str, Outcome]] = {}
_NAME_MEMOS: dict[str, dict[tuple[str, bool], Items]] = {}


def _memo(key: tuple[str, str, dt.date, str | None]) -> dict[str, Outcome]:
    memo = _MEMOS.get(key)
    if memo is None:
        if len(_MEMOS) >= 256:  # many batches in one process: start afresh
            _MEMOS.clear()
        memo = _MEMOS[key] = {}
    return memo


def _use(res: ids.IdCheck) -> Items:
    """What a valid identifier gives ``std`` (first value of a key wins)."""
    if res.kind == "uscc":
        return (("uscc", res.value), ("org_code", ids.uscc_org_code(res.value)))
    if res.kind == "org_code":
        return (("org_code", res.value),)
    if res.kind == "reg_no":
        return (("reg_no", res.value),)
    if res.kind == "tax_id":
        form = res.details.get("form")
        items: Items = ()
        if form == "uscc" or (form == "temporary_l" and "uscc" in res.details):
            uscc = res.details.get("uscc", res.value)
            items = (("uscc", uscc), ("org_code", ids.uscc_org_code(uscc)))
        elif form == "legacy_15_org":
            items = (("legacy_tax_id", res.value), ("org_code", res.details["org_code"]))
        elif "id_number" in res.details:
            items = (("id18", res.details["id_number"]),)
        return (*items, ("tax_id", res.value))
    if res.kind in ("resident_id", "hmt_permit", "foreign_permanent_resident"):
        return (("id18", res.value),)
    if res.kind == "id15":
        return (("id18", ids.upgrade_id15(res.value)),)
    if res.kind == "foreign_old15":
        return (("foreign_id", res.value),)
    return ()


class Standardiser:
    """Standardises records of one source; ``columns`` maps canonical fields back to the
    department's column names for messages.

    Each mapped field's handler is chosen once (a per-file plan) and returns what the value
    adds to ``std`` and its flags; that outcome is memoised by value, so a value seen before
    in this process costs one dictionary look-up.
    """

    def __init__(
        self, kind: str, columns: dict[str, str], as_of: dt.date, features: bool = True
    ) -> None:
        self.kind = kind
        self.col = {canon: col for col, canon in columns.items()}
        self.as_of = as_of
        self.features = features
        self.money_hint = {
            canon: "万元" for col, canon in columns.items() if "万元" in col or col.endswith("万")
        }
        self.handlers = self._bind_handlers(set(columns.values()))
        self.plan = [
            _Step(
                fld,
                self.col.get(fld, fld),
                handle,
                fld in ENTERPRISE_ID_FIELDS,
                _memo((fld, kind, as_of, self.money_hint.get(fld))),
            )
            for fld, handle in self.handlers
        ]
        self._names = _NAME_MEMOS.setdefault(kind, {})

    # -- the record ----------------------------------------------------------------------------
    def standardise(self, raw: dict[str, str], line: int) -> Standardised:
        """Validate and normalise one record's canonical values (raw holds non-blank ones)."""
        out = Standardised()
        std = out.std
        for step in self.plan:
            value = raw.get(step.field)
            if not value:
                continue
            step.lookups += 1
            memo = step.memo
            outcome = memo.get(value) if memo is not None else None
            if outcome is None:
                outcome = step.outcome(value)
            items, flags = outcome
            if not step.keep_first:
                if items:
                    std.update(items)
            else:  # identifiers: the first field to give a value keeps it
                for k, v in items:
                    if k[0] == "_":
                        std.setdefault(k, []).extend(v)
                    elif k not in std:
                        std[k] = v
            if flags:
                fld, col = step.field, step.col
                out.flags.extend(
                    Flag(fld, code, f"{code}: line {line}, {col}={rest}") for code, rest in flags
                )
        if self.features:
            self._features(raw, std)
        return out

    def _bind_handlers(self, mapped: set[str]) -> list[tuple[str, Handler]]:
        """The handler of each field this source maps, in a fixed order (identifiers first,
        the USCC before the codes derived from it), so that no time goes to absent fields."""
        table: dict[str, Handler] = {}
        for fld in ENTERPRISE_ID_FIELDS:
            table[fld] = self._enterprise_id
        for fld in PERSON_ID_FIELDS:
            table[fld] = self._person_id_field
        for fld in RELATED_USCC_FIELDS:
            table[fld] = self._related_uscc
        for fld in DATE_FIELDS:
            table[fld] = self._birth_date if fld == "birth_date" else self._date
        for fld in MONEY_FIELDS:
            table[fld] = self._money
        table.update(
            period=self._period,
            quantity=self._quantity,
            ratio=self._ratio,
            phone=self._phone,
            gender=self._gender,
        )
        return [(fld, table[fld]) for fld in table if fld in mapped]

    # -- identifiers --------------------------------------------------------------------------
    def _enterprise_id(self, fld: str, value: str) -> Outcome:
        if ids.is_excel_float(value):
            return _flag("excel_float", value, " identifier mangled into a number by Excel")
        if fld == "uscc":
            res = ids.check_uscc(value)
            if not res.valid:
                other = ids.classify_identifier(value, self.as_of)
                if (
                    other is not None
                    and other.valid
                    and other.kind in ("reg_no", "org_code", "tax_id")
                ):
                    code = f"{other.kind}_in_uscc_column"
                    return _use(other), _flag(code, value, f" holds a {other.kind}, not a USCC")[1]
        elif fld == "tax_id":
            res = ids.check_tax_id(value, self.as_of)
        elif fld == "any_id":
            found = ids.classify_identifier(value, self.as_of)
            if found is None:
                return _NONE
            res = found
        else:  # reg_no or org_code: a valid USCC found there is used as a USCC
            found = ids.classify_identifier(value, self.as_of)
            if found is not None and found.valid and found.kind in ("uscc", fld):
                res = found
            elif len(ids.normalise_identifier(value) or "") == 18:
                res = ids.check_uscc(value)  # a (mistyped) USCC in the legacy column
            else:
                res = ids.check_org_code(value) if fld == "org_code" else ids.check_reg_no(value)
        if res.valid:
            items = _use(res)
            if res.kind == "uscc" and fld in ("reg_no", "org_code", "tax_id"):
                items += (("_mapping_notes", (f"uscc_in_{fld}_column",)),)
            notes = tuple(
                f"{res.kind}_{f}"
                for f in res.flags
                if f in ("unknown_authority", "unknown_type", "unknown_region")
            )
            if notes:
                items += (("_id_notes", notes),)
            return items, ()
        code = f"bad_{res.kind}_{(res.reason or 'invalid').removeprefix('bad_')}"
        return _flag(code, value, _id_detail(res), personal=res.kind in ("resident_id", "id15"))

    def _person_id(self, value: str) -> tuple[str | None, Outcome]:
        """(ID number as 18 characters, or None with the flag's outcome)."""
        if ids.is_excel_float(value):
            detail = " ID number mangled into a number by Excel"
            return None, _flag("excel_float", value, detail, personal=True)
        norm = ids.normalise_identifier(value) or ""
        if len(norm) == 15 and norm.isdigit():
            res = ids.check_id15(norm)
            if res.valid:
                return ids.upgrade_id15(norm), _NONE
        elif len(norm) == 15:
            res = ids.check_foreign_old15(norm)
            if res.valid:
                return norm, _NONE
        else:
            res = ids.check_resident_id(norm, self.as_of)
            if res.valid:
                return res.value, _NONE
        code = f"bad_id_number_{(res.reason or 'invalid').removeprefix('bad_')}"
        return None, _flag(code, value, _id_detail(res), personal=True)

    def _person_id_field(self, fld: str, value: str) -> Outcome:
        id18, flagged = self._person_id(value)
        if id18:
            return (("id18" if fld == "id_number" else fld, id18),), ()
        return flagged

    def _related_uscc(self, fld: str, value: str) -> Outcome:
        res = ids.check_uscc(value)
        if res.valid:
            return ((fld, res.value),), ()
        code = f"bad_uscc_{(res.reason or 'invalid').removeprefix('bad_')}"
        return _flag(code, value, _id_detail(res))

    # -- dates, amounts, codes ---------------------------------------------------------------
    def _date(self, fld: str, value: str) -> Outcome:
        d = parse_date(value)
        items: Items = ((fld, d.value),) if d.value else ()
        if d.flag:
            detail = " kept with month/year precision" if d.value else " not a possible date"
            return items, _flag(d.flag, value, detail)[1]
        return items, ()

    def _birth_date(self, fld: str, value: str) -> Outcome:
        items, flags = self._date(fld, value)
        d = parse_date(value)
        if d.value and d.date and d.date > self.as_of:
            return (), flags + _flag("future_date", value)[1]
        return items, flags

    def _period(self, fld: str, value: str) -> Outcome:
        p = parse_period(value)
        if p is None:
            return _flag("bad_period", value)
        return (("period", p.label), ("period_start", p.start), ("period_end", p.end)), ()

    def _money(self, fld: str, value: str) -> Outcome:
        amount = parse_money(value, self.money_hint.get(fld))
        if amount is None:
            return _flag("bad_amount", value)
        return ((fld, amount),), ()

    def _quantity(self, fld: str, value: str) -> Outcome:
        q = parse_money(value)
        if q is None:
            return _flag("bad_amount", value)
        return ((fld, q),), ()

    def _ratio(self, fld: str, value: str) -> Outcome:
        r = parse_ratio(value)
        if r is None:
            return _flag("bad_ratio", value)
        return ((fld, r),), ()

    def _phone(self, fld: str, value: str) -> Outcome:
        ph = parse_phone(value)
        if ph.valid:
            return (("phone", ph.key), ("phone_type", ph.type)), ()
        return _flag("bad_phone", value, personal=self.kind == "person")

    def _gender(self, fld: str, value: str) -> Outcome:
        return (("gender", _GENDER.get(value.strip())),), ()

    def _features(self, raw: dict[str, str], std: dict[str, Any]) -> None:
        """Comparison features for linkage: normalised names, 字号, pinyin, parsed address."""
        name = raw.get("name")
        person_subject = self.kind == "person" or (
            self.kind in ("credit_event", "fact", "tax_declaration")
            and "id18" in std
            and "uscc" not in std
        )
        full = self.kind in ("enterprise", "person")
        if name:
            items = self._names.get((name, person_subject))
            if items is None:
                items = self._name_features(name, person_subject)
            std.update(items)
        if raw.get("former_name"):
            std["former_name_norm"] = normalise_enterprise_name(raw["former_name"]).normalised
        for fld in ENTERPRISE_NAME_FIELDS:
            if raw.get(fld):
                std[f"{fld}_norm"] = normalise_enterprise_name(raw[fld]).normalised
        for fld in PERSON_NAME_FIELDS:
            if raw.get(fld):
                std[f"{fld}_norm"] = normalise_person_name(raw[fld])
        if raw.get("holder_name"):
            holder_is_person = bool(std.get("holder_id_number")) or raw.get(
                "holder_type", ""
            ).startswith("自然人")
            std["holder_name_norm"] = (
                normalise_person_name(raw["holder_name"])
                if holder_is_person
                else normalise_enterprise_name(raw["holder_name"]).normalised
            )
        if full and raw.get("address"):
            a = parse_address(raw["address"])
            std["address_norm"] = a.canonical
            if a.district_code:
                std["district_code"] = a.district_code

    def _name_features(self, name: str, person_subject: bool) -> Items:
        """The comparison forms of the record's own name (memoised by name)."""
        # Records of the entity kinds get every comparison feature; the others (roles, events,
        # …) only name their subjects, so normalised names are all they need.
        full = self.kind in ("enterprise", "person")
        std: dict[str, Any] = {}
        if person_subject:
            n = normalise_person_name(name)
            std["name_norm"] = n
            if full:
                std["name_pinyin"] = person_pinyin_key(n)
        else:
            en = normalise_enterprise_name(name)
            std["name_norm"] = en.normalised
            if en.former_name:
                std["former_name_norm"] = normalise_enterprise_name(en.former_name).normalised
            if full:
                _enterprise_name_features(en, std)
        items = tuple(std.items())
        if len(self._names) >= MEMO_CAP:
            self._names.clear()
        self._names[(name, person_subject)] = items
        return items


def _enterprise_name_features(en: EnterpriseName, std: dict[str, Any]) -> None:
    """字号, name body, branch, region and form of an enterprise record's name."""
    std["name_core"] = en.core
    std["name_body"] = en.body
    std["name_core_pinyin"] = en.core_pinyin
    std["is_branch"] = en.is_branch
    if en.branch_part:
        std["branch_part"] = en.branch_part
    if en.parent:
        std["parent_name_norm"] = en.parent
    if en.region:
        code = region_code(en.region)
        if code:
            std["name_region_code"] = code
    if en.form:
        std["form"] = en.form
