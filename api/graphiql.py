"""GraphiQL for signed-in roles. The browser signs in with HTTP Basic (any user name, the
API key as password) and then sends the same credentials with every same-origin request,
so the page itself holds no key.

The page loads nothing from elsewhere: GraphiQL and React are served by the app itself
from ``api/graphiql_assets`` (as published on npm; ``make graphiql-assets`` refreshes them),
and the page's Content-Security-Policy allows scripts, styles and requests from this origin
only — a platform's network often reaches no CDN, and a script from one would run with the
signed-in role's credentials."""

from __future__ import annotations

from pathlib import Path

#: GraphiQL, React and the page's own start script; served under :data:`ASSETS_PATH`.
ASSETS_DIR = Path(__file__).resolve().parent / "graphiql_assets"
ASSETS_PATH = "/graphiql"

PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>credgraph GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ASSETS_PATH}/graphiql.min.css">
<link rel="stylesheet" href="{ASSETS_PATH}/page.css">
</head>
<body><div id="graphiql">Loading…</div>
<script src="{ASSETS_PATH}/react.production.min.js"></script>
<script src="{ASSETS_PATH}/react-dom.production.min.js"></script>
<script src="{ASSETS_PATH}/graphiql.min.js"></script>
<script src="{ASSETS_PATH}/start.js"></script>
</body></html>
"""

#: Same-origin only. GraphiQL sets inline styles on its panes and uses data: URIs for its
#: icons and fonts; nothing may frame the page.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
