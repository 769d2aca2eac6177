"""Shared fixtures: generated batches in temporary directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.generate import GenerateConfig, Summary, generate

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "fixtures" / "sample"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary]:
    """A mid-sized batch (all 32 departments) generated once per test session."""
    out = tmp_path_factory.mktemp("gen")
    summary = generate(
        GenerateConfig(out=out, enterprises=1500, persons=2000, departments=32, seed=11)
    )
    return out, summary
