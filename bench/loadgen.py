"""An open-loop HTTP/1.1 load generator for loopback benchmarks: requests encoded before
the clock starts, sent at fixed times over a pool of keep-alive connections, responses
parsed by ``httptools`` (the C parser uvicorn uses) on a uvloop event loop.

Why not an HTTP client library: on a 2-core machine the generator shares the cores with the
server it measures, and a full client (httpx) spent ~1.8 ms of CPU a request — a third of
the machine at 200 req/s, and its own event-loop delays counted in every latency. This one
spends a small fraction of that, so the figures are the server's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import uvloop

#: (request name, latency in ms, HTTP status — 599 for a 200 carrying GraphQL errors, 0
#: for no answer within the timeout or a broken connection)
Result = tuple[str, float, int]


@dataclass(frozen=True, slots=True)
class Request:
    name: str
    raw: bytes


def encode_post(url: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    """One keep-alive ``POST`` with a JSON body, as bytes on the wire."""
    host = urlsplit(url).netloc
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + payload


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body = bytearray()
        self.broken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        body, self.body = bytes(self.body), bytearray()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed"))

    def _fail(self, exc: Exception) -> None:
        self.broken = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def exchange(self, raw: bytes, timeout: float) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await asyncio.wait_for(self.waiter, timeout)


class _Pool:
    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.idle: list[_Connection] = []
        self.opened = 0
        self.free = asyncio.Condition()

    async def take(self) -> _Connection:
        while True:
            while self.idle:
                conn = self.idle.pop()
                if not conn.broken:
                    return conn
                self.opened -= 1
            if self.opened < self.size:
                self.opened += 1
                try:
                    _, conn = await asyncio.get_running_loop().create_connection(
                        _Connection, self.host, self.port
                    )
                except OSError:
                    self.opened -= 1
                    raise
                return conn
            async with self.free:
                await self.free.wait()

    async def give(self, conn: _Connection) -> None:
        if conn.broken:
            self.opened -= 1
            if conn.transport is not None:
                conn.transport.close()
        else:
            self.idle.append(conn)
        async with self.free:
            self.free.notify()

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()


async def _run(
    url: str, plan: Sequence[Request], rate: float, max_seconds: float, timeout: float
) -> list[Result]:
    parts = urlsplit(url)
    pool = _Pool(parts.hostname or "127.0.0.1", parts.port or 80, 64)
    results: list[Result] = []

    async def one(req: Request) -> None:
        t0 = time.perf_counter()
        status = 0
        try:
            conn = await pool.take()
            try:
                status, body = await conn.exchange(req.raw, timeout)
            except (TimeoutError, OSError, httptools.HttpParserError):
                conn.broken = True
                status = 0
            finally:
                await pool.give(conn)
            if status == 200 and "errors" in json.loads(body):
                status = 599
        except OSError:
            status = 0
        results.append((req.name, (time.perf_counter() - t0) * 1000, status))

    start = time.perf_counter()
    tasks = []
    for k, req in enumerate(plan):
        due = start + k / rate
        now = time.perf_counter()
        if now - start > max_seconds:
            break
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(one(req)))
    await asyncio.gather(*tasks)
    pool.close()
    return results


def run(
    url: str, plan: Sequence[Request], rate: float, max_seconds: float, timeout: float = 10.0
) -> list[Result]:
    """Send ``plan`` at ``rate`` requests/s (open loop: a slow answer does not delay the
    next request), for at most ``max_seconds``; the latency of each answered request."""
    return uvloop.run(_run(url, plan, rate, max_seconds, timeout))
