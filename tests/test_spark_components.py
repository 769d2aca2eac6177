"""Connected components on Spark (large-star / small-star) against networkx, in local mode."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import networkx as nx
import pytest

from resolver.spark.components import connected_components
from resolver.spark.session import spark_session


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = spark_session("local[2]", shuffle_partitions=4)
    yield session
    session.stop()


def _components(spark: Any, edges: list[tuple[int, int]]) -> dict[int, int]:
    df = spark.createDataFrame(edges, "src long, dst long")
    return {r["node"]: r["component"] for r in connected_components(df).collect()}


def _expected(edges: list[tuple[int, int]]) -> dict[int, int]:
    g = nx.Graph()
    g.add_edges_from((a, b) for a, b in edges if a != b)
    return {n: min(c) for c in nx.connected_components(g) for n in c}


def test_a_long_chain_collapses_to_its_least_node(spark: Any) -> None:
    # a path of 300 nodes in shuffled order: the worst case for label propagation
    nodes = list(range(1000, 1300))
    random.Random(3).shuffle(nodes)
    edges = list(itertools.pairwise(nodes))
    got = _components(spark, edges)
    assert set(got.values()) == {1000}
    assert len(got) == 300


def test_random_graphs_match_networkx(spark: Any) -> None:
    rng = random.Random(11)
    edges: list[tuple[int, int]] = []
    # many small components (entity-resolution shape), a few cycles, stars and duplicates
    for base in range(0, 20_000, 40):
        size = rng.randint(1, 12)
        members = rng.sample(range(base, base + 40), size)
        for a, b in itertools.pairwise(members):
            edges.append((a, b) if rng.random() < 0.5 else (b, a))
        if size > 3 and rng.random() < 0.3:
            edges.append((members[0], members[-1]))  # a cycle
        if size > 1 and rng.random() < 0.2:
            edges.append((members[1], members[1]))  # a self-loop is no edge
            edges.append((members[0], members[1]))  # a duplicate
    got = _components(spark, edges)
    assert got == _expected(edges)
