"""Chinese telephone numbers: mobile, landline (area code + local), service lines (DOMAIN.md 3)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_EXT = re.compile(r"(?:转|ext\.?|x|分机)\s*(\d{1,6})\s*$", re.IGNORECASE)
_MOBILE = re.compile(r"1[3-9]\d{9}")


@dataclass(frozen=True, slots=True)
class Phone:
    """A parsed number. ``type`` is mobile, landline, landline_no_area, service or invalid."""

    type: str
    national: str | None = None
    e164: str | None = None
    area_code: str | None = None
    local: str | None = None
    extension: str | None = None

    @property
    def valid(self) -> bool:
        return self.type != "invalid"

    @property
    def key(self) -> str | None:
        """Comparison key: E.164 where known, else the national or local digits."""
        return self.e164 or self.national or self.local


def _area_code_length(digits: str) -> int:
    # 010 and 02x are three digits with the trunk 0; every other area code is four.
    return 3 if digits.startswith(("010", "02")) else 4


_MOBILE_SECOND = frozenset("3456789")


def is_plain_mobile(raw: str) -> bool:
    """True for 11 ASCII digits of a mobile number (``13812345678``), the common form: then
    :func:`parse_phone` gives ``Phone("mobile", national=raw, e164="+86" + raw)``, and a
    caller that needs only the key and type can skip building it."""
    return (
        len(raw) == 11
        and raw[0] == "1"
        and raw[1] in _MOBILE_SECOND
        and raw.isdigit()
        and raw.isascii()
    )


@lru_cache(maxsize=200_000)
def parse_phone(raw: str) -> Phone:
    """Parse a phone number as departments write it (``+86``, ``(0757)``, ``转8012`` …)."""
    text = unicodedata.normalize("NFKC", raw).strip()
    extension = None
    m = _EXT.search(text)
    if m:
        extension = m.group(1)
        text = text[: m.start()]
    had_country = False
    text = text.replace("(0)", "")
    compact = re.sub(r"[\s\-()（）.]", "", text)
    for prefix in ("+86", "0086"):
        if compact.startswith(prefix):
            compact, had_country = compact[len(prefix) :], True
            break
    else:
        if re.match(r"^86[\s\-]", text):
            compact, had_country = compact[2:], True
    if not compact.isdigit():
        return Phone("invalid")
    if _MOBILE.fullmatch(compact):
        return Phone("mobile", national=compact, e164="+86" + compact)
    if re.fullmatch(r"[48]00\d{7}", compact):
        return Phone("service", national=compact)
    if had_country and not compact.startswith("0"):
        compact = "0" + compact
    if compact.startswith("0") and len(compact) >= 10:
        n = _area_code_length(compact)
        area, local = compact[:n], compact[n:]
        if 7 <= len(local) <= 8:
            return Phone(
                "landline",
                national=compact,
                e164="+86" + compact[1:],
                area_code=area,
                local=local,
                extension=extension,
            )
        return Phone("invalid")
    if 7 <= len(compact) <= 8 and compact[0] != "0":
        return Phone("landline_no_area", local=compact, extension=extension)
    return Phone("invalid")
