"""Mentions keep their subjects in a stateful run that changes nothing about them.

A credit event that names its subject by name or by a masked ID number resolves against the
subject index. A stateful run keeps only the clusters the batch touches in memory, so the
stored ones must be found too: the same files delivered again under a new batch_id change no
record, and every mention must resolve exactly as it did the first time.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import yaml

from resolver.linkage.link import LinkConfig
from resolver.state.incremental import run_link_stateful
from tests.conftest import SAMPLE


def _mentions(run: Path) -> dict[tuple[str, str], tuple[str, str]]:
    with (run / "links.csv").open(encoding="utf-8", newline="") as fh:
        return {
            (r["dept"], r["record_id"]): (r["entity_id"], r["decision"])
            for r in csv.DictReader(fh)
            if r["kind"] in ("credit_event", "fact", "tax_declaration")
        }


def test_a_redelivered_batch_resolves_every_mention_as_before(tmp_path: Path) -> None:
    again = tmp_path / "again"
    shutil.copytree(SAMPLE / "batch", again)
    manifest = yaml.safe_load((again / "manifest.yaml").read_text("utf-8"))
    manifest["batch_id"] = f"{manifest['batch_id']}-again"
    (again / "manifest.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), "utf-8")

    state = tmp_path / "state"
    run_link_stateful(SAMPLE / "batch", tmp_path / "run1", state, LinkConfig())
    run_link_stateful(again, tmp_path / "run2", state, LinkConfig())
    first, second = _mentions(tmp_path / "run1"), _mentions(tmp_path / "run2")

    by_name = {k for k, (_, how) in first.items() if how.startswith("by_name") or "masked" in how}
    assert len(by_name) > 20  # the sample has name-only and masked-ID subjects
    assert set(second) == set(first)
    lost = {k: (first[k], second[k]) for k in first if first[k][0] != second[k][0]}
    assert lost == {}
