"""Names and addresses standardised once per distinct value (FeatureMemo) give every record
exactly what standardising each record on its own gives; link's ingest leaves no memo behind;
a worker's records travel as one marshal blob."""

from __future__ import annotations

import marshal
from typing import Any

import pytest

from resolver.ingest.manifest import load_manifest
from resolver.ingest.rows import Record, ingest
from resolver.linkage.link import _ingest, _ingest_group_marshalled, source_groups
from resolver.standardize import names
from resolver.standardize.addresses import parse_address
from resolver.standardize.names import normalise_enterprise_name, normalise_person_name
from resolver.standardize.records import MEMO, clear_memo
from tests.conftest import SAMPLE


def _std_items(limit: int | None, monkeypatch: pytest.MonkeyPatch) -> dict[Any, list[Any]]:
    clear_memo()
    if limit is not None:
        monkeypatch.setattr(MEMO, "limit", limit)
    manifest = load_manifest(SAMPLE / "batch")
    out = {}
    for _stats, event in ingest(manifest, features=True, extra=False):
        if isinstance(event, Record):
            # key order included: the run files list std keys in the order they were set
            out[event.key] = [(k, v, type(v).__name__) for k, v in event.std.items()]
    clear_memo()
    return out


def test_memoised_features_equal_fresh_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    memoised = _std_items(None, monkeypatch)
    fresh = _std_items(1, monkeypatch)  # a table of one value: emptied before each new one
    assert memoised.keys() == fresh.keys()
    assert len(memoised) > 1000
    differing = [k for k in memoised if memoised[k] != fresh[k]]
    assert differing == []


def test_memoised_features_agree_with_the_standardize_functions() -> None:
    clear_memo()
    manifest = load_manifest(SAMPLE / "batch")
    checked = {"enterprise": 0, "person": 0, "address": 0}
    for _stats, event in ingest(manifest, features=True, extra=False):
        if not isinstance(event, Record) or "name" not in event.raw:
            continue
        std, raw = event.std, event.raw
        if event.kind == "enterprise":
            en = normalise_enterprise_name(raw["name"])
            assert (std["name_norm"], std["name_core"], std["name_body"]) == (
                en.normalised,
                en.core,
                en.body,
            )
            assert (std["is_branch"], std.get("form")) == (en.is_branch, en.form)
            checked["enterprise"] += 1
        elif event.kind == "person":
            assert std["name_norm"] == normalise_person_name(raw["name"])
            checked["person"] += 1
        if event.kind in ("enterprise", "person") and raw.get("address"):
            a = parse_address(raw["address"])
            assert std["address_norm"] == a.canonical
            assert std.get("district_code") == a.district_code
            checked["address"] += 1
    clear_memo()
    assert min(checked.values()) > 100, checked


def test_link_ingest_leaves_no_memo() -> None:
    records, _rejects, _files = _ingest(load_manifest(SAMPLE / "batch"), None, workers=1)
    assert records
    assert all(not t for t in MEMO.subjects.values())
    assert not MEMO.canonical and not MEMO.person_names and not MEMO.addresses
    assert names.to_simplified.cache_info().currsize == 0


def test_worker_records_travel_as_one_marshal_blob() -> None:
    manifest = load_manifest(SAMPLE / "batch")
    group = next(g for g in source_groups(manifest) if g[0].kind == "enterprise")
    sent, rejects, files = _ingest_group_marshalled(manifest, group)
    assert isinstance(sent, bytearray)
    rows = marshal.loads(sent)
    expected = {
        (e.dept, e.kind, e.record_id): e
        for _s, e in ingest(manifest, sources=group, extra=False)
        if isinstance(e, Record)
    }
    assert len(rows) == len(expected) > 100
    for dept, file, line, rid, kind, raw, std in rows:
        rec = expected[(dept, kind, rid)]
        assert (file, line, raw) == (rec.file, rec.line, rec.raw)
        assert list(std.items()) == list(rec.std.items())
    assert [f.file for f in files] == [s.file for s in group]
    assert sum(f.rejected for f in files) == len(rejects)
