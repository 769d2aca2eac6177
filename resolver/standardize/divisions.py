"""The administrative division table (NBS 统计用区划代码 2023) shipped in ``resolver/data/regions``.

Loaded lazily once per process; used by the address parser and by the data generator.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

#: Division codes abolished or renamed before 2023 that still appear in identifiers
#: (DOMAIN.md 1.6); they are accepted, never rejected.
HISTORICAL_DIVISIONS: dict[str, tuple[str, str]] = {
    "110103": ("崇文区", "110101"),
    "110104": ("宣武区", "110102"),
    "310103": ("卢湾区", "310101"),
    "310108": ("闸北区", "310106"),
    "440681": ("顺德市", "440606"),
    "440682": ("南海市", "440605"),
}


#: Suffixes of division names, longest first (佛山市 → 佛山, 南海区 → 南海).
PLACE_SUFFIXES = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "自治县",
    "地区",
    "省",
    "市",
    "区",
    "县",
    "盟",
    "旗",
)


def strip_place_suffix(name: str, suffixes: tuple[str, ...] = PLACE_SUFFIXES) -> str:
    """The name without its division suffix, when at least two characters remain."""
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True, slots=True)
class Province:
    code: str  # 2 digits
    name: str


@dataclass(frozen=True, slots=True)
class City:
    code: str  # 4 digits
    name: str  # 市辖区 for the municipalities' placeholder level
    province: str


@dataclass(frozen=True, slots=True)
class District:
    code: str  # 6 digits
    name: str
    city: str
    province: str


@dataclass(frozen=True, slots=True)
class Street:
    code: str  # 9 digits
    name: str
    district: str


@dataclass(frozen=True, slots=True)
class Divisions:
    """All four levels, keyed by code."""

    provinces: dict[str, Province]
    cities: dict[str, City]
    districts: dict[str, District]
    streets_by_district: dict[str, tuple[Street, ...]]

    def city_name(self, city_code: str) -> str:
        """The city's name; for municipalities (市辖区/县 placeholders) the province's name."""
        city = self.cities[city_code]
        if city.name in {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}:
            return self.provinces[city.province].name
        return city.name


def _rows(name: str) -> list[dict[str, str]]:
    ref = resources.files("resolver") / "data" / "regions" / name
    return list(csv.DictReader(io.StringIO(ref.read_text("utf-8"))))


@cache
def load_divisions() -> Divisions:
    """Read the shipped division tables (cached)."""
    provinces = {r["code"]: Province(r["code"], r["name"]) for r in _rows("provinces.csv")}
    cities = {r["code"]: City(r["code"], r["name"], r["provinceCode"]) for r in _rows("cities.csv")}
    districts = {
        r["code"]: District(r["code"], r["name"], r["cityCode"], r["provinceCode"])
        for r in _rows("areas.csv")
    }
    streets: dict[str, list[Street]] = {}
    # (csv.reader, not DictReader: 41,000 rows, read at the start of every run)
    ref = resources.files("resolver") / "data" / "regions" / "streets.csv"
    rows = csv.reader(io.StringIO(ref.read_text("utf-8")))
    header = next(rows)
    code_at, name_at, area_at = (header.index(c) for c in ("code", "name", "areaCode"))
    for row in rows:
        if not row:
            continue
        area = row[area_at]
        streets.setdefault(area, []).append(Street(row[code_at], row[name_at], area))
    return Divisions(provinces, cities, districts, {k: tuple(v) for k, v in streets.items()})


def is_known_division(code: str) -> bool:
    """True for a current county/city/province code or a known historical one."""
    if code in HISTORICAL_DIVISIONS:
        return True
    div = load_divisions()
    if code.endswith("0000"):
        return code[:2] in div.provinces
    if code.endswith("00"):
        return code[:4] in div.cities
    return code in div.districts
