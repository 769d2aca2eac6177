"""Blocking over arrays (resolver/linkage/blocking.py) against the per-block definition it
replaces: every pair of a block of at most ``max_block`` records, and each record of a
larger block with its ``window - 1`` neighbours in every sort order
(compare.neighbourhood_pairs) — on the committed sample batch, with small block limits so
that many blocks take the sorted-neighbourhood path."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np
import pytest

from resolver.ingest.manifest import load_manifest
from resolver.ingest.rows import Record, ingest
from resolver.linkage.blocking import KeyTable, candidate_pairs, training_eligibility
from resolver.linkage.compare import (
    BLOCK_FEATURES,
    ENTERPRISE_FEATURES,
    PERSON_FEATURES,
    EntityRecord,
    blocking_keys,
    entity_record,
    neighbourhood_pairs,
)
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def sample_records() -> dict[str, list[EntityRecord]]:
    latest: dict[tuple[str, str, str], Record] = {}
    for _stats, event in ingest(load_manifest(SAMPLE / "batch"), features=True):
        if isinstance(event, Record) and event.kind in ("enterprise", "person"):
            latest[event.key] = event
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for rec in latest.values():
        by_kind[rec.kind].append(rec)
    return {k: [entity_record(i, r) for i, r in enumerate(v)] for k, v in by_kind.items()}


def _reference(
    ers: list[EntityRecord], max_block: int, window: int
) -> tuple[set[tuple[int, int]], int]:
    blocks: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for e in ers:
        for key in dict.fromkeys(blocking_keys(e)):
            blocks[key].append(e.idx)
    pairs: set[tuple[int, int]] = set()
    windowed = 0
    for members in blocks.values():
        if len(members) < 2:
            continue
        if len(members) > max_block:
            windowed += 1
            found = list(neighbourhood_pairs([ers[i] for i in members], window))
        else:
            found = list(combinations(members, 2))
        pairs.update((min(a, b), max(a, b)) for a, b in found if a != b)
    return pairs, windowed


@pytest.mark.parametrize("kind", ["enterprise", "person"])
@pytest.mark.parametrize(("max_block", "window"), [(40, 10), (4, 3), (2, 2)])
def test_candidate_pairs_equal_the_per_block_definition(
    sample_records: dict[str, list[EntityRecord]], kind: str, max_block: int, window: int
) -> None:
    ers = sample_records[kind]
    expected, expected_windowed = _reference(ers, max_block, window)
    pairs, windowed = candidate_pairs(ers, KeyTable.build(ers), max_block, window)
    got = {(int(a), int(b)) for a, b in pairs.tolist()}
    assert len(got) == len(pairs)  # each pair once
    assert bool(np.all(pairs[:, 0] < pairs[:, 1]))
    codes = pairs[:, 0] * len(ers) + pairs[:, 1]
    assert bool(np.all(codes[1:] > codes[:-1]))  # sorted (merging goes in this order)
    assert got == expected
    assert windowed == expected_windowed
    if max_block == 2:
        assert windowed > 0  # the small limit does exercise the neighbourhood path


@pytest.mark.parametrize("kind", ["enterprise", "person"])
def test_training_eligibility_follows_the_shared_keys(
    sample_records: dict[str, list[EntityRecord]], kind: str
) -> None:
    ers = sample_records[kind]
    n_features = len(ENTERPRISE_FEATURES if kind == "enterprise" else PERSON_FEATURES)
    pairs, _ = candidate_pairs(ers, KeyTable.build(ers), 40, 10)
    elig = training_eligibility(kind, ers, pairs, n_features)
    assert elig.shape == (len(pairs), n_features)
    everything = frozenset(range(n_features))
    for k, (a, b) in enumerate(pairs.tolist()):
        shared = set(blocking_keys(ers[a])) & set(blocking_keys(ers[b]))
        biased = everything
        for key in shared:
            biased = biased & BLOCK_FEATURES[kind].get(key[0], everything)
        expected = (
            [True] * n_features if not shared else [f not in biased for f in range(n_features)]
        )
        assert elig[k].tolist() == expected, (ers[a].name, ers[b].name, shared)


@pytest.mark.parametrize("kind", ["enterprise", "person"])
def test_candidate_pairs_do_not_depend_on_the_slices_they_are_made_in(
    sample_records: dict[str, list[EntityRecord]], kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small blocks are paired a slice of whole blocks at a time (a lower peak at a million
    records): slices of a few rows, cut inside blocks and moved to their edges, give the same
    pairs as one slice."""
    from resolver.linkage import blocking

    ers = sample_records[kind]
    table = KeyTable.build(ers)
    whole, _ = candidate_pairs(ers, table, 40, 10)
    monkeypatch.setattr(blocking, "SLICE_ROWS", 7)
    sliced, _ = candidate_pairs(ers, table, 40, 10)
    assert len(whole) > 100
    assert np.array_equal(whole, sliced)
