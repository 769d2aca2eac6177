"""GraphiQL in a real browser (Debian's chromium through Playwright) on the real HTTP app
under uvicorn: a signed-in role's browser gets a working GraphiQL from the app alone — no
request leaves the app's origin (a platform's network often reaches no CDN, and a script
from one would run with the role's credentials) and the page's Content-Security-Policy
holds (a violation is a console error)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Request, Route

from api.keys import KeyStore
from api.settings import ApiSettings
from graph.server import ServerInfo
from tests.browser import browser
from tests.page_site import serve


def test_graphiql_works_from_the_app_alone(graph_server: ServerInfo, tmp_path: Path) -> None:
    uri = graph_server.uri.rsplit("/", 1)[0] + "/graphiql_world"
    data = tmp_path / "api"
    with serve(uri, data) as url:
        keys = KeyStore(ApiSettings(graph_uri=uri, data_dir=data).keys_db)
        try:
            token = keys.create("regulator", "browser test")[1]
        finally:
            keys.close()
        elsewhere: list[str] = []
        errors: list[str] = []

        def only_the_app(route: Route, request: Request) -> None:
            if request.url.startswith(url + "/"):
                route.continue_()
            else:
                elsewhere.append(request.url)
                route.abort()

        with browser() as b:
            ctx = b.new_context(http_credentials={"username": "me", "password": token})
            page = ctx.new_page()
            page.route("**/*", only_the_app)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            # GraphiQL asks the endpoint for the schema as soon as it starts, with the
            # credentials the browser signed in with.
            with page.expect_response(
                lambda r: r.url == url + "/graphql" and r.request.method == "POST"
            ) as introspection:
                page_response = page.goto(url + "/graphql")
            assert page_response is not None and page_response.status == 200
            policy = page_response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "connect-src 'self'" in policy
            answer = introspection.value
            assert answer.status == 200, answer.text()
            assert "__schema" in (answer.request.post_data or "")
            assert answer.json()["data"]["__schema"]["queryType"]["name"] == "Query"
            page.wait_for_selector(".graphiql-container", timeout=15_000)
            assert page.locator(".graphiql-query-editor").count() == 1
            # Unrouted, the browser also asks for the page's icon once it has loaded: no
            # request of the page may fail (a missing favicon.ico was a console error).
            plain = ctx.new_page()
            plain.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            plain.goto(url + "/graphql")
            plain.wait_for_selector(".graphiql-container", timeout=15_000)
            plain.wait_for_load_state("networkidle")
            plain.wait_for_timeout(1000)
            ctx.close()
        assert elsewhere == []
        assert errors == []


def test_the_assets_are_served_without_signing_in(graph_server: ServerInfo, tmp_path: Path) -> None:
    """GraphiQL's files are public libraries (the page that uses them is not)."""
    import urllib.request

    uri = graph_server.uri.rsplit("/", 1)[0] + "/graphiql_assets"
    with serve(uri, tmp_path / "api") as url:
        with urllib.request.urlopen(url + "/graphiql/graphiql.min.js") as r:
            assert r.status == 200
            assert "javascript" in r.headers["content-type"]
            assert len(r.read()) > 100_000
        try:
            urllib.request.urlopen(url + "/graphql")
        except urllib.error.HTTPError as e:
            assert e.code == 401
        else:
            raise AssertionError("the GraphiQL page answered without signing in")
