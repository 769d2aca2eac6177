"""Table-driven address parsing against the division table (DOMAIN.md 3).

Splits an address into province / city / district / street / rest, accepting omitted
suffixes (佛山南海 = 佛山市南海区), omitted levels and historical names (南海县 → 南海区),
and gives a canonical form for comparison.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from resolver.standardize.divisions import load_divisions, strip_place_suffix

#: Historical county names mapped forward to today's district codes.
HISTORICAL_NAMES: dict[str, str] = {
    "南海县": "440605",
    "南海市": "440605",
    "顺德县": "440606",
    "顺德市": "440606",
    "三水县": "440607",
    "高明县": "440608",
    "番禺县": "440113",
    "番禺市": "440113",
    "花县": "440114",
    "花都市": "440114",
    "增城市": "440118",
    "从化市": "440117",
    "宝安县": "440306",
    "崇文区": "110101",
    "宣武区": "110102",
    "卢湾区": "310101",
    "闸北区": "310106",
    "南汇区": "310115",
}
_STREET_SUFFIXES = ("街道办事处", "街道", "镇", "乡", "地区办事处")
_MUNICIPAL_PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    """The parts found; unset parts are None. ``ambiguous`` when the district was found
    without a province or city to anchor it."""

    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    rest: str = ""
    district_code: str | None = None
    historical_name: str | None = None
    ambiguous: bool = False

    @property
    def canonical(self) -> str:
        """Comparison form: district code + street + the rest without spaces."""
        return f"{self.district_code or ''}|{self.street or ''}|{self.rest}"


@dataclass(frozen=True, slots=True)
class _Index:
    provinces: dict[str, list[str]]  # name (full/short) -> province codes
    cities: dict[str, list[str]]  # name -> city codes
    districts: dict[str, list[str]]  # name -> district codes
    #: Per table: the first two characters of its names -> the longest such name, so that a
    #: prefix search tries only the lengths that can match (:func:`_reach`).
    province_reach: dict[str, int]
    city_reach: dict[str, int]
    district_reach: dict[str, int]


def _reach(names: Iterable[str]) -> dict[str, int]:
    """The first two characters of each name (of two or more) -> the longest name they begin."""
    out: dict[str, int] = {}
    for n in names:
        if len(n) >= 2 and len(n) > out.get(n[:2], 0):
            out[n[:2]] = len(n)
    return out


@lru_cache(maxsize=1)
def _index() -> _Index:
    div = load_divisions()
    provinces: dict[str, list[str]] = defaultdict(list)
    for p in div.provinces.values():
        for n in {p.name, strip_place_suffix(p.name)}:
            provinces[n].append(p.code)
    cities: dict[str, list[str]] = defaultdict(list)
    for c in div.cities.values():
        if c.name in _MUNICIPAL_PLACEHOLDERS:
            continue
        for n in {c.name, strip_place_suffix(c.name)}:
            cities[n].append(c.code)
    districts: dict[str, list[str]] = defaultdict(list)
    for d in div.districts.values():
        for n in {d.name, strip_place_suffix(d.name)}:
            if len(n) >= 2:
                districts[n].append(d.code)
    for name, code in HISTORICAL_NAMES.items():
        districts[name].append(code)
        districts[strip_place_suffix(name)].append(code)
    return _Index(
        dict(provinces),
        dict(cities),
        dict(districts),
        _reach(provinces),
        _reach(cities),
        _reach(districts),
    )


@cache  # bounded by the district table
def _streets(district: str) -> tuple[dict[str, str], dict[str, int]] | None:
    """A district's streets: name (full/short) -> full street name, with its
    :func:`_reach`; None for a district without streets. Built on first use (a batch of a
    few thousand rows names a small part of the ~3,000 districts)."""
    items = load_divisions().streets_by_district.get(district)
    if items is None:
        return None
    table: dict[str, str] = {}
    for s in items:
        table[s.name] = s.name
        short = strip_place_suffix(s.name, _STREET_SUFFIXES)
        if len(short) >= 2:
            table.setdefault(short, s.name)
            for suffix in ("镇", "街道", "乡"):
                table.setdefault(short + suffix, s.name)
    return table, _reach(table)


def _match(
    text: str,
    table: dict[str, list[str]],
    allowed: set[str] | None,
    width: int,
    reach: dict[str, int],
) -> tuple[str, str] | None:
    """Longest prefix of ``text`` naming an entry (restricted to codes starting with ``allowed``)."""
    top = reach.get(text[:2])
    if top is None:
        return None
    for n in range(min(len(text), 12, top), 1, -1):
        codes = table.get(text[:n])
        if not codes:
            continue
        if allowed is not None:
            codes = [c for c in codes if c[:width] in allowed]
        if codes:
            return text[:n], codes[0] if len(set(codes)) == 1 else "?" + ",".join(
                sorted(set(codes))
            )
    return None


@lru_cache(maxsize=131_072)
def parse_address(raw: str, city_hint: str | None = None) -> ParsedAddress:
    """Split an address; ``city_hint`` (a 4-digit city code) resolves ambiguous districts."""
    return address_parts(raw, city_hint)


def address_parts(raw: str, city_hint: str | None = None) -> ParsedAddress:
    """:func:`parse_address` without its memo (for callers that keep their own)."""
    idx = _index()
    div = load_divisions()
    text = "".join(unicodedata.normalize("NFKC", raw).split())
    province = city = None
    pos = 0
    m = _match(text, idx.provinces, None, 2, idx.province_reach)
    if m and not m[1].startswith("?"):
        province = m[1]
        pos = len(m[0])
    m = _match(text[pos:], idx.cities, {province} if province else None, 2, idx.city_reach)
    if m and not m[1].startswith("?"):
        city = m[1]
        province = province or city[:2]
        pos += len(m[0])
    elif (
        province
        and div.cities.get(province + "01")
        and div.cities[province + "01"].name in _MUNICIPAL_PLACEHOLDERS
    ):
        city = province + "01"  # municipality: the province is the city
    allowed = {city} if city else ({city_hint} if city_hint else None)
    district = None
    historical = None
    ambiguous = False
    m = _match(text[pos:], idx.districts, allowed, 4, idx.district_reach)
    if m is None and city is None and province is not None:
        m = _match(text[pos:], idx.districts, {province}, 2, idx.district_reach)
    if m:
        code = m[1]
        if code.startswith("?"):
            ambiguous = True
            code = code[1:].split(",")[0]
        historical = m[0] if m[0] in HISTORICAL_NAMES else None
        district = code
        pos += len(m[0])
        if city is None and province is None and city_hint is None:
            ambiguous = True
        city = city or district[:4]
        province = province or district[:2]
    street = None
    if district and (found := _streets(district)) is not None:
        table, reach = found
        rest = text[pos:]
        top = reach.get(rest[:2], 0)
        for n in range(min(len(rest), 12, top), 1, -1):
            if rest[:n] in table:
                street = table[rest[:n]]
                pos += n
                break
    if district is None:
        return ParsedAddress(
            province=div.provinces[province].name if province else None,
            city=div.city_name(city) if city else None,
            rest=text[pos:],
        )
    d = div.districts[district]
    return ParsedAddress(
        province=div.provinces[d.province].name,
        city=div.city_name(d.city),
        district=d.name,
        street=street,
        rest=text[pos:],
        district_code=district,
        historical_name=historical,
        ambiguous=ambiguous,
    )
