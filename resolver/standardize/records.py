"""Per-record standardisation: validate and normalise canonical fields, flag what is wrong.

A bad value never rejects a row: it is kept raw, flagged, and left out of ``std`` so that it
is never used as evidence (DESIGN.md, Contract 1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any

from resolver.standardize import dates, id_columns, names, phones
from resolver.standardize import identifiers as ids
from resolver.standardize.addresses import address_parts
from resolver.standardize.dates import parse_date, parse_money, parse_period, parse_ratio
from resolver.standardize.names import (
    EnterpriseName,
    canonical_enterprise_name,
    enterprise_name_forms,
    normalise_person_name,
    person_pinyin_key,
    region_code,
)
from resolver.standardize.phones import is_plain_mobile, parse_phone

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
#: Identifier fields whose values are checked a chunk of rows at a time (:meth:`prevalidate`).
PREVALIDATED_FIELDS = frozenset((*ENTERPRISE_ID_FIELDS, *PERSON_ID_FIELDS, *RELATED_USCC_FIELDS))


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


class Standardiser:
    """Standardises records of one source; ``columns`` maps canonical fields back to the
    department's column names for messages."""

    def __init__(
        self, kind: str, columns: dict[str, str], as_of: dt.date, features: bool = True
    ) -> None:
        self.kind = kind
        self.col = {canon: col for col, canon in columns.items()}
        self.as_of = as_of
        self.features = features
        self.handlers = self._bind_handlers(set(columns.values()))
        self.prevalidated = frozenset(columns.values()) & PREVALIDATED_FIELDS
        # Per prevalidated field: the values of the current chunk found valid at once, and
        # what they add (enterprise identifiers) or the value they set (the others).
        self._known_ids: dict[str, dict[str, tuple[str, str]]] = {}
        self._known_values: dict[str, dict[str, str]] = {}
        mapped = set(columns.values())
        self.full = kind in ("enterprise", "person")
        self.events_kind = kind in ("credit_event", "fact", "tax_declaration")
        self.has_former = "former_name" in mapped
        self.has_holder = "holder_name" in mapped
        self.has_address = self.full and "address" in mapped
        self.enterprise_name_fields = tuple(
            (f, f"{f}_norm") for f in ENTERPRISE_NAME_FIELDS if f in mapped
        )
        self.person_name_fields = tuple((f, f"{f}_norm") for f in PERSON_NAME_FIELDS if f in mapped)
        # the memo's tables of this source's record names, by whether the subject is a person
        self._subjects = MEMO.subjects
        self.money_hint = {
            canon: "万元" for col, canon in columns.items() if "万元" in col or col.endswith("万")
        }

    def flag(
        self,
        out: Standardised,
        fld: str,
        code: str,
        line: int,
        value: str,
        detail: str = "",
        personal: bool = False,
    ) -> None:
        shown = mask_identifier(value) if personal else value
        out.flags.append(
            Flag(fld, code, f"{code}: line {line}, {self.col.get(fld, fld)}={shown!r}{detail}")
        )

    # -- identifiers --------------------------------------------------------------------------
    def prevalidate(self, fld: str, values: list[str]) -> None:
        """Check the values of an identifier field in the next chunk of rows at once
        (:mod:`id_columns`): those of a common valid form then take no per-value check.
        The others, and the values of fields not prevalidated, take the general path."""
        norms = id_columns.quick_normal(values)
        col = id_columns.Column(norms)
        if fld in PERSON_ID_FIELDS:
            # The value an identity number gives: itself, or a 15-digit one's 18-digit form.
            ok = col.resident_ids(self.as_of).tolist()
            known = dict(compress(zip(values, norms, strict=True), ok))
            ok15, upgraded = col.id15s()
            known.update(zip(compress(values, ok15.tolist()), upgraded, strict=True))
            self._known_values[fld] = known
        elif fld in RELATED_USCC_FIELDS:
            ok = col.usccs().tolist()
            self._known_values[fld] = dict(compress(zip(values, norms, strict=True), ok))
        elif fld in ENTERPRISE_ID_FIELDS:
            self._known_ids[fld] = _enterprise_id_forms(fld, values, col, self.as_of)

    def _enterprise_id(self, out: Standardised, fld: str, value: str, line: int) -> None:
        known = self._known_ids.get(fld)
        if known is not None:
            hit = known.get(value)
            if hit is not None:
                form, v = hit
                std = out.std
                if form == "uscc":
                    std.setdefault("uscc", v)
                    std.setdefault("org_code", v[8:17])
                    if fld == "tax_id":
                        std.setdefault("tax_id", v)
                    elif fld in ("reg_no", "org_code"):  # noted for the quality report
                        std.setdefault("_mapping_notes", []).append(f"uscc_in_{fld}_column")
                elif form == "legacy_tax_id":
                    std.setdefault("legacy_tax_id", v)
                    std.setdefault("org_code", v[6:15])
                    std.setdefault("tax_id", v)
                else:  # reg_no, org_code, id18
                    std.setdefault(form, v)
                return
        if ids.is_excel_float(value):
            self.flag(
                out, fld, "excel_float", line, value, " identifier mangled into a number by Excel"
            )
            return
        if fld == "uscc":
            res = ids.check_uscc(value)
            if not res.valid:
                other = ids.classify_identifier(value, self.as_of)
                if (
                    other is not None
                    and other.valid
                    and other.kind in ("reg_no", "org_code", "tax_id")
                ):
                    self._use(out, other)
                    self.flag(
                        out,
                        fld,
                        f"{other.kind}_in_uscc_column",
                        line,
                        value,
                        f" holds a {other.kind}, not a USCC",
                    )
                    return
        elif fld == "tax_id":
            res = ids.check_tax_id(value, self.as_of)
        elif fld == "any_id":
            found = ids.classify_identifier(value, self.as_of)
            if found is None:
                return
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
            self._use(out, res)
            if res.kind == "uscc" and fld in ("reg_no", "org_code", "tax_id"):
                out.std.setdefault("_mapping_notes", []).append(f"uscc_in_{fld}_column")
            for f in res.flags:
                if f in ("unknown_authority", "unknown_type", "unknown_region"):
                    out.std.setdefault("_id_notes", []).append(f"{res.kind}_{f}")
            return
        code = f"bad_{res.kind}_{(res.reason or 'invalid').removeprefix('bad_')}"
        self.flag(
            out,
            fld,
            code,
            line,
            value,
            _id_detail(res),
            personal=res.kind in ("resident_id", "id15"),
        )

    def _use(self, out: Standardised, res: ids.IdCheck) -> None:
        std = out.std
        if res.kind == "uscc":
            std.setdefault("uscc", res.value)
            std.setdefault("org_code", ids.uscc_org_code(res.value))
        elif res.kind == "org_code":
            std.setdefault("org_code", res.value)
        elif res.kind == "reg_no":
            std.setdefault("reg_no", res.value)
        elif res.kind == "tax_id":
            form = res.details.get("form")
            if form == "uscc" or (form == "temporary_l" and "uscc" in res.details):
                uscc = res.details.get("uscc", res.value)
                std.setdefault("uscc", uscc)
                std.setdefault("org_code", ids.uscc_org_code(uscc))
            elif form == "legacy_15_org":
                std.setdefault("legacy_tax_id", res.value)
                std.setdefault("org_code", res.details["org_code"])
            elif "id_number" in res.details:
                std.setdefault("id18", res.details["id_number"])
            std.setdefault("tax_id", res.value)
        elif res.kind in ("resident_id", "hmt_permit", "foreign_permanent_resident"):
            std.setdefault("id18", res.value)
        elif res.kind == "id15":
            std.setdefault("id18", ids.upgrade_id15(res.value))
        elif res.kind == "foreign_old15":
            std.setdefault("foreign_id", res.value)

    def _person_id(self, out: Standardised, fld: str, value: str, line: int) -> str | None:
        if ids.is_excel_float(value):
            self.flag(
                out,
                fld,
                "excel_float",
                line,
                value,
                " ID number mangled into a number by Excel",
                personal=True,
            )
            return None
        norm = ids.normalise_identifier(value) or ""
        if len(norm) == 15 and norm.isdigit():
            res = ids.check_id15(norm)
            if res.valid:
                return ids.upgrade_id15(norm)
        elif len(norm) == 15:
            res = ids.check_foreign_old15(norm)
            if res.valid:
                return norm
        else:
            res = ids.check_resident_id(norm, self.as_of)
            if res.valid:
                return res.value
        code = f"bad_id_number_{(res.reason or 'invalid').removeprefix('bad_')}"
        self.flag(out, fld, code, line, value, _id_detail(res), personal=True)
        return None

    # -- the record ----------------------------------------------------------------------------
    def standardise(self, raw: dict[str, str], line: int) -> Standardised:
        """Validate and normalise one record's canonical values (raw holds non-blank ones)."""
        out = Standardised()
        for fld, handle in self.handlers:
            value = raw.get(fld)
            if value:
                handle(out, fld, value, line)
        if self.features:
            self._features(raw, out.std)
        return out

    def _bind_handlers(
        self, mapped: set[str]
    ) -> list[tuple[str, Callable[[Standardised, str, str, int], None]]]:
        """The handler of each field this source maps, in a fixed order (identifiers first,
        the USCC before the codes derived from it), so that no time goes to absent fields."""
        table: dict[str, Callable[[Standardised, str, str, int], None]] = {}
        for fld in ENTERPRISE_ID_FIELDS:
            table[fld] = self._enterprise_id
        for fld in PERSON_ID_FIELDS:
            table[fld] = self._person_id_field
        for fld in RELATED_USCC_FIELDS:
            table[fld] = self._related_uscc
        for fld in DATE_FIELDS:
            table[fld] = self._date
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

    def _person_id_field(self, out: Standardised, fld: str, value: str, line: int) -> None:
        known = self._known_values.get(fld)
        if known is not None and (id18 := known.get(value)) is not None:
            out.std["id18" if fld == "id_number" else fld] = id18
            return
        id18 = self._person_id(out, fld, value, line)
        if id18:
            out.std["id18" if fld == "id_number" else fld] = id18

    def _related_uscc(self, out: Standardised, fld: str, value: str, line: int) -> None:
        known = self._known_values.get(fld)
        if known is not None and (uscc := known.get(value)) is not None:
            out.std[fld] = uscc
            return
        res = ids.check_uscc(value)
        if res.valid:
            out.std[fld] = res.value
        else:
            self.flag(
                out,
                fld,
                f"bad_uscc_{(res.reason or 'invalid').removeprefix('bad_')}",
                line,
                value,
                _id_detail(res),
            )

    def _date(self, out: Standardised, fld: str, value: str, line: int) -> None:
        d = parse_date(value)
        if d.flag:
            detail = " kept with month/year precision" if d.value else " not a possible date"
            self.flag(out, fld, d.flag, line, value, detail)
        if d.value:
            out.std[fld] = d.value
            if fld == "birth_date" and d.date and d.date > self.as_of:
                self.flag(out, fld, "future_date", line, value)
                del out.std[fld]

    def _period(self, out: Standardised, fld: str, value: str, line: int) -> None:
        p = parse_period(value)
        if p is None:
            self.flag(out, fld, "bad_period", line, value)
        else:
            out.std["period"] = p.label
            out.std["period_start"], out.std["period_end"] = p.start, p.end

    def _money(self, out: Standardised, fld: str, value: str, line: int) -> None:
        amount = parse_money(value, self.money_hint.get(fld))
        if amount is None:
            self.flag(out, fld, "bad_amount", line, value)
        else:
            out.std[fld] = amount

    def _quantity(self, out: Standardised, fld: str, value: str, line: int) -> None:
        q = parse_money(value)
        if q is None:
            self.flag(out, fld, "bad_amount", line, value)
        else:
            out.std[fld] = q

    def _ratio(self, out: Standardised, fld: str, value: str, line: int) -> None:
        r = parse_ratio(value)
        if r is None:
            self.flag(out, fld, "bad_ratio", line, value)
        else:
            out.std[fld] = r

    def _phone(self, out: Standardised, fld: str, value: str, line: int) -> None:
        if is_plain_mobile(value):  # most numbers, mostly distinct: no Phone, no memo
            out.std["phone"] = "+86" + value
            out.std["phone_type"] = "mobile"
            return
        ph = parse_phone(value)
        if ph.valid:
            out.std["phone"] = ph.key
            out.std["phone_type"] = ph.type
        else:
            self.flag(out, fld, "bad_phone", line, value, personal=self.kind == "person")

    def _gender(self, out: Standardised, fld: str, value: str, line: int) -> None:
        out.std["gender"] = {"男": "M", "女": "F", "M": "M", "F": "F", "1": "M", "2": "F"}.get(
            value.strip()
        )

    def _features(self, raw: dict[str, str], std: dict[str, Any]) -> None:
        """Comparison features for linkage: normalised names, 字号, pinyin, parsed address.

        Each distinct value is standardised once per process (:class:`FeatureMemo`): names
        and addresses repeat across departments and rows, and every record takes the
        memoised keys and values in the order the steps below set them."""
        memo = MEMO
        name = raw.get("name")
        if name:
            person = self.kind == "person" or (
                self.events_kind and "id18" in std and "uscc" not in std
            )
            if self.full:
                found = self._subjects[person].get(name)
                std.update(found if found is not None else memo.subject(name, person))
            elif person:
                std["name_norm"] = memo.person_name(name)
            else:
                normalised, former = memo.canonical_name(name)
                std["name_norm"] = normalised
                if former:
                    std["former_name_norm"] = memo.enterprise_name(former)
        if self.has_former and (former := raw.get("former_name")):
            std["former_name_norm"] = memo.enterprise_name(former)
        for fld, key in self.enterprise_name_fields:
            if value := raw.get(fld):
                std[key] = memo.enterprise_name(value)
        for fld, key in self.person_name_fields:
            if value := raw.get(fld):
                std[key] = memo.person_name(value)
        if self.has_holder and (holder := raw.get("holder_name")):
            holder_is_person = bool(std.get("holder_id_number")) or raw.get(
                "holder_type", ""
            ).startswith("自然人")
            std["holder_name_norm"] = (
                memo.person_name(holder) if holder_is_person else memo.enterprise_name(holder)
            )
        if self.has_address and (address := raw.get("address")):
            parts = memo.addresses.get(address) or memo.address(address)
            std["address_norm"] = parts[0]
            if parts[1]:
                std["district_code"] = parts[1]


class FeatureMemo:
    """The comparison features of each distinct name and address seen in this process, as
    the keys and values a record takes (``Standardiser._features``).

    Pure functions of the value, so one memo serves every source; each table is bounded
    (emptied when it reaches :attr:`limit` values) and :meth:`clear` empties them all once a
    batch is in. Tables are only ever emptied in place: standardisers hold them."""

    def __init__(self, limit: int = 300_000) -> None:
        self.limit = limit
        #: person subject? -> name -> the keys an enterprise or person record's name gives
        self.subjects: dict[bool, dict[str, dict[str, Any]]] = {False: {}, True: {}}
        #: raw enterprise name -> (normalised, （原…） former name as written)
        self.canonical: dict[str, tuple[str, str | None]] = {}
        self.person_names: dict[str, str] = {}
        #: raw address -> (canonical form, district code or "")
        self.addresses: dict[str, tuple[str, str]] = {}

    def clear(self) -> None:
        tables: list[dict[str, Any]] = [*self.subjects.values(), self.canonical]
        for table in (*tables, self.person_names, self.addresses):
            table.clear()

    def _room(self, table: dict[Any, Any]) -> None:
        if len(table) >= self.limit:
            table.clear()

    def canonical_name(self, raw: str) -> tuple[str, str | None]:
        """:func:`canonical_enterprise_name` of ``raw``."""
        found = self.canonical.get(raw)
        if found is None:
            self._room(self.canonical)
            found = self.canonical[raw] = canonical_enterprise_name(raw)
        return found

    def enterprise_name(self, raw: str) -> str:
        """``normalise_enterprise_name(raw).normalised``, without the costlier forms."""
        found = self.canonical.get(raw)
        return (found or self.canonical_name(raw))[0]

    def person_name(self, raw: str) -> str:
        found = self.person_names.get(raw)
        if found is None:
            self._room(self.person_names)
            found = self.person_names[raw] = normalise_person_name(raw)
        return found

    def subject(self, name: str, person: bool) -> dict[str, Any]:
        """The keys the ``name`` of an enterprise or person record gives: for a person the
        normalised name and its pinyin; for an enterprise the normalised name, a （原…）
        former name and every comparison form."""
        table = self.subjects[person]
        found = table.get(name)
        if found is not None:
            return found
        if person:
            n = self.person_name(name)
            found = {"name_norm": n, "name_pinyin": person_pinyin_key(n)}
        else:
            en = enterprise_name_forms(name)
            if name not in self.canonical:
                self._room(self.canonical)
                self.canonical[name] = (en.normalised, en.former_name)
            found = {"name_norm": en.normalised}
            if en.former_name:
                found["former_name_norm"] = self.enterprise_name(en.former_name)
            _enterprise_name_features(en, found)
        self._room(table)
        table[name] = found
        return found

    def address(self, raw: str) -> tuple[str, str]:
        found = self.addresses.get(raw)
        if found is None:
            a = address_parts(raw)
            self._room(self.addresses)
            found = self.addresses[raw] = (a.canonical, a.district_code or "")
        return found


#: This process's memo of name and address features (see :func:`clear_memo`).
MEMO = FeatureMemo()


def load_tables() -> None:
    """Load the tables standardisation reads (divisions, place names, opencc, pinyin) now: a
    worker process forked afterwards shares them instead of loading its own."""
    address_parts("广东省佛山市南海区桂城街道")
    enterprise_name_forms("佛山市南海区华瑞机械设备有限公司")
    person_pinyin_key(normalise_person_name("张三"))
    region_code("佛山南海")


def clear_memo() -> None:
    """Forget the memoised features and the per-value memos of the field checks (a batch's
    ingest is over: the memory goes to linkage; a later call computes again)."""
    MEMO.clear()
    for memo in (
        names.to_simplified,
        names._pinyin,
        names.person_pinyin_key,
        names.normalise_person_name,
        dates.parse_date,
        dates._parse_money,
        phones.parse_phone,
        ids.normalise_identifier,
        ids.check_uscc,
        ids.check_org_code,
        ids.check_reg_no,
        ids.check_resident_id,
        ids.check_id15,
        ids.check_tax_id,
        ids.classify_identifier,
    ):
        memo.cache_clear()


def _enterprise_id_forms(
    fld: str, values: list[str], col: id_columns.Column, as_of: dt.date
) -> dict[str, tuple[str, str]]:
    """The raw values of an enterprise identifier field that are valid in a common form:
    (form, normalised value), from which ``Standardiser._enterprise_id`` sets exactly what
    its general path sets (tests/test_id_columns.py). A USCC passing every check is read as
    one in every identifier column (in any_id over the identity-number reading)."""
    masks: list[tuple[str, id_columns.Mask]] = []
    masks.append(("uscc", col.usccs()))
    if fld == "tax_id":
        masks.append(("legacy_tax_id", col.legacy_tax_ids()))
    if fld in ("reg_no", "any_id"):
        masks.append(("reg_no", col.reg_nos()))
    if fld in ("org_code", "any_id"):
        masks.append(("org_code", col.org_codes()))
    if fld == "any_id":
        # 18 characters without a valid USCC check character: an identity number, if valid.
        masks.append(("id18", col.resident_ids(as_of) & col.uscc_check_fails()))
    known: dict[str, tuple[str, str]] = {}
    for form, mask in masks:
        ok = mask.tolist()
        known.update(
            zip(compress(values, ok), zip(repeat(form), compress(col.values, ok)), strict=True)
        )
    return known


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
