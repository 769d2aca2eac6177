"""Connected components on Spark DataFrames: the alternating large-star / small-star
algorithm of Kiveris, Lattanzi, Mirrokni, Rastogi and Vassilvitskii, "Connected Components in
MapReduce and Beyond" (SoCC 2014).

Every node ends up labelled with the least node id of its component. Each round is a few
joins and aggregations over the edge list, so nothing is collected on the driver; the number of
rounds grows with log² of the component diameter (a handful for entity-resolution graphs,
whose components are small and shallow). Edges are checkpointed every round so that the
query plan does not grow with the number of rounds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class ComponentsDidNotConvergeError(RuntimeError):
    """The rounds limit was reached before the edge set stopped changing."""


def _undirected(edges: DataFrame) -> DataFrame:
    """Each edge once, as (u, v) with u > v; no self-loops."""
    from pyspark.sql import functions as F

    return (
        edges.select(F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v"))
        .where(F.col("u") != F.col("v"))
        .distinct()
    )


def _large_star(edges: DataFrame) -> DataFrame:
    """Connect every strictly larger neighbour of u to the least node of u's neighbourhood."""
    from pyspark.sql import functions as F

    both = edges.unionByName(edges.select(F.col("v").alias("u"), F.col("u").alias("v")))
    least = both.groupBy("u").agg(F.min("v").alias("m"))
    least = least.select("u", F.least("u", "m").alias("m"))
    out = both.join(least, "u").where(F.col("v") > F.col("u"))
    return _undirected(out.select(F.col("v").alias("u"), F.col("m").alias("v")))


def _small_star(edges: DataFrame) -> DataFrame:
    """Connect u and its smaller neighbours to the least of them."""
    from pyspark.sql import functions as F

    # edges come as (u, v) with v < u: v ranges over u's smaller neighbours
    least = edges.groupBy("u").agg(F.min("v").alias("m"))
    out = edges.join(least, "u").select(F.col("v").alias("u"), F.col("m").alias("v"))
    out = out.unionByName(least.select(F.col("u"), F.col("m").alias("v")))
    return _undirected(out)


def _differing_edges(old: DataFrame, new: DataFrame) -> int:
    """How many edges are in only one of two edge sets (both distinct): one job, one join."""
    from pyspark.sql import functions as F

    joined = old.withColumn("o", F.lit(1)).join(new.withColumn("n", F.lit(1)), ["u", "v"], "full")
    row = joined.agg(
        F.sum(F.when(F.col("o").isNull() | F.col("n").isNull(), 1).otherwise(0)).alias("d")
    ).first()
    return int(row["d"] or 0) if row is not None else 0


def connected_components(edges: DataFrame, max_rounds: int = 64) -> DataFrame:
    """``(node, component)`` for every node that has an edge; ``component`` is the least node
    id of its component. ``edges`` has integer columns ``src`` and ``dst``; direction and
    duplicates do not matter. Isolated nodes (no edge) are the caller's singletons."""
    from pyspark.sql import functions as F

    current = _undirected(edges.select(F.col("src").alias("u"), F.col("dst").alias("v")))
    current = current.localCheckpoint()
    for _ in range(max_rounds):
        nxt = _small_star(_large_star(current)).localCheckpoint()
        changed = _differing_edges(current, nxt)
        current = nxt
        if changed == 0:
            break
    else:
        raise ComponentsDidNotConvergeError(
            f"connected components did not converge in {max_rounds} rounds"
        )
    # converged: every edge joins a node to the least node of its component (a star)
    labelled = current.select(F.col("u").alias("node"), F.col("v").alias("component"))
    roots = current.select(F.col("v").alias("node"), F.col("v").alias("component"))
    return labelled.unionByName(roots).groupBy("node").agg(F.min("component").alias("component"))
