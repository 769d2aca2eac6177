"""Which encoding a CSV file is really in: the declared one, checked on a sample."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

SAMPLE_BYTES = 256 * 1024
BOM = b"\xef\xbb\xbf"
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class EncodingChoice:
    """The encoding actually used for a file, and a warning when it is not the declared one."""

    encoding: str
    warning: str | None = None


def _decodes(lines: list[bytes], encoding: str) -> float:
    ok = 0
    for line in lines:
        try:
            line.decode(encoding)
            ok += 1
        except UnicodeDecodeError:
            pass
    return ok / len(lines) if lines else 1.0


def detect_encoding(path: Path, declared: str, expect: str = "") -> EncodingChoice:
    """Check the declared encoding on a sample; fall back to detection when it is wrong.

    A few undecodable rows are rejected row by row; only when most of the sample fails (or a
    GBK file is really valid UTF-8) is another encoding used, with a warning. A UTF-8
    byte-order mark is always taken off (``utf-8-sig``). ``expect`` is a column name the
    header must hold (the record-id column): when it is non-ASCII and its bytes in the
    declared encoding are in the sample, the declared encoding is proven and kept.
    """
    if path.suffix.lower() != ".csv":
        return EncodingChoice("utf-8")
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if sample.startswith(BOM):
        if declared not in ("utf-8", "utf-8-sig"):
            return EncodingChoice(
                "utf-8-sig",
                f"declared {declared}, but the file starts with a UTF-8 byte-order mark",
            )
        return EncodingChoice("utf-8-sig")
    base = "utf-8" if declared == "utf-8-sig" else declared
    if expect and not expect.isascii():
        try:
            if expect.encode(base) in sample:
                return EncodingChoice(base)
        except (UnicodeEncodeError, LookupError):
            pass
    parts = _LINE_BREAK.split(sample)
    if len(parts) > 1:
        parts = parts[:-1]  # the last one may be cut in the middle of a character
    lines = [ln for ln in parts if ln.strip()] or [sample]
    ok = _decodes(lines, base)
    non_ascii = any(b > 127 for b in sample)
    if declared in ("gbk", "gb18030") and non_ascii and _decodes(lines, "utf-8") == 1.0:
        return EncodingChoice("utf-8", f"declared {declared}, but the file is valid UTF-8")
    if ok >= 0.9:
        return EncodingChoice(base)
    for candidate in ("utf-8", "gbk", "gb18030"):
        if candidate != base and _decodes(lines, candidate) >= 0.99:
            return EncodingChoice(
                candidate,
                f"declared {declared}, but {ok:.0%} of sampled lines decode; detected {candidate}",
            )
    best = from_bytes(sample).best()
    if best is not None and best.encoding:
        enc = best.encoding.replace("_", "-")
        # Only encodings in which a line break is the byte 0x0A/0x0D keep line numbers right.
        if enc.startswith(("utf-16", "utf-32")):
            return EncodingChoice(base)
        return EncodingChoice(
            enc, f"declared {declared}, but {ok:.0%} of sampled lines decode; detected {enc}"
        )
    return EncodingChoice(base)
