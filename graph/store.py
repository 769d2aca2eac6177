"""The ``GraphStore`` interface and its two real backends.

- ``falkordb://[:PASSWORD@]HOST:PORT/GRAPH`` — FalkorDB over its native protocol with the
  ``falkordb`` client (the embedded default, see :mod:`graph.server`).
- ``neo4j://`` / ``bolt://USER:PASSWORD@HOST:PORT/DATABASE`` — Neo4j 5 with the official
  driver (production). No Neo4j server can run here: that backend is covered by tests at the
  driver boundary only, and by the catalog tests when ``CREDGRAPH_TEST_NEO4J_URI`` is set.

Values always travel as parameters. FalkorDB's client renders parameters into a ``CYPHER
k=v`` header; :func:`falkor_literal` replaces its rendering, which writes Python booleans
as ``True`` and does not escape newlines, with one that round-trips every value tested.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlparse

Row = dict[str, Any]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class GraphStoreError(RuntimeError):
    """A query failed or the store cannot be reached."""


class GraphStore(Protocol):
    """What the rest of credgraph needs from a graph database."""

    backend: str

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[Row]: ...
    def read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]: ...
    def write_batch(self, query: str, rows: Sequence[Row], batch_size: int = 5000) -> int: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class GraphURI:
    scheme: str
    host: str
    port: int
    database: str
    user: str | None
    password: str | None
    #: concurrent relationship writers of a load (Neo4j: ``?writers=N``), see
    #: :mod:`graph.rel_partition`
    writers: int = 1


def parse_uri(uri: str) -> GraphURI:
    """Parse a graph URI; raise GraphStoreError naming what is wrong."""
    u = urlparse(uri)
    if u.scheme not in ("falkordb", "neo4j", "bolt", "neo4j+s", "bolt+s"):
        raise GraphStoreError(
            f"unsupported graph URI scheme {u.scheme!r} (use falkordb://, neo4j:// or bolt://)"
        )
    default_port = 16379 if u.scheme == "falkordb" else 7687
    writers = 1
    for name, value in parse_qsl(u.query, keep_blank_values=True):
        if name != "writers" or u.scheme == "falkordb":
            raise GraphStoreError(
                f"unknown graph URI parameter {name!r} (Neo4j URIs take ?writers=N)"
            )
        if not value.isdigit() or not 1 <= int(value) <= 64:
            raise GraphStoreError(f"graph URI parameter writers={value!r}: use a number 1-64")
        writers = int(value)
    return GraphURI(
        scheme=u.scheme,
        host=u.hostname or "127.0.0.1",
        port=u.port or default_port,
        database=(u.path or "/").lstrip("/")
        or ("credgraph" if u.scheme == "falkordb" else "neo4j"),
        user=unquote(u.username) if u.username else None,
        password=unquote(u.password) if u.password else None,
        writers=writers,
    )


def falkor_literal(value: Any) -> str:
    """A Cypher literal for FalkorDB's parameter header that round-trips the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise GraphStoreError("NaN and infinite floats cannot be stored in the graph")
        return repr(value)
    if isinstance(value, str):
        # JSON string syntax escapes backslash, quote, \n, \t, \r; FalkorDB's parser reads
        # those but not \uXXXX, so other control characters are refused, never mangled.
        bad = _CONTROL.search(value)
        if bad:
            raise GraphStoreError(
                f"control character U+{ord(bad.group()):04X} cannot be stored in the graph"
            )
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(falkor_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            key = str(k)
            if not key or "`" in key:
                raise GraphStoreError(f"map key {key!r} cannot be a Cypher identifier")
            parts.append(f"`{key}`:{falkor_literal(v)}")
        return "{" + ",".join(parts) + "}"
    raise GraphStoreError(f"values of type {type(value).__name__} cannot be parameters")


#: A JSON escape of a control character other than \n \t \r (which FalkorDB reads).
_JSON_CONTROL = re.compile(r"(?<!\\)(?:\\\\)*\\(u00[01][0-9a-fA-F]|b|f)")


def _literal(value: Any) -> str:
    """Rows given as lists of lists (the loader's) are rendered by one ``json.dumps``: JSON
    arrays, strings, numbers, true/false/null are Cypher literals too. Anything holding a map
    goes through :func:`falkor_literal`."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            return falkor_literal(value)
        if "{" in text and any(isinstance(x, dict) for row in value for x in row):
            return falkor_literal(value)
        if _JSON_CONTROL.search(text):
            raise GraphStoreError("control characters cannot be stored in the graph")
        return text
    return falkor_literal(value)


class FalkorStore:
    """FalkorDB over its native protocol."""

    backend = "falkordb"

    def __init__(self, uri: GraphURI) -> None:
        from falkordb import FalkorDB

        self.uri = uri
        self.db = FalkorDB(
            host=uri.host,
            port=uri.port,
            password=uri.password,
            socket_timeout=600,
            socket_connect_timeout=10,  # an unreachable host fails in seconds, not minutes
        )
        self.graph = self.db.select_graph(uri.database)

    def _header(self, params: dict[str, Any] | None) -> str:
        if not params:
            return ""
        for name in params:
            if not _IDENT.match(name):
                raise GraphStoreError(f"parameter name {name!r} is not an identifier")
        return "CYPHER " + " ".join(f"{k}={_literal(v)}" for k, v in params.items()) + " "

    def prepare(self, query: str, params: dict[str, Any] | None) -> str:
        """The statement text with its parameter header (pure CPU; may run in another
        thread while the server executes the previous statement)."""
        return self._header(params) + query

    def run_prepared(self, text: str, query: str) -> list[Row]:
        """Execute a statement made by :meth:`prepare` (``query`` names it in errors)."""
        return self._send(text, query, read_only=False)

    def _execute(self, query: str, params: dict[str, Any] | None, read_only: bool) -> list[Row]:
        return self._send(self._header(params) + query, query, read_only)

    def _send(self, text: str, query: str, read_only: bool) -> list[Row]:
        from redis.exceptions import RedisError

        try:
            result = self.graph.ro_query(text) if read_only else self.graph.query(text)
        except RedisError as exc:
            raise GraphStoreError(f"{exc} (query: {query[:200]})") from exc
        return _rows(result)

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        return self._execute(query, params, read_only=False)

    def read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        return self._execute(query, params, read_only=True)

    def write_batch(self, query: str, rows: Sequence[Row], batch_size: int = 5000) -> int:
        return _write_in_batches(self, query, rows, batch_size)

    def command(self, *args: Any) -> Any:
        """A raw server command (index/constraint management that is not Cypher)."""
        return self.db.connection.execute_command(*args)

    def own_connection(self) -> Any:
        """A client holding one server connection of its own until closed (taken from the
        pool, so it lives as long as this process): what the server sees of a holder that
        must be known dead once its process dies (graph.load.aof_rewrites_deferred)."""
        return self.db.connection.client()

    def close(self) -> None:
        self.db.connection.close()


class Neo4jStore:
    """Neo4j 5 with the official driver: managed transactions with the driver's retries."""

    backend = "neo4j"

    def __init__(self, uri: GraphURI, driver: Any = None) -> None:
        import neo4j

        self.uri = uri
        auth = (uri.user, uri.password or "") if uri.user else None
        self.driver = driver or neo4j.GraphDatabase.driver(
            f"{uri.scheme}://{uri.host}:{uri.port}", auth=auth
        )
        self.database = uri.database

    def session(self, write: bool) -> Any:
        """A session for one kind of work: on a cluster (``neo4j://`` routing URIs) write
        sessions go to the database's leader, read sessions to followers and read replicas."""
        import neo4j

        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        return self.driver.session(database=self.database, default_access_mode=mode)

    def _work(self, query: str, params: dict[str, Any] | None, write: bool) -> list[Row]:
        import neo4j

        def tx(t: Any) -> list[Row]:
            return [dict(r) for r in t.run(query, params or {})]

        try:
            with self.session(write) as session:
                rows: list[Row] = session.execute_write(tx) if write else session.execute_read(tx)
                return rows
        except neo4j.exceptions.Neo4jError as exc:
            raise GraphStoreError(f"{exc.code}: {exc.message} (query: {query[:200]})") from exc
        except neo4j.exceptions.DriverError as exc:  # no server, no leader, routing failed
            raise GraphStoreError(f"Neo4j driver: {exc} (query: {query[:200]})") from exc

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        return self._work(query, params, write=True)

    def read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        return self._work(query, params, write=False)

    def write_batch(self, query: str, rows: Sequence[Row], batch_size: int = 5000) -> int:
        return _write_in_batches(self, query, rows, batch_size)

    def write_rels_partitioned(
        self,
        query: str,
        rows: Sequence[Sequence[Any]],
        start_label: str,
        end_label: str,
        batch_size: int = 5000,
    ) -> int:
        """Write relationship rows (``[start uid, end uid, weight, …]``, ``query`` returning
        ``n``) with ``uri.writers`` concurrent writers in the rounds of
        :func:`graph.rel_partition.schedule`: the writers of one round never lock the same
        node. Returns the sum of ``n`` over the batches."""
        from concurrent.futures import ThreadPoolExecutor

        from graph.rel_partition import schedule

        def cell_work(batches: list[list[Any]]) -> int:
            return sum(
                int((self.run(query, {"rows": batch}) or [{"n": 0}])[0]["n"] or 0)
                for batch in batches
            )

        total = 0
        rounds = schedule(rows, start_label, end_label, self.uri.writers, batch_size)
        with ThreadPoolExecutor(max_workers=self.uri.writers) as pool:
            for cells in rounds:  # a round ends before the next starts
                total += sum(pool.map(cell_work, [c.batches for c in cells]))
        return total

    def close(self) -> None:
        self.driver.close()


def open_store(uri: str) -> FalkorStore | Neo4jStore:
    """The store a URI names (settings are read by the caller at start-up, never at import)."""
    parsed = parse_uri(uri)
    if parsed.scheme == "falkordb":
        return FalkorStore(parsed)
    return Neo4jStore(parsed)


def _rows(result: Any) -> list[Row]:
    """A FalkorDB result set as a list of dicts keyed by the RETURN names."""
    names = [h[1] if isinstance(h, (list, tuple)) else h for h in (result.header or [])]
    return [dict(zip(names, (_plain(v) for v in row), strict=True)) for row in result.result_set]


def _write_in_batches(
    store: FalkorStore | Neo4jStore, query: str, rows: Sequence[Row], batch_size: int
) -> int:
    done = 0
    for chunk in _chunks(rows, batch_size):
        store.run(query, {"rows": list(chunk)})
        done += len(chunk)
    return done


def _plain(value: Any) -> Any:
    """Result values as plain Python: nodes and edges become their property maps."""
    props = getattr(value, "properties", None)
    if isinstance(props, dict):
        return dict(props)
    return value


def _chunks(rows: Sequence[Row], size: int) -> Iterator[Sequence[Row]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


class AsyncGraphStore(Protocol):
    """The asynchronous side the API uses: reads, and the few writes of its mutations."""

    backend: str

    async def read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]: ...
    async def run(self, query: str, params: dict[str, Any] | None = None) -> list[Row]: ...
    async def close(self) -> None: ...


class AsyncFalkorStore:
    """FalkorDB over its native protocol with the asyncio client (read-only queries)."""

    backend = "falkordb"

    def __init__(self, uri: GraphURI) -> None:
        from falkordb.asyncio import FalkorDB

        self.uri = uri
        self.db = FalkorDB(
            host=uri.host, port=uri.port, password=uri.password, socket_connect_timeout=10
        )
        self.graph = self.db.select_graph(uri.database)
        self._sync = FalkorStore.__new__(FalkorStore)  # only for the parameter header
        self._closed = False

    async def _send(self, query: str, params: dict[str, Any] | None, read_only: bool) -> list[Row]:
        from redis.exceptions import RedisError

        if self._closed:
            # Work still running when the app shut down (a resolver outliving its request)
            # must not open a new connection in the closed pool: nothing would close it.
            raise GraphStoreError(f"the graph store is closed (query: {query[:200]})")
        text = FalkorStore._header(self._sync, params) + query
        try:
            if read_only:
                result = await self.graph.ro_query(text)
            else:
                result = await self.graph.query(text)
        except RedisError as exc:
            raise GraphStoreError(f"{exc} (query: {query[:200]})") from exc
        return _rows(result)

    async def read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        return await self._send(query, params, read_only=True)

    async def run(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        """A write (the API's mutations)."""
        return await self._send(query, params, read_only=False)

    async def close(self) -> None:
        self._closed = True
        await self.db.aclose()


class AsyncNeo4jStore:
    """Neo4j 5 with the driver's asyncio API: managed read transactions."""

    backend = "neo4j"

    def __init__(self, uri: GraphURI, driver: Any = None) -> None:
        import neo4j

        auth = (uri.user, uri.password or "") if uri.user else None
        self.driver = driver or neo4j.AsyncGraphDatabase.driver(
            f"{uri.scheme}://{uri.host}:{uri.port}", auth=auth
        )
        self.uri = uri
        self.database = uri.database
        self._closed = False

    async def _work(self, query: str, params: dict[str, Any] | None, write: bool) -> list[Row]:
        import neo4j

        if self._closed:  # as AsyncFalkorStore: no session after the app shut down
            raise GraphStoreError(f"the graph store is closed (query: {query[:200]})")

        async def tx(t: Any) -> list[Row]:
            result = await t.run(query, params or {})
            return [dict(r) async for r in result]

        try:
            mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
            async with self.driver.session(
                database=self.database, default_access_mode=mode
            ) as session:
                work = session.execute_write if write else session.execute_read
                rows: list[Row] = await work(tx)
                return rows
        except neo4j.exceptions.Neo4jError as exc:
            raise GraphStoreError(f"{exc.code}: {exc.message} (query: {query[:200]})") from exc
        except neo4j.exceptions.DriverError as exc:  # no server, no leader, routing failed
            raise GraphStoreError(f"Neo4j driver: {exc} (query: {query[:200]})") from exc

    async def read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        return await self._work(query, params, write=False)

    async def run(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        """A write (the API's mutations) in a managed write transaction."""
        return await self._work(query, params, write=True)

    async def close(self) -> None:
        self._closed = True
        await self.driver.close()


def open_async_store(uri: str) -> AsyncFalkorStore | AsyncNeo4jStore:
    """The asynchronous read store a URI names (for the API)."""
    parsed = parse_uri(uri)
    return AsyncFalkorStore(parsed) if parsed.scheme == "falkordb" else AsyncNeo4jStore(parsed)
