"""Screenshots of the public page for the README: a real profile of the sample batch (an
enterprise on a 失信 list, with its credit grade) at desktop (1280) and phone (390) widths.

Run with ``make screenshots`` (writes docs/page-desktop.png and docs/page-phone.png)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect

from graph import server
from tests.browser import browser
from tests.credit_truth_eval import golden_to_truth
from tests.page_site import build_batch, free_port, load, serve

DOCS = Path(__file__).resolve().parent.parent / "docs"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def _richness(page: Page) -> int:
    return (
        sum(
            page.locator(f"#{box} li:not(.empty)").count()
            for box in ("warnings", "redlists", "penalties")
        )
        + page.locator("#relations svg g").count()
    )


def _open(page: Page, url: str, uscc: str) -> None:
    page.goto(url + "/")
    page.fill("#q", uscc)
    page.click("button[type=submit]")
    expect(page.locator("#profile")).to_be_visible()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="credgraph-shots-") as tmp:
        root = Path(tmp)
        batch = build_batch(root)
        golden: dict[str, dict[str, str]] = {}
        with (batch.run / "golden.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                g = json.loads(line)
                if g["type"] == "Enterprise" and g["lifecycle"] == "active":
                    golden[g["id"]] = g["attributes"]
        uid_of = {k: u for u, k in golden_to_truth(batch.run, batch.truth).items() if u in golden}
        today = dt.date.today()
        with (batch.truth / "lists.csv").open(encoding="utf-8") as fh:
            listed = [
                uid_of[r["entity_key"]]
                for r in csv.DictReader(fh)
                if "失信" in r["list_type"]
                and not r["via"]
                and r["entity_key"] in uid_of
                and golden[uid_of[r["entity_key"]]].get("uscc")
                and dt.date.fromisoformat(r["from"]) <= today < dt.date.fromisoformat(r["until"])
            ]
        if not listed:
            print("the sample batch has no enterprise on a 失信 list today", file=sys.stderr)
            return 1
        data = root / "graph"
        data.mkdir()
        info = server.start(data, free_port())
        try:
            uri = info.uri.rsplit("/", 1)[0] + "/screenshots"
            load(batch.run, uri)
            with serve(uri, root / "api") as url, browser() as b:
                page = b.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
                best, score = listed[0], -1
                for uid in dict.fromkeys(listed[:12]):
                    _open(page, url, golden[uid]["uscc"])
                    if (s := _richness(page)) > score:
                        best, score = uid, s
                for name, (width, height) in WIDTHS.items():
                    page.set_viewport_size({"width": width, "height": height})
                    _open(page, url, golden[best]["uscc"])
                    page.locator("#grade-explain").evaluate("d => { d.open = true; }")
                    page.evaluate("document.activeElement && document.activeElement.blur()")
                    out = DOCS / f"page-{name}.png"
                    page.screenshot(path=str(out), full_page=True)
                    print(f"{out.relative_to(DOCS.parent)}: {golden[best]['name']} at {width}px")
        finally:
            server.stop(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
