"""Lifecycle and registration status of a node, whichever loader wrote it.

The graph-truth change adds ``lifecycle`` and ``registration_status`` properties; older
loads kept the golden lifecycle in ``status`` (and overwrote the registration status).
"""

from __future__ import annotations

from typing import Any

LIFECYCLES = frozenset({"active", "merged", "retired"})


def lifecycle_of(props: dict[str, Any]) -> str:
    if props.get("lifecycle"):
        return str(props["lifecycle"])
    if props.get("merged_into"):
        return "merged"
    status = props.get("status")
    return str(status) if status in LIFECYCLES else "active"


def registration_status_of(props: dict[str, Any]) -> str | None:
    if props.get("registration_status"):
        return str(props["registration_status"])
    status = props.get("status")
    return None if status is None or status in LIFECYCLES else str(status)
