"""The enterprise helper process of a run builds golden records from records that keep only
survivorship.GOLDEN_FIELDS (half their memory at a million records): the golden records
and their conflicts must be those of whole records."""

from __future__ import annotations

from dataclasses import replace

import pytest

from resolver.ingest.manifest import load_manifest
from resolver.linkage.link import LinkConfig, _ingest, golden_ids, link_kind
from resolver.linkage.survivorship import GOLDEN_FIELDS, build_golden
from tests.conftest import SAMPLE


@pytest.mark.parametrize("kind", ["enterprise", "person"])
def test_golden_records_need_only_the_golden_fields(kind: str) -> None:
    records, _rejects, _files = _ingest(load_manifest(SAMPLE / "batch"), None, workers=1)
    recs = [r for r in records.values() if r.kind == kind]
    res = link_kind(kind, recs, LinkConfig(salt="x"))
    std_keys, raw_keys = GOLDEN_FIELDS[kind]
    slim = [
        replace(
            r,
            std={k: v for k, v in r.std.items() if k in std_keys},
            raw={k: v for k, v in r.raw.items() if k in raw_keys},
        )
        for r in recs
    ]
    assert sum(len(r.std) + len(r.raw) for r in slim) < sum(
        len(r.std) + len(r.raw) for r in recs
    )  # it does strip fields
    merged = conflicted = 0
    for gid, members in zip(golden_ids(kind, recs, res.clusters), res.clusters, strict=True):
        whole = build_golden(gid, kind, [recs[i] for i in members], "2026-01-01", "x")
        kept = build_golden(gid, kind, [slim[i] for i in members], "2026-01-01", "x")
        assert kept == whole, gid
        merged += len(members) > 1
        conflicted += bool(whole.conflicts)
    assert merged > 20 and conflicted > 5  # clusters with several sources and conflicts
