"""The HTTP app: ``/graphql`` (POST JSON; GET serves GraphiQL to signed-in roles),
``/`` the public lookup page (``api/page``; its query ids at ``/page/queries.json``, department
names for its authorities at ``/page/departments.json``),
``/healthz``, ``/readyz``. Each request passes, in order: authentication (API key → role),
the rate limit, the body cap, the persisted-query allowlist (public), parsing, the role's
field access and introspection (validation), depth and cost; then it runs under the graph
timeout, errors are masked, and it is audited and logged."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    parse,
    specified_rules,
    validate,
)
from limits import parse as parse_rate
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from api import logs, permissions, persisted, protection
from api.context import RequestContext
from api.enterprise.name_index import NameIndexHolder
from api.field_guard import GUARD
from api.graphio import ApiGraph, GraphTimeout, GraphUnavailable
from api.graphiql import ASSETS_DIR, ASSETS_PATH, HEADERS, PAGE
from api.keys import ApiKey
from api.schema import schema
from api.services import Services
from api.settings import ApiSettings
from graph.store import open_async_store

MAX_TOKENS = 2000
PAGE_DIR = Path(__file__).resolve().parent / "page"


@lru_cache(maxsize=2048)
def checked_document(role: str, query: str) -> tuple[DocumentNode, tuple[GraphQLError, ...]]:
    """Parse and validate once per (role, query text): the same operations come again and
    again (the public page's, a client's), and validation costs more than running them."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        raise Refused(400, "GRAPHQL_PARSE_FAILED", exc.message) from None
    errors = validate(
        schema.graphql_schema,
        document,
        [*specified_rules, *protection.validation_rules(role)],
        max_errors=20,
    )
    return document, tuple(errors)


class Refused(Exception):
    """A request refused before execution: HTTP status, GraphQL error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(slots=True)
class Outcome:
    status: int
    body: dict[str, Any]
    operation: str | None = None
    variables: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _error(message: str, code: str, request_id: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, "requestId": request_id}}


class GraphQLApp:
    """The ``/graphql`` endpoint and the probes, over one graph connection pool."""

    def __init__(self, settings: ApiSettings, services: Services, graph: ApiGraph) -> None:
        self.settings = settings
        self.services = services
        self.graph = graph
        self.name_index = NameIndexHolder(graph, settings.limits.search_index_ttl_seconds)
        # A sliding-window counter on asyncio storage: O(1) a hit, expiry as an asyncio task.
        # (The moving window kept one entry per request and the thread-based memory storage
        # started an expiry thread every few hits: a tenth of the server's time under load.)
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.rate_signed_in = parse_rate(settings.limits.rate_signed_in)
        self.rate_public = parse_rate(settings.limits.rate_public)

    # -- authentication ---------------------------------------------------------------------
    async def authenticate(self, request: Request) -> ApiKey | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        token = value.strip()
        if scheme.lower() == "basic":  # GraphiQL in a browser: the key is the password
            try:
                token = base64.b64decode(token).decode("utf-8").partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                token = ""
        elif scheme.lower() != "bearer":
            token = ""
        key = self.services.keys.authenticate(token) if token else None
        if key is None:
            raise Refused(401, "UNAUTHENTICATED", "invalid or revoked API key")
        return key

    async def rate_limit(self, request: Request, key: ApiKey | None) -> None:
        if key is not None:
            item, who = self.rate_signed_in, f"key:{key.key_id}"
        else:
            item, who = self.rate_public, f"ip:{request.client.host if request.client else '-'}"
        if not await self.limiter.hit(item, who):
            raise Refused(429, "RATE_LIMITED", f"rate limit exceeded ({item}); slow down")

    async def body(self, request: Request) -> dict[str, Any]:
        cap = self.settings.limits.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > cap:
            raise Refused(413, "BODY_TOO_LARGE", f"request body larger than {cap} bytes")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise Refused(415, "UNSUPPORTED_MEDIA_TYPE", "send the request as application/json")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise Refused(413, "BODY_TOO_LARGE", f"request body larger than {cap} bytes")
            chunks.append(chunk)
        try:
            data = json.loads(b"".join(chunks))
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "BAD_REQUEST", "the body is not valid JSON") from None
        except RecursionError:  # [[[[…]]]] within the size cap: json recurses per level
            raise Refused(400, "BAD_REQUEST", "the body's JSON is nested too deeply") from None
        if not isinstance(data, dict):
            raise Refused(400, "BAD_REQUEST", "the body must be a JSON object")
        return data

    # -- the endpoint ----------------------------------------------------------------------------
    async def graphql(self, request: Request) -> Response:
        request_id = uuid.uuid4().hex[:16]
        t0 = time.perf_counter()
        queries_before = self.graph.queries
        key: ApiKey | None = None
        role = permissions.PUBLIC
        c: RequestContext | None = None
        try:
            if request.method == "GET":
                return await self.graphiql(request)
            key = await self.authenticate(request)
            role = key.role if key else permissions.PUBLIC
            await self.rate_limit(request, key)
            data = await self.body(request)
            c = RequestContext(
                request_id,
                role,
                key,
                self.graph,
                self.settings,
                self.services,
                name_index=self.name_index,
            )
            outcome = await self.run(c, data)
        except Refused as r:
            outcome = Outcome(r.status, {"errors": [_error(r.message, r.code, request_id)]})
            if r.status == 401:
                outcome.headers["WWW-Authenticate"] = 'Bearer realm="credgraph"'
            if r.status == 429:
                outcome.headers["Retry-After"] = "1"
        if isinstance(outcome.body, dict):
            outcome.body.setdefault("extensions", {})["requestId"] = request_id
        payload = json.dumps(outcome.body, ensure_ascii=False).encode("utf-8")
        ids = c.returned_ids if c else set()
        self.services.audit.append(
            request_id=request_id,
            key_id=key.key_id if key else None,
            role=role,
            operation=outcome.operation,
            variables=outcome.variables,
            entity_ids=ids,
            result_size=len(payload),
            status=outcome.status,
        )
        logs.log(
            logging.INFO,
            "graphql request",
            request_id=request_id,
            role=role,
            key_id=key.key_id if key else None,
            operation=outcome.operation,
            status=outcome.status,
            entities=len(ids),
            graph_queries=self.graph.queries - queries_before,
            ms=round((time.perf_counter() - t0) * 1000, 1),
        )
        headers = {"X-Request-ID": request_id, **outcome.headers}
        return Response(payload, outcome.status, headers, media_type="application/json")

    async def graphiql(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        key = None
        if header:
            with contextlib.suppress(Refused):
                key = await self.authenticate(request)
        if key is None:
            return Response(
                "GraphiQL is for signed-in roles: sign in with any user name and your API key "
                "as the password.\n",
                401,
                {"WWW-Authenticate": 'Basic realm="credgraph GraphiQL", charset="UTF-8"'},
                media_type="text/plain",
            )
        return HTMLResponse(PAGE, headers=HEADERS)

    async def run(self, c: RequestContext, data: dict[str, Any]) -> Outcome:
        query = data.get("query")
        variables = data.get("variables")
        operation = data.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            raise Refused(400, "BAD_REQUEST", "variables must be a JSON object")
        if operation is not None and not isinstance(operation, str):
            raise Refused(400, "BAD_REQUEST", "operationName must be a string")
        ext = data.get("extensions")
        pq = ext.get("persistedQuery") if isinstance(ext, dict) else None
        pid = data.get("id") or (pq.get("sha256Hash") if isinstance(pq, dict) else None)
        sent_both = isinstance(pid, str) and pid and isinstance(query, str) and query.strip()
        if sent_both and not persisted.matches(str(query), str(pid)):
            raise Refused(
                400,
                "PERSISTED_QUERY_MISMATCH",
                "the query text is not the operation of the persisted-query id sent with it; "
                "send the id alone or its own text",
            )
        if c.role == permissions.PUBLIC and self.settings.public_persisted_only:
            allowed = persisted.lookup(
                query if isinstance(query, str) else None, pid if isinstance(pid, str) else None
            )
            if allowed is None:
                raise Refused(
                    403,
                    "PERSISTED_QUERY_REQUIRED",
                    "the public role may run only the published queries (persisted-query "
                    "allowlist); sign in with an API key for others",
                )
            query = allowed
        if not isinstance(query, str) or not query.strip():
            raise Refused(400, "BAD_REQUEST", "no query in the request")
        document, errors = checked_document(c.role, query)
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation is None and len(ops) == 1 and ops[0].name:
            operation = ops[0].name.value
        if errors:
            codes = {(e.extensions or {}).get("code") for e in errors}
            status = 403 if codes & {"FORBIDDEN", "INTROSPECTION_DISABLED"} else 400
            return Outcome(
                status,
                {
                    "errors": [
                        self._shown(e, c.request_id, "GRAPHQL_VALIDATION_FAILED") for e in errors
                    ]
                },
                operation,
                variables,
            )
        m = protection.measure(document, operation, variables)
        lim = self.settings.limits
        if m.depth > lim.max_depth:
            raise Refused(
                400, "QUERY_TOO_DEEP", f"query depth {m.depth} exceeds the limit of {lim.max_depth}"
            )
        if m.cost > lim.max_cost:
            raise Refused(
                400, "QUERY_TOO_COSTLY", f"query cost {m.cost} exceeds the limit of {lim.max_cost}"
            )
        result = execute(
            schema.graphql_schema,
            document,
            context_value=c,
            variable_values=variables,
            operation_name=operation,
            middleware=GUARD,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return self._outcome(c, result, operation, variables)

    def _shown(self, e: GraphQLError, request_id: str, default_code: str) -> dict[str, Any]:
        """A GraphQL error as the client sees it: its message, no stack, no Cypher."""
        out: dict[str, Any] = {"message": e.message}
        if e.locations:
            out["locations"] = [{"line": loc.line, "column": loc.column} for loc in e.locations]
        if e.path:
            out["path"] = e.path
        out["extensions"] = {
            "code": (e.extensions or {}).get("code", default_code),
            "requestId": request_id,
        }
        return out

    def _outcome(
        self,
        c: RequestContext,
        result: ExecutionResult,
        operation: str | None,
        variables: dict[str, Any] | None,
    ) -> Outcome:
        status = 200
        shown = []
        for e in result.errors or []:
            original = e.original_error
            if isinstance(original, GraphUnavailable):
                status = max(status, 503)
                shown.append(
                    _with_path(e, "the graph is unavailable; retry shortly", "GRAPH_UNAVAILABLE", c)
                )
                logs.log(
                    logging.WARNING,
                    "graph unavailable",
                    request_id=c.request_id,
                    error=str(original),
                )
            elif isinstance(original, GraphTimeout):
                status = max(status, 504)
                shown.append(_with_path(e, "the graph query took too long", "GRAPH_TIMEOUT", c))
                logs.log(logging.WARNING, "graph timeout", request_id=c.request_id)
            elif original is None or isinstance(original, GraphQLError):
                # the client's own mistake, wherever it surfaced (variables that did not
                # coerce, an argument a resolver refused, a nullable or non-null field):
                # 4xx whatever else the response carries (docs/api-errors.md)
                shown.append(self._shown(e, c.request_id, "BAD_USER_INPUT"))
                code = shown[-1]["extensions"]["code"]
                status = max(status, 403 if code == "FORBIDDEN" else 400)
            else:
                status = max(status, 500)
                shown.append(
                    _with_path(
                        e,
                        f"internal error; quote request id {c.request_id} to the operators",
                        "INTERNAL_ERROR",
                        c,
                    )
                )
                logs.log(
                    logging.ERROR,
                    "internal error",
                    request_id=c.request_id,
                    exc_info=False,
                    error=f"{type(original).__name__}: {original}",
                    traceback="".join(_format_tb(original)),
                )
        body: dict[str, Any] = {"data": result.data}
        if shown:
            body["errors"] = shown
        return Outcome(status, body, operation, variables)

    # -- probes ---------------------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if await self.graph.ping():
            return JSONResponse({"status": "ready", "graph": "reachable"})
        return JSONResponse({"status": "not ready", "graph": "unreachable"}, 503)


def _with_path(e: GraphQLError, message: str, code: str, c: RequestContext) -> dict[str, Any]:
    out: dict[str, Any] = {"message": message}
    if e.path:
        out["path"] = e.path
    out["extensions"] = {"code": code, "requestId": c.request_id}
    return out


def _format_tb(exc: BaseException) -> list[str]:
    import traceback

    return traceback.format_exception(type(exc), exc, exc.__traceback__)


def create_app(settings: ApiSettings) -> Starlette:
    """The app; the graph pool, key store, audit log and jobs open at start-up."""
    holder: dict[str, GraphQLApp] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = Services.open(settings)
        graph = ApiGraph(
            open_async_store(settings.graph_uri), settings.limits.graph_timeout_seconds
        )
        holder["app"] = GraphQLApp(settings, services, graph)
        app.state.api = holder["app"]
        try:
            yield
        finally:
            await graph.close()
            await run_in_threadpool(services.close)

    async def graphql(request: Request) -> Response:
        return await holder["app"].graphql(request)

    async def healthz(request: Request) -> Response:
        return await holder["app"].healthz(request)

    async def readyz(request: Request) -> Response:
        return await holder["app"].readyz(request)

    async def page(request: Request) -> Response:
        return FileResponse(PAGE_DIR / "index.html", media_type="text/html")

    async def page_queries(request: Request) -> Response:
        return JSONResponse(persisted.published_ids())

    async def page_departments(request: Request) -> Response:
        """Department codes → names, so the page names an authority in words."""
        from credit.catalog import default_catalog

        return JSONResponse(default_catalog().departments)

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/page/queries.json", page_queries, methods=["GET"]),
        Route("/page/departments.json", page_departments, methods=["GET"]),
        Mount("/page", StaticFiles(directory=PAGE_DIR), name="page"),
        Mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="graphiql"),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=[settings.allowed_origin],
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
