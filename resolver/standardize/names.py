"""Enterprise and person names: normalisation for comparison, branch detection, 字号 and pinyin keys.

Implements the recipe of DOMAIN.md section 2 and 3. The original value is always kept by the
caller; these functions only compute comparison forms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

import opencc
from pypinyin import lazy_pinyin
from pypinyin.constants import PHRASES_DICT, RE_HANS

from resolver.standardize.divisions import load_divisions, strip_place_suffix

#: Variants that opencc's t2s leaves alone (DOMAIN.md 2, step 3).
VARIANTS = str.maketrans(
    {"彊": "疆", "汚": "污", "僞": "伪", "綫": "线", "衞": "卫", "峯": "峰", "羣": "群"}
)
_BRACKETS = str.maketrans(
    {"(": "（", ")": "）", "【": "（", "】": "）", "[": "（", "]": "）", "〔": "（", "〕": "）"}
)
_TRAILING = "。.,，;；、\"'“”‘’「」"
_WS = re.compile(r"\s+")
#: C0/C1 control characters (ESC, BEL, …): never part of a name, and in a stored name they
#: would rewrite the terminal of whoever lists it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ANNOTATION = re.compile(r"（(?:原|曾用名|现)[:：]?([^（）]*)）")
#: Organisational forms, longest first; canonical form on the right.
FORMS: tuple[tuple[str, str], ...] = (
    ("股份有限公司", "股份有限公司"),
    ("有限责任公司", "有限公司"),
    ("有限公司", "有限公司"),
    ("集团公司", "集团公司"),
    ("合伙企业（普通合伙）", "合伙企业（普通合伙）"),
    ("合伙企业（有限合伙）", "合伙企业（有限合伙）"),
    ("合伙企业（特殊普通合伙）", "合伙企业（特殊普通合伙）"),
    ("专业合作社", "专业合作社"),
    ("公司", "公司"),
)
_FORM_WORDS = (
    "股份有限公司",
    "有限公司",
    "集团公司",
    "公司",
    "合伙企业（普通合伙）",
    "合伙企业（有限合伙）",
    "合伙企业（特殊普通合伙）",
    "专业合作社",
)
_NON_COMPANY_FORMS = (
    "经营部",
    "门市部",
    "大排档",
    "商行",
    "店",
    "厂",
    "协会",
    "商会",
    "促进会",
    "研究会",
    "中心",
)
BRANCH_SUFFIXES = (
    "分公司",
    "分店",
    "分厂",
    "办事处",
    "营业部",
    "支行",
    "分行",
    "经营部",
    "分理处",
    "代表处",
    "分社",
    "分所",
)
_BRANCH = re.compile(
    "^(?P<parent>.*?(?:"
    + "|".join(map(re.escape, _FORM_WORDS))
    + r"))(?P<part>.+?(?:"
    + "|".join(map(re.escape, BRANCH_SUFFIXES))
    + "))$"
)
#: Industry and business words stripped when extracting the 字号.
INDUSTRY_WORDS = tuple(
    sorted(
        {
            "五金制品",
            "五金",
            "塑料制品",
            "电子科技",
            "机械设备",
            "纺织",
            "服装",
            "家具",
            "陶瓷",
            "食品",
            "印刷",
            "贸易",
            "商贸",
            "进出口",
            "科技",
            "信息技术",
            "网络科技",
            "建筑工程",
            "装饰工程",
            "餐饮管理",
            "酒店管理",
            "房地产开发",
            "物业管理",
            "物流",
            "运输",
            "投资",
            "咨询服务",
            "广告",
            "医药",
            "环保科技",
            "农业发展",
            "计算机系统",
            "网络",
            "信息",
            "地产",
            "咨询",
            "技术",
            "实业",
            "发展",
            "集团",
            "控股",
            "蔬菜",
            "水果",
            "花卉",
            "水产",
            "养殖",
            "茶叶",
            "制品",
            "电子",
            "石油化工",
            "钢铁",
            "银行",
            "证券",
            "创新",
        },
        key=len,
        reverse=True,
    )
)


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=200_000)
def to_simplified(text: str) -> str:
    """Traditional → simplified (opencc t2s) plus the small variant table."""
    return str(_t2s().convert(text)).translate(VARIANTS)


@dataclass(frozen=True, slots=True)
class EnterpriseName:
    """Comparison forms of one enterprise name."""

    normalised: str  # canonical full name, branch part included
    former_name: str | None  # from a （原…） annotation
    is_branch: bool
    parent: str | None  # normalised parent name for branches
    branch_part: str | None
    region: str | None  # leading or bracketed place name, as written (suffix-less)
    form: str | None  # canonical organisational form
    core: str  # the 字号 (trade name) for blocking
    core_pinyin: str
    body: str  # the name without its region (form and branch part kept), for comparison


def basic_normalise(raw: str) -> str:
    """NFKC, canonical full-width brackets, no whitespace or control characters, no trailing
    punctuation, simplified."""
    text = unicodedata.normalize("NFKC", raw).translate(_BRACKETS)
    text = _WS.sub("", _CONTROL.sub("", text)).strip(_TRAILING)
    return to_simplified(text)


def split_branch(name: str) -> tuple[str, str] | None:
    """(parent, branch part) when the name ends with a branch suffix after an organisational form."""
    m = _BRANCH.match(name)
    if not m:
        return None
    return m.group("parent"), m.group("part")


@lru_cache(maxsize=1)
def _place_names() -> tuple[frozenset[str], dict[str, str]]:
    """Place names a name may start with (full and suffix-less) and their suffix-less form."""
    div = load_divisions()
    names: set[str] = set()
    for p in div.provinces.values():
        names.add(p.name)
        names.add(strip_place_suffix(p.name))
    for c in div.cities.values():
        if c.name not in ("市辖区", "县"):
            names.add(c.name)
            names.add(strip_place_suffix(c.name))
    for d in div.districts.values():
        if len(d.name) > 2:
            names.add(d.name)
    names = {n for n in names if len(n) >= 2}
    return frozenset(names), {n: strip_place_suffix(n) for n in names}


@lru_cache(maxsize=1)
def _short_place_set() -> frozenset[str]:
    return frozenset(_place_names()[1].values())


@lru_cache(maxsize=1)
def _place_codes() -> dict[str, tuple[str, ...]]:
    """Place name (full or suffix-less) -> the division codes (2, 4 or 6 digits) it names."""
    div = load_divisions()
    found: dict[str, set[str]] = {}
    for p in div.provinces.values():
        for n in (p.name, strip_place_suffix(p.name)):
            found.setdefault(n, set()).add(p.code)
    for c in div.cities.values():
        if c.name not in ("市辖区", "县"):
            for n in (c.name, strip_place_suffix(c.name)):
                found.setdefault(n, set()).add(c.code)
    for d in div.districts.values():
        for n in (d.name, strip_place_suffix(d.name)):
            if len(n) >= 2:
                found.setdefault(n, set()).add(d.code)
    return {n: tuple(sorted(codes)) for n, codes in found.items()}


@lru_cache(maxsize=100_000)
def region_code(region: str | None) -> str | None:
    """The most specific division code a name's region part names (``佛山南海`` → 440605);
    an ambiguous place name is resolved by the place before it, else ignored."""
    if not region:
        return None
    table = _place_codes()
    best: str | None = None
    rest = region
    while rest:
        for n in range(min(len(rest), 12), 1, -1):
            codes = table.get(rest[:n])
            if codes:
                if best is not None:
                    codes = tuple(c for c in codes if c.startswith(best))
                if len(codes) == 1:
                    best = codes[0]
                rest = rest[n:]
                break
        else:
            break
    return best


def _leading_region(name: str) -> tuple[str, str]:
    """Strip leading place names (province, city, district); return (region, rest)."""
    places, short = _place_names()
    region: list[str] = []
    rest = name
    for _ in range(3):
        for n in range(min(len(rest) - 2, 12), 1, -1):  # longest place name first
            if rest[:n] in places:
                region.append(short[rest[:n]])
                rest = rest[n:]
                break
        else:
            break
    return "".join(region), rest


@cache  # bounded by the character set
def _char_pinyin(han: str) -> str:
    return "".join(lazy_pinyin(han))


def syllables(text: str) -> list[str]:
    """``lazy_pinyin(text)``, read character by character where that is what pypinyin does:
    a text of hanzi none of whose substrings is in pypinyin's phrase table is read one
    character at a time, each by its default reading (several times faster than a
    lazy_pinyin call, which segments the text first). Any other text goes to lazy_pinyin."""
    if not RE_HANS.match(text) or len(text) > 12:
        return list(lazy_pinyin(text))
    n = len(text)
    for i in range(n):
        for j in range(i + 1, n + 1):
            if text[i:j] in PHRASES_DICT:
                return list(lazy_pinyin(text))
    out = [_char_pinyin(c) for c in text]
    return out if all(out) else list(lazy_pinyin(text))


@lru_cache(maxsize=200_000)
def _pinyin(text: str) -> str:
    return "".join(syllables(text))


def canonical_enterprise_name(raw: str) -> tuple[str, str | None]:
    """The canonical full name (``EnterpriseName.normalised``) and a （原…） former name,
    without the costlier comparison forms (region, core, pinyin)."""
    return _canonical_form(basic_normalise(raw))


def canonical_enterprise_names(raws: list[str]) -> list[tuple[str, str | None]]:
    """:func:`canonical_enterprise_name` of many names, with one opencc call for all (the
    conversion dominates the cost; names hold no whitespace after step 1, so a newline
    separates them safely)."""
    pre = [
        _WS.sub("", unicodedata.normalize("NFKC", r).translate(_BRACKETS)).strip(_TRAILING)
        for r in raws
    ]
    converted = str(_t2s().convert("\n".join(pre))).translate(VARIANTS).split("\n")
    if len(converted) != len(pre):  # never expected; stay correct regardless
        converted = [to_simplified(t) for t in pre]
    return [_canonical_form(t) for t in converted]


def _canonical_form(text: str) -> tuple[str, str | None]:
    former = None
    m = _ANNOTATION.search(text)
    if m:
        former = m.group(1) or None
        text = (text[: m.start()] + text[m.end() :]).strip(_TRAILING)
    for variant, canonical in FORMS:
        if variant != canonical and variant in text:
            text = text.replace(variant, canonical)
    return text, former


@lru_cache(maxsize=131_072)
def normalise_enterprise_name(raw: str) -> EnterpriseName:
    """All comparison forms of an enterprise name (see DOMAIN.md 2, normalisation recipe)."""
    text, former = canonical_enterprise_name(raw)
    branch = split_branch(text)
    base = branch[0] if branch else text
    region, rest = _leading_region(base)
    bracket = re.search(r"（([^（）]{2,8})）", rest)
    if bracket and not bracket.group(1).endswith("合伙"):
        inner = bracket.group(1)
        _, short = _place_names()
        if inner in short or inner in _short_place_set():
            region = region or short.get(inner, inner)
            rest = rest[: bracket.start()] + rest[bracket.end() :]
    body = rest + (branch[1] if branch else "")
    form = None
    for word in _FORM_WORDS:
        if rest.endswith(word):
            form = word
            rest = rest[: -len(word)]
            break
    else:
        for word in _NON_COMPANY_FORMS:
            if rest.endswith(word) and len(rest) > len(word) + 1:
                form = word
                rest = rest[: -len(word)]
                break
    core = rest
    for word in INDUSTRY_WORDS:
        if core.endswith(word) and len(core) > len(word) + 1:
            core = core[: -len(word)]
            break
    core = core or rest
    return EnterpriseName(
        normalised=text,
        former_name=former,
        is_branch=branch is not None,
        parent=branch[0] if branch else None,
        branch_part=branch[1] if branch else None,
        region=region or None,
        form=form,
        core=core,
        core_pinyin=_pinyin(core),
        body=body,
    )


_DOTS = re.compile(r"\s*[·•‧・.．]\s*")
_CJK = re.compile(r"[\u3400-\u9fff]")


@lru_cache(maxsize=131_072)
def normalise_person_name(raw: str) -> str:
    """Person name for comparison: no spaces between hanzi, one middle dot, simplified.

    Romanised names are upper-cased with single spaces (kept apart from hanzi names).
    """
    text = _CONTROL.sub("", unicodedata.normalize("NFKC", raw)).strip()
    if _CJK.search(text):
        text = _DOTS.sub("·", text)
        text = _WS.sub("", text)
        return to_simplified(text)
    return _WS.sub(" ", text).upper()


@lru_cache(maxsize=131_072)
def person_pinyin_key(name: str) -> str:
    """Toneless pinyin of a normalised name, syllables separated by spaces (blocking only)."""
    if not _CJK.search(name):
        return name.lower()
    return " ".join(s for s in _person_syllables(name) if s.strip())


def _person_syllables(name: str) -> list[str]:
    if "·" in name:
        return list(lazy_pinyin(name.replace("·", " ")))
    return syllables(name)


@lru_cache(maxsize=10_000)
def leading_region_codes(text: str) -> tuple[str, ...]:
    """The division codes the leading place name of ``text`` may name (成都市中级人民法院 →
    ``5101``): the most specific code when unambiguous, else every code of the first place
    name (西安 is a city and two districts elsewhere)."""
    region, _rest = _leading_region(basic_normalise(text))
    if not region:
        return ()
    code = region_code(region)
    if code:
        return (code,)
    table = _place_codes()
    for n in range(min(len(region), 12), 1, -1):
        if region[:n] in table:
            return table[region[:n]]
    return ()
