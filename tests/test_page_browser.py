"""The public credit-lookup page end to end: Debian's chromium (Playwright) on the real HTTP
app under uvicorn over a real graph server loaded with the sample batch; expectations come
from the linker's golden records and the generator's planted truth."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Response, expect

from api import persisted
from credit.catalog import default_catalog
from fixtures.population import AS_OF
from graph import server
from graph.server import ServerInfo
from tests.browser import browser
from tests.credit_truth_eval import golden_to_truth
from tests.page_site import Batch, build_batch, free_port, load, serve

#: An 18-character resident ID number (region, birth date, sequence, check digit or X).
ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    r"(?![0-9A-Za-z])"
)
#: A mainland mobile number, with or without +86.
MOBILE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[- ]?)?1[3-9]\d{9}(?![0-9A-Za-z])")
REGION = re.compile(r"^.{2,3}?(?:省|自治区)?.{2,4}?[市州盟]")
CATALOG = default_catalog()


@dataclass(frozen=True)
class Site:
    url: str
    batch: Batch
    golden: dict[str, dict[str, Any]]  # uid → attributes of the active enterprises
    uid_of: dict[str, str]  # truth entity_key → golden uid


@pytest.fixture(scope="module")
def site(graph_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("page")
    batch = build_batch(root)
    uri = graph_server.uri.rsplit("/", 1)[0] + "/page_world"
    load(batch.run, uri)
    golden = {}
    with (batch.run / "golden.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            g = json.loads(line)
            if g["type"] == "Enterprise" and g["lifecycle"] == "active":
                golden[g["id"]] = g["attributes"]
    to_truth = golden_to_truth(batch.run, batch.truth)
    uid_of = {k: uid for uid, k in to_truth.items() if uid in golden}
    with serve(uri, root / "api") as url:
        yield Site(url, batch, golden, uid_of)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as b:
        yield b


@pytest.fixture()
def page(chromium: Browser) -> Iterator[Page]:
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    p = ctx.new_page()
    yield p
    ctx.close()


def _unique_core(site: Site) -> tuple[str, dict[str, Any]]:
    """An enterprise with every public fact, whose name without its region is unique."""
    names = [a["name"] for a in site.golden.values()]
    for uid, a in sorted(site.golden.items()):
        if not all(a.get(k) for k in ("name", "uscc", "legal_rep_name", "address", "status")):
            continue
        m = REGION.match(a["name"])
        if m is None:
            continue
        core = a["name"][m.end() :]
        if len(core) >= 6 and sum(core in n for n in names) == 1:
            return uid, a
    raise AssertionError("no enterprise with a unique name after its region prefix")


def _suggest(page: Page, text: str) -> list[str]:
    page.fill("#q", "")
    page.locator("#q").press_sequentially(text, delay=20)
    options = page.locator("#suggestions [role=option]")
    expect(options.first).to_be_visible()
    return [t.strip() for t in options.all_inner_texts()]


def _facts(page: Page) -> dict[str, str]:
    dts = page.locator("#facts dt").all_inner_texts()
    dds = page.locator("#facts dd").all_inner_texts()
    return dict(zip(dts, dds, strict=True))


def _open_profile(page: Page, site: Site, uid: str) -> None:
    """Search by USCC (the exact way in) and wait for that enterprise's profile."""
    a = site.golden[uid]
    page.goto(site.url + "/")
    page.fill("#q", a["uscc"])
    page.click("button[type=submit]")
    expect(page.locator("#profile")).to_be_visible()
    expect(page.locator("#profile-name")).to_have_text(a["name"])


def test_type_pick_and_see_the_profile(page: Page, site: Site) -> None:
    _uid, a = _unique_core(site)
    page.goto(site.url + "/")
    assert page.title() == "信用查询 — credgraph"
    core = REGION.sub("", a["name"])
    texts = _suggest(page, core[:4])
    assert any(a["name"] in t for t in texts), texts
    page.locator("#suggestions [role=option]", has_text=a["name"]).click()
    expect(page.locator("#profile")).to_be_visible()
    expect(page.locator("#profile-name")).to_have_text(a["name"])
    facts = _facts(page)
    assert facts["统一社会信用代码"] == a["uscc"]
    assert facts["法定代表人"] == a["legal_rep_name"]
    assert facts["登记状态"] == a["status"]
    assert facts["住所"] == a["address"]
    # The relation picture names the legal representative.
    label = page.locator("#relations svg").get_attribute("aria-label") or ""
    assert f"法定代表人 {a['legal_rep_name']}" in label


def test_full_width_and_missing_region_still_find_it(page: Page, site: Site) -> None:
    _uid, a = _unique_core(site)
    page.goto(site.url + "/")
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in a["uscc"])
    texts = _suggest(page, full_width)
    assert texts and a["name"] in texts[0], texts
    core = REGION.sub("", a["name"])
    assert core != a["name"]
    texts = _suggest(page, " ".join(core))  # spaces typed between the characters too
    assert any(a["name"] in t for t in texts), texts
    page.press("#q", "Enter")  # a plain search lists results
    expect(page.locator("#results-list li").first).to_be_visible()
    assert a["name"] in page.locator("#results-list").inner_text()


def test_a_search_closes_the_suggestions_still_on_their_way(page: Page, site: Site) -> None:
    core = "有限公司"
    assert sum(core in g["name"] for g in site.golden.values()) > 1
    page.goto(site.url + "/")
    page.locator("#q").press_sequentially(core, delay=5)
    page.press("#q", "Enter")  # before the suggestion delay is over; the focus stays here
    expect(page.locator("#results-list li").first).to_be_visible()
    page.wait_for_timeout(800)  # the typed text's suggestion delay and answer are long past
    expect(page.locator("#suggestions")).to_be_hidden()
    expect(page.locator("#q")).to_have_attribute("aria-expanded", "false")


def test_nothing_found(page: Page, site: Site) -> None:
    page.goto(site.url + "/")
    page.fill("#q", "不存在的测试企业名称甲乙丙")
    page.click("button[type=submit]")
    expect(page.locator("#status")).to_contain_text(
        "未找到与“不存在的测试企业名称甲乙丙”相符的企业"
    )
    assert page.locator("#results").is_hidden() and page.locator("#profile").is_hidden()


def test_service_unavailable(chromium: Browser, site: Site, tmp_path: Path) -> None:
    """The app keeps serving the page while its graph server is down."""
    data = tmp_path / "graph"
    data.mkdir()
    info = server.start(data, free_port())
    try:
        uri = info.uri.rsplit("/", 1)[0] + "/page_down"
        load(site.batch.run, uri)
        with serve(uri, tmp_path / "api") as url:
            p = chromium.new_page()
            p.goto(url + "/")
            p.fill("#q", site.golden[_unique_core(site)[0]]["uscc"])
            p.click("button[type=submit]")
            expect(p.locator("#profile")).to_be_visible()  # it worked while the graph was up
            server.stop(data)
            p.fill("#q", "有限公司")
            p.click("button[type=submit]")
            status = p.locator("#status")
            expect(status).to_have_text("服务暂时不可用，请稍后再试。")
            assert "error" in (status.get_attribute("class") or "")
            assert p.locator("#results").is_hidden() and p.locator("#profile").is_hidden()
            p.close()
    finally:
        server.stop(data)


def _lists(site: Site) -> list[dict[str, str]]:
    with (site.batch.truth / "lists.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _day() -> dt.date:
    return max(dt.date.today(), AS_OF)


def test_listed_enterprise_shows_its_warning_and_grade(page: Page, site: Site) -> None:
    day, early = _day(), min(dt.date.today(), AS_OF)
    rows = [
        r
        for r in _lists(site)
        if "失信" in r["list_type"]
        and not r["via"]
        and r["entity_key"] in site.uid_of
        and dt.date.fromisoformat(r["from"]) <= early
        and dt.date.fromisoformat(r["until"]) > day + dt.timedelta(days=30)
    ]
    assert rows, "the sample has no enterprise on a 失信 list now"
    r = rows[0]
    _open_profile(page, site, site.uid_of[r["entity_key"]])
    warnings = page.locator("#warnings li")
    expect(warnings.first).to_be_visible()
    warning = page.locator("#warnings").inner_text()
    assert r["list_type"] in warning and r["from"] in warning, warning
    issuer = CATALOG.departments[r["basis"].split("|")[0]]
    assert issuer in warning, warning  # the authority in words, not its code
    grade = page.locator("#grade")
    assert (grade.get_attribute("data-grade") or "") in {"A", "B", "C", "D"}
    assert page.locator("#grade-meaning").inner_text() != "暂无信用等级"


def test_repaired_penalty_does_not_show(page: Page, site: Site) -> None:
    with (site.batch.truth / "credit_repairs.csv").open(encoding="utf-8") as fh:
        repairs = [
            r
            for r in csv.DictReader(fh)
            if r["entity_key"] in site.uid_of
            and dt.date.fromisoformat(r["repaired_on"]) <= min(dt.date.today(), AS_OF)
        ]
    assert repairs, "the sample has no repaired decision of a linked enterprise"
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r))
    for r in repairs[:4]:
        _open_profile(page, site, site.uid_of[r["entity_key"]])
        expect(page.locator("#penalties li").first).to_be_visible()  # the section is drawn
        assert r["decision_no"] not in page.locator("#profile").inner_text()
        profile = [
            x
            for x in responses
            if x.url.endswith("/graphql") and '"PublicProfile"' in (x.request.post_data or "")
        ][-1]
        body = profile.body().decode("utf-8")
        assert '"creditProfile"' in body and r["decision_no"] not in body


def test_no_id_number_or_phone_anywhere(page: Page, site: Site) -> None:
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r))
    _uid, a = _unique_core(site)
    page.goto(site.url + "/")
    _suggest(page, REGION.sub("", a["name"])[:4])
    page.locator("#suggestions [role=option]", has_text=a["name"]).click()
    expect(page.locator("#profile")).to_be_visible()
    page.fill("#q", "有限公司")
    page.click("button[type=submit]")
    expect(page.locator("#results-list li").first).to_be_visible()
    texts = [page.content(), page.locator("body").inner_text()]
    graphql = 0
    for resp in responses:
        texts.append(resp.body().decode("utf-8", "replace"))
        graphql += resp.url.endswith("/graphql")
    assert graphql >= 3  # suggestions, the profile, the results
    phone = a.get("phone")
    for text in texts:
        assert ID_NUMBER.search(text) is None, ID_NUMBER.search(text)
        assert MOBILE.search(text) is None, MOBILE.search(text)
        if phone:
            assert str(phone) not in text


def test_no_person_but_the_legal_representative_by_name(page: Page, site: Site) -> None:
    persons = set()
    with (site.batch.run / "golden.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            g = json.loads(line)
            if g["type"] == "Person" and len(g["attributes"].get("name") or "") >= 2:
                persons.add(g["attributes"]["name"])
    shown = 0
    for uid, a in sorted(site.golden.items())[:15]:
        if not a.get("uscc"):
            continue
        _open_profile(page, site, uid)
        text = page.locator("#profile").inner_text()
        text += page.locator("#relations svg").get_attribute("aria-label") or ""
        named = {p for p in persons if p in text} - {a.get("legal_rep_name")}
        assert named == set(), (a["name"], named)
        shown += 1
    assert shown >= 5


def test_only_persisted_queries_are_sent(page: Page, site: Site) -> None:
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda req: (
            sent.append(json.loads(req.post_data or "{}")) if req.url.endswith("/graphql") else None
        ),
    )
    uid, _a = _unique_core(site)
    _open_profile(page, site, uid)
    ids = persisted.published_ids()
    assert sent
    for body in sent:
        assert "query" not in body
        assert body["extensions"]["persistedQuery"]["sha256Hash"] == ids[body["operationName"]]


def test_accessibility_no_serious_or_critical_violation(page: Page, site: Site) -> None:
    uid, _ = _unique_core(site)
    page.goto(site.url + "/")
    axe = Axe()
    for state in ("empty", "profile", "phone"):
        if state == "profile":
            _open_profile(page, site, uid)
        if state == "phone":
            page.set_viewport_size({"width": 390, "height": 844})
        results = axe.run(page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], (state, bad)


def test_keyboard_tab_to_search_then_arrows_and_enter(page: Page, site: Site) -> None:
    _uid, a = _unique_core(site)
    page.goto(site.url + "/")
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
        if order[-1] == "q":
            break
    assert order[-1] == "q" and len(order) <= 2, order  # the skip link, then the search box
    page.keyboard.type(REGION.sub("", a["name"])[:4], delay=20)
    options = page.locator("#suggestions [role=option]")
    expect(options.first).to_be_visible()
    names = options.all_inner_texts()
    target = next(i for i, t in enumerate(names) if a["name"] in t)
    for _ in range(target + 1):
        page.keyboard.press("ArrowDown")
    q = page.locator("#q")
    expect(q).to_have_attribute("aria-activedescendant", f"sugg-{target}")
    expect(options.nth(target)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(page.locator("#profile-name")).to_have_text(a["name"])
    expect(page.locator("#profile-name")).to_be_focused()
    expect(page.locator("#suggestions")).to_be_hidden()
