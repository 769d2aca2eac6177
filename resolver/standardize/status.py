"""Registration status (登记状态) of an enterprise, standardised to the terms of the
registration authorities: 存续, 在业, 吊销, 注销, 迁出, 撤销, 停业, 歇业, 清算.

Departments write the same status in several ways (``存续（在营、开业、在册）``, ``吊销，未注销``,
``已注销``); the first matching rule below wins, so ``吊销，未注销`` is 吊销. A value that matches
no rule is kept as written (stripped): never guessed, never dropped.
"""

from __future__ import annotations

#: (fragment, standard term) in the order they are tried.
RULES: tuple[tuple[str, str], ...] = (
    ("吊销", "吊销"),
    ("撤销", "撤销"),
    ("注销", "注销"),
    ("迁出", "迁出"),
    ("清算", "清算"),
    ("歇业", "歇业"),
    ("停业", "停业"),
    ("在业", "在业"),
    ("存续", "存续"),
    ("在营", "存续"),
    ("开业", "存续"),
    ("在册", "存续"),
)


def registration_status(value: object) -> str | None:
    """The standard term for a raw status value, the stripped value when no rule matches,
    None when blank."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    for fragment, term in RULES:
        if fragment in text:
            return term
    return text
