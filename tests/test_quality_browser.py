"""The quality report opened in a real browser shows the per-department table."""

from __future__ import annotations

import json
from pathlib import Path

from resolver.ingest.check import run_check
from tests.browser import browser
from tests.conftest import SAMPLE


def test_quality_html_in_chromium(tmp_path: Path) -> None:
    res = run_check(SAMPLE / "batch", tmp_path, workers=1)
    report = json.loads(res.quality_json.read_text("utf-8"))
    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(res.quality_html.as_uri())
        assert "数据质量报告" in page.title()
        rows = page.locator("table#departments tbody tr")
        assert rows.count() == len(report["departments"]) == 32
        first = rows.nth(0).locator("td")
        assert first.nth(0).inner_text() == report["departments"][0]["dept"]
        assert first.nth(3).inner_text() == f"{report['departments'][0]['read']:,}"
        # Following a department link opens its details with the per-column table.
        dept = report["departments"][0]["dept"]
        page.click(f"a[href='#d-{dept}']")
        page.locator(f"details#d-{dept} summary").click()
        assert page.locator(f"details#d-{dept} table tbody tr").count() >= 5
        page.screenshot(path=str(tmp_path / "quality.png"), full_page=False)
    assert (tmp_path / "quality.png").stat().st_size > 10_000
