"""The API's access to the async GraphStore: a server-side timeout on every query, a query
counter (what DataLoader tests and the request log read), and errors the API can classify."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import GraphQLError

from graph.store import AsyncGraphStore, GraphStoreError, Row


class GraphUnavailable(RuntimeError):
    """The graph cannot be reached (HTTP 503)."""


class GraphTimeout(RuntimeError):
    """A graph query ran past the server-side timeout (HTTP 504)."""


class ApiGraph:
    """A timed, counted view of an :class:`AsyncGraphStore` (reads, and mutations' writes)."""

    def __init__(self, store: AsyncGraphStore, timeout: float) -> None:
        self.store = store
        self.timeout = timeout
        self.queries = 0
        self.backend = store.backend
        #: Serialises the app's read-check-write mutations (finding status changes).
        self.write_lock = asyncio.Lock()

    async def read(
        self, query: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> list[Row]:
        return await self._call(self.store.read, query, params, timeout)

    async def run(
        self, query: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> list[Row]:
        """A write through the app's async store (mutations), timed and counted like reads."""
        return await self._call(self.store.run, query, params, timeout)

    async def _call(
        self,
        send: Callable[[str, dict[str, Any] | None], Awaitable[list[Row]]],
        query: str,
        params: dict[str, Any] | None,
        timeout: float | None,
    ) -> list[Row]:
        self.queries += 1
        limit = timeout or self.timeout
        try:
            return await asyncio.wait_for(send(query, params), limit)
        except TimeoutError as exc:
            raise GraphTimeout(f"graph query timed out after {limit:g} s") from exc
        except GraphStoreError as exc:
            text = str(exc).lower()
            if text.startswith("control character"):  # refused before it reached the graph
                raise GraphQLError(f"input text: {exc}") from None
            if "timeout" in text or "timed out" in text:
                raise GraphTimeout(f"graph query timed out: {exc}") from exc
            if any(w in text for w in ("connect", "closed", "refused", "reset", "broken")):
                raise GraphUnavailable(str(exc)) from exc
            raise
        except (ConnectionError, OSError) as exc:
            raise GraphUnavailable(str(exc)) from exc

    async def ping(self) -> bool:
        """Whether the graph answers a trivial query within a short time."""
        try:
            await asyncio.wait_for(self.store.read("RETURN 1 AS ok"), min(self.timeout, 2.0))
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self.store.close()
