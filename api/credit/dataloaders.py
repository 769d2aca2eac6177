"""Credit profiles for lists: one batch of profiles per request tick, never one per row."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from aiodataloader import DataLoader

from api.graphio import ApiGraph
from credit.service import CreditProfile, credit_profiles_async

#: (golden ID, as-of day or None for today, whether restricted events are included)
ProfileKey = tuple[str, dt.date | None, bool]


def is_golden_id(key: str) -> bool:
    """Whether a key is shaped like a golden ID (``E…``/``P…``), as credit/service.py reads it."""
    return key[:1] in ("E", "P") and key[1:].isalnum() and key.isascii()


class ProfileLoader(DataLoader[ProfileKey, CreditProfile | None]):
    """Profiles of golden IDs through credit/service.py's batched plan: the keys of one batch
    are grouped by (label, day, restricted), and each group costs a fixed number of graph
    queries (nodes, neighbourhoods, and for persons their firms' events)."""

    def __init__(self, graph: ApiGraph) -> None:
        super().__init__(max_batch_size=500)
        self.graph = graph

    async def batch_load_fn(self, keys: list[ProfileKey]) -> list[CreditProfile | None]:
        groups: dict[tuple[str, dt.date | None, bool], list[str]] = defaultdict(list)
        for uid, day, restricted in keys:
            lab = "Person" if uid.startswith("P") else "Enterprise"
            groups[(lab, day, restricted)].append(uid)
        found: dict[tuple[str, dt.date | None, bool], CreditProfile] = {}
        for (lab, day, restricted), uids in groups.items():
            got = await credit_profiles_async(
                self.graph,
                list(dict.fromkeys(uids)),
                day,
                label_of=lab,
                include_restricted=restricted,
            )
            found.update({(u, day, restricted): p for u, p in got.items()})
        return [found.get(k) for k in keys]


def profiles(graph: ApiGraph) -> ProfileLoader:
    return ProfileLoader(graph)
