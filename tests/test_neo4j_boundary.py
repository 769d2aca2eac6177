"""The Neo4j backend at the driver boundary. No Neo4j server can run on these machines, so a
stand-in driver records what the backend asks of the official driver's API; the same
catalog tests run against a real Neo4j 5 when CREDGRAPH_TEST_NEO4J_URI is set."""

from __future__ import annotations

import os
from typing import Any

import neo4j
import pytest

from graph.dialect import index_statements
from graph.store import GraphStoreError, Neo4jStore, parse_uri


class _Tx:
    def __init__(self, log: list[Any], fail: Exception | None) -> None:
        self.log, self.fail = log, fail

    def run(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.log.append(("run", query, params))
        if self.fail:
            raise self.fail
        return [{"v": params.get("v")}]


class _Session:
    def __init__(self, log: list[Any], database: str, fail: Exception | None) -> None:
        self.log, self.fail = log, fail
        log.append(("session", database))

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.append(("session-closed",))

    def execute_write(self, work: Any) -> Any:
        self.log.append(("write",))
        return work(_Tx(self.log, self.fail))

    def execute_read(self, work: Any) -> Any:
        self.log.append(("read",))
        return work(_Tx(self.log, self.fail))


class _Driver:
    def __init__(self, fail: Exception | None = None) -> None:
        self.log: list[Any] = []
        self.fail = fail

    def session(self, database: str, default_access_mode: str) -> _Session:
        self.log.append(("mode", default_access_mode))
        return _Session(self.log, database, self.fail)

    def close(self) -> None:
        self.log.append(("closed",))


def test_uri_parsing() -> None:
    u = parse_uri("neo4j://alice:s%40cret@db.example:7688/credit")
    assert (u.scheme, u.host, u.port, u.database, u.user, u.password) == (
        "neo4j",
        "db.example",
        7688,
        "credit",
        "alice",
        "s@cret",
    )
    assert (
        parse_uri("bolt://localhost").port == 7687
        and parse_uri("bolt://localhost").database == "neo4j"
    )
    with pytest.raises(GraphStoreError, match="unsupported graph URI scheme"):
        parse_uri("http://x")


def test_writes_use_managed_write_transactions_with_parameters() -> None:
    driver = _Driver()
    store = Neo4jStore(parse_uri("neo4j://u:p@h:7687/credit"), driver=driver)
    assert store.run("RETURN $v AS v", {"v": "McDonald's"}) == [{"v": "McDonald's"}]
    assert ("session", "credit") in driver.log and ("write",) in driver.log
    assert ("run", "RETURN $v AS v", {"v": "McDonald's"}) in driver.log
    driver.log.clear()
    store.read("RETURN $v AS v", {"v": 1})
    assert ("read",) in driver.log and ("write",) not in driver.log
    assert ("mode", neo4j.READ_ACCESS) in driver.log and (
        "mode",
        neo4j.WRITE_ACCESS,
    ) not in driver.log
    assert (
        store.write_batch("UNWIND $rows AS r RETURN r", [{"a": i} for i in range(7)], batch_size=3)
        == 7
    )
    assert sum(1 for e in driver.log if e[0] == "run") == 1 + 3
    store.close()
    assert driver.log[-1] == ("closed",)


def test_driver_errors_become_graph_store_errors() -> None:
    class _SyntaxError(neo4j.exceptions.ClientError):
        code = "Neo.ClientError.Statement.SyntaxError"  # type: ignore[assignment]
        message = "Invalid input 'RETRUN'"  # type: ignore[assignment]

    store = Neo4jStore(parse_uri("bolt://h/neo4j"), driver=_Driver(fail=_SyntaxError()))
    with pytest.raises(GraphStoreError, match="SyntaxError"):
        store.run("RETRUN 1")


def test_neo4j_ddl_is_idempotent_and_named() -> None:
    for stmt in index_statements("neo4j"):
        assert "IF NOT EXISTS" in stmt and stmt.startswith("CREATE INDEX ")
    assert all("IF NOT EXISTS" not in s for s in index_statements("falkordb"))


@pytest.mark.skipif(
    not os.environ.get("CREDGRAPH_TEST_NEO4J_URI"), reason="no Neo4j 5 server configured"
)
def test_round_trip_against_real_neo4j() -> None:  # pragma: no cover - needs a Neo4j server
    from graph.store import open_store

    store = open_store(os.environ["CREDGRAPH_TEST_NEO4J_URI"])
    for v in ["McDonald's", "back\\slash", "new\nline", "深圳", 1.5, True, None]:
        assert store.run("RETURN $v AS v", {"v": v})[0]["v"] == v
    store.close()


def test_async_reads_use_managed_read_transactions() -> None:
    import asyncio

    from graph.store import AsyncNeo4jStore

    log: list[Any] = []

    class _Result:
        def __init__(self, rows: list[dict[str, Any]]) -> None:
            self.rows = rows

        def __aiter__(self) -> Any:
            async def gen() -> Any:
                for r in self.rows:
                    yield r

            return gen()

    class _ATx:
        async def run(self, query: str, params: dict[str, Any]) -> _Result:
            log.append(("run", query, params))
            return _Result([{"v": params["v"]}])

    class _ASession:
        async def __aenter__(self) -> _ASession:
            return self

        async def __aexit__(self, *exc: object) -> None:
            log.append(("closed",))

        async def execute_read(self, work: Any) -> Any:
            log.append(("read",))
            return await work(_ATx())

        async def execute_write(self, work: Any) -> Any:
            log.append(("write",))
            return await work(_ATx())

    class _ADriver:
        def session(self, database: str, default_access_mode: str) -> _ASession:
            log.append(("session", database))
            log.append(("mode", default_access_mode))
            return _ASession()

        async def close(self) -> None:
            log.append(("driver-closed",))

    async def go() -> list[dict[str, Any]]:
        store = AsyncNeo4jStore(parse_uri("neo4j://h/credit"), driver=_ADriver())
        rows = await store.read("RETURN $v AS v", {"v": "深圳"})
        assert log.count(("write",)) == 0
        written = await store.run("MERGE (n:Finding {uid: $v}) RETURN $v AS v", {"v": "F1"})
        assert written == [{"v": "F1"}] and log.count(("write",)) == 1  # the API's mutations
        await store.close()
        sessions = log.count(("session", "credit"))
        with pytest.raises(GraphStoreError, match=r"^the graph store is closed"):
            await store.read("RETURN 1 AS n")  # work outliving the app opens no session
        assert log.count(("session", "credit")) == sessions
        return rows

    assert asyncio.run(go()) == [{"v": "深圳"}]
    assert ("session", "credit") in log and ("read",) in log and log[-1] == ("driver-closed",)
    assert ("mode", neo4j.READ_ACCESS) in log
