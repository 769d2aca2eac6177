"""Names and addresses standardised once per distinct value (FeatureMemo) give every record
exactly what standardising each record on its own gives; link's ingest leaves no memo behind."""

from __future__ import annotations

from typing import Any

import pytest

from resolver.ingest.manifest import load_manifest
from resolver.ingest.rows import Record, ingest
from resolver.linkage.link import _ingest
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
