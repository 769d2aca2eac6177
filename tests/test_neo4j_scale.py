"""Neo4j at scale, at the driver boundary (no Neo4j server can run here): routing URIs give the
official driver's routing driver; reads ask the driver for READ connections (followers and read
replicas of a cluster), writes for WRITE connections (the leader); relationship loads run in
rounds whose cells never share a node, so concurrent writers cannot deadlock."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import threading
from collections import Counter
from typing import Any

import neo4j
import pytest

from graph.rel_partition import groups_for, node_group, ordered, schedule
from graph.store import AsyncNeo4jStore, GraphStoreError, Neo4jStore, parse_uri


def test_routing_uris_make_routing_drivers() -> None:
    for uri, cls in [
        ("neo4j://u:p@db1.example:7687/credit", neo4j.Neo4jDriver),
        ("neo4j+s://u:p@cluster.example/credit", neo4j.Neo4jDriver),
        ("bolt://u:p@db1.example:7687/credit", neo4j.BoltDriver),
        ("bolt+s://u:p@db1.example/credit", neo4j.BoltDriver),
    ]:
        store = Neo4jStore(parse_uri(uri))
        assert isinstance(store.driver, cls), uri
        assert store.database == "credit"
        store.close()
    assert parse_uri("neo4j://db/credit?writers=4").writers == 4
    assert parse_uri("neo4j://db/credit").writers == 1
    with pytest.raises(GraphStoreError, match="writers='0': use a number 1-64"):
        parse_uri("neo4j://db/credit?writers=0")
    with pytest.raises(GraphStoreError, match="unknown graph URI parameter 'routing'"):
        parse_uri("neo4j://db/credit?routing=x")
    with pytest.raises(GraphStoreError, match="unknown graph URI parameter 'writers'"):
        parse_uri("falkordb://127.0.0.1:1/g?writers=2")


class _NoServer(neo4j.exceptions.ConfigurationError):
    """Raised where the driver would open a network connection (not retryable)."""


def _record_acquire(driver: Any, seen: list[tuple[str, str | None]]) -> None:
    """Let the real driver run up to the point where it asks its connection pool for a
    connection of an access mode, record that request, and stop there."""

    def acquire(access_mode: str, timeout: Any, database: Any, *args: Any, **kw: Any) -> Any:
        seen.append((access_mode, getattr(database, "name", database)))
        raise _NoServer("no Neo4j server in the tests")

    driver._pool.acquire = acquire


def test_reads_ask_for_read_connections_and_writes_for_the_leader() -> None:
    driver = neo4j.GraphDatabase.driver("neo4j://127.0.0.1:9", auth=("u", "p"))
    store = Neo4jStore(parse_uri("neo4j://u:p@127.0.0.1:9/credit"), driver=driver)
    seen: list[tuple[str, str | None]] = []
    _record_acquire(driver, seen)
    with pytest.raises(GraphStoreError, match="no Neo4j server in the tests"):
        store.read("MATCH (n:Enterprise {uid: $u}) RETURN n", {"u": "E1"})
    assert seen == [(neo4j.READ_ACCESS, "credit")]
    seen.clear()
    with pytest.raises(GraphStoreError, match=r"Neo4j driver: .*query: MERGE"):
        store.run("MERGE (n:Enterprise {uid: $u})", {"u": "E1"})
    assert seen == [(neo4j.WRITE_ACCESS, "credit")]
    seen.clear()
    with pytest.raises(GraphStoreError):
        store.write_batch("UNWIND $rows AS r MERGE (n:X {uid: r})", [{"a": 1}])
    assert seen == [(neo4j.WRITE_ACCESS, "credit")]
    # the session objects themselves carry the access mode a cluster routes by
    with store.session(write=False) as s:
        assert s._config.default_access_mode == neo4j.READ_ACCESS
    with store.session(write=True) as s:
        assert s._config.default_access_mode == neo4j.WRITE_ACCESS
    store.close()


def test_async_api_reads_ask_for_read_connections() -> None:
    seen: list[tuple[str, str | None]] = []

    async def main() -> None:
        driver = neo4j.AsyncGraphDatabase.driver("neo4j://127.0.0.1:9", auth=("u", "p"))

        async def acquire(access_mode: str, timeout: Any, database: Any, *a: Any, **k: Any) -> Any:
            seen.append((access_mode, getattr(database, "name", database)))
            raise _NoServer("no Neo4j server in the tests")

        driver._pool.acquire = acquire
        store = AsyncNeo4jStore(parse_uri("neo4j://u:p@127.0.0.1:9/credit"), driver=driver)
        with pytest.raises(GraphStoreError, match="no Neo4j server in the tests"):
            await store.read("RETURN $v AS v", {"v": 1})
        await store.close()

    asyncio.run(main())
    assert seen == [(neo4j.READ_ACCESS, "credit")]


def _rows(n: int, nodes: int, seed: int = 3) -> list[list[Any]]:
    rng = random.Random(seed)
    rows = {(f"E{rng.randrange(nodes)}", f"P{rng.randrange(nodes)}") for _ in range(n)}
    return [[a, b, 1, "prop"] for a, b in sorted(rows)]


@pytest.mark.parametrize("writers", [1, 2, 3, 5])
def test_cells_of_a_round_never_share_a_node(writers: int) -> None:
    rows = _rows(3000, 400)
    # same label on both ends (shareholdings between enterprises): the hard case
    rounds = schedule(rows, "Enterprise", "Enterprise", writers, batch_size=50)
    g = groups_for(writers)
    assert len(rounds) <= g
    sent = Counter()
    for cells in rounds:
        assert len(cells) <= writers  # (G + 1) / 2 cells: one writer each
        node_sets = []
        for cell in cells:
            nodes = {x for batch in cell.batches for row in batch for x in (row[0], row[1])}
            node_sets.append(nodes)
            flat = [row for batch in cell.batches for row in batch]
            assert flat == sorted(flat, key=lambda r: (r[0], r[1]))  # one lock order per cell
            assert all(0 < len(b) <= 50 for b in cell.batches)
            for row in flat:
                i = node_group("Enterprise", row[0], g)
                j = node_group("Enterprise", row[1], g)
                assert (min(i, j), max(i, j)) == (cell.low, cell.high)
                sent[tuple(row)] += 1
        for x, y in itertools.combinations(node_sets, 2):
            assert not x & y
    assert sent == Counter(tuple(r) for r in rows)  # every row once
    assert sorted(ordered(rows, "Enterprise", "Enterprise", writers)) == sorted(rows)


def test_groups_are_stable_and_spread() -> None:
    assert node_group("Enterprise", "E1", 7) == node_group("Enterprise", "E1", 7)
    counts = Counter(node_group("Person", f"P{i}", 7) for i in range(7000))
    assert set(counts) == set(range(7)) and min(counts.values()) > 800
    with pytest.raises(ValueError, match="writers must be at least 1"):
        groups_for(0)


class _ConcurrentDriver:
    """Records, per write transaction, the thread, the rows and which transactions were in
    flight at the same time (the official driver's sessions are per thread as here)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[int, list[Any]] = {}
        self.overlaps: list[tuple[list[Any], list[Any]]] = []
        self.modes: list[str] = []
        self.done: list[list[Any]] = []
        self.ids = itertools.count()

    def session(self, database: str, default_access_mode: str) -> Any:
        driver = self

        class _S:
            def __enter__(self) -> Any:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

            def execute_write(self, work: Any) -> Any:
                driver.modes.append(default_access_mode)
                return work(_T())

        class _T:
            def run(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
                rows = params["rows"]
                key = next(driver.ids)
                with driver.lock:
                    for other in driver.active.values():
                        driver.overlaps.append((rows, other))
                    driver.active[key] = rows
                threading.Event().wait(0.002)  # let other writers run meanwhile
                with driver.lock:
                    del driver.active[key]
                    driver.done.append(rows)
                return [{"n": sum(r[2] for r in rows)}]

        return _S()

    def close(self) -> None:
        return None


def test_concurrent_writers_never_overlap_on_a_node() -> None:
    rows = _rows(2000, 300)
    driver = _ConcurrentDriver()
    store = Neo4jStore(parse_uri("neo4j://u:p@h/credit?writers=3"), driver=driver)
    n = store.write_rels_partitioned(
        "UNWIND $rows AS r MATCH (a:Enterprise {uid: r[0]}) RETURN sum(r[2]) AS n",
        rows,
        "Enterprise",
        "Person",
        batch_size=40,
    )
    assert n == len(rows)
    assert sorted(r for batch in driver.done for r in batch) == sorted(rows)
    assert set(driver.modes) == {neo4j.WRITE_ACCESS}
    assert driver.overlaps, "the writers never ran at the same time"
    for a, b in driver.overlaps:
        nodes_a = {("E", r[0]) for r in a} | {("P", r[1]) for r in a}
        nodes_b = {("E", r[0]) for r in b} | {("P", r[1]) for r in b}
        assert not nodes_a & nodes_b


@pytest.mark.skipif(
    not os.environ.get("CREDGRAPH_TEST_NEO4J_URI"), reason="no Neo4j 5 server configured"
)
def test_partitioned_writers_against_real_neo4j() -> None:  # pragma: no cover - needs Neo4j
    """Three writers MERGE relationships between the same nodes in both directions: every
    relationship arrives, none twice, no deadlock surfaces."""
    uri = os.environ["CREDGRAPH_TEST_NEO4J_URI"]
    store = Neo4jStore(parse_uri(uri + ("&" if "?" in uri else "?") + "writers=3"))
    nodes = [f"T{i}" for i in range(200)]
    store.run("MATCH (n:ScaleTest) DETACH DELETE n")
    store.run("UNWIND $uids AS u MERGE (:ScaleTest {uid: u})", {"uids": nodes})
    rng = random.Random(5)
    rows = sorted({(rng.choice(nodes), rng.choice(nodes)) for _ in range(3000)})
    query = (
        "UNWIND $rows AS r MATCH (a:ScaleTest {uid: r[0]}) MATCH (b:ScaleTest {uid: r[1]}) "
        "MERGE (a)-[:SCALE_TEST]->(b) RETURN sum(r[2]) AS n"
    )
    sent = [[a, b, 1] for a, b in rows]
    assert store.write_rels_partitioned(query, sent, "ScaleTest", "ScaleTest", 100) == len(rows)
    got = store.read("MATCH (:ScaleTest)-[r:SCALE_TEST]->(:ScaleTest) RETURN count(r) AS n")
    assert got == [{"n": len(rows)}]
    store.run("MATCH (n:ScaleTest) DETACH DELETE n")
    store.close()
