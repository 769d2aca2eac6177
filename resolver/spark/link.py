"""``credgraph link --engine spark``: the heavy stages of linkage on Spark DataFrames, running
the local engine's own code inside the tasks (``mapInPandas`` / ``applyInPandas`` over Arrow).

Per entity kind:

1. The deterministic stage (strong identifiers, judgements) on the driver — one linear pass
   of the local :func:`resolver.linkage.link.deterministic_stage`; its component roots and identity
   sets go to Spark with the records (pickled, one binary column).
2. Blocking keys per record (``mapInPandas`` of :func:`resolver.linkage.compare.blocking_keys`), block
   sizes by aggregation, candidate pairs by a self-join of the small blocks and the sorted
   neighbourhood (:func:`resolver.linkage.compare.neighbourhood_pairs`) over each oversized block
   (``applyInPandas`` per block); pairs inside one deterministic component or across
   conflicting identities are dropped with column expressions.
3. The model trained on the driver (:func:`resolver.linkage.link.train_model`) from a sample of the
   candidate pairs; every pair compared and scored in ``mapInPandas`` batches
   (:func:`resolver.linkage.compare.compare_enterprises` / ``compare_persons``,
   :func:`resolver.linkage.link.score_pairs`).
4. Connected components (large-star / small-star, :mod:`resolver.spark.components`) of the
   deterministic components joined by pairs at or above the match threshold; each component
   is then clustered by the local constrained merging (:func:`resolver.linkage.link.merge_candidates`,
   with the contradiction guard and cannot-link constraints) in a cogrouped ``applyInPandas``.
5. Clusters, decisions and review pairs assembled on the driver (:func:`resolver.linkage.link.finish_kind`).
"""

from __future__ import annotations

import json
import pickle
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np

from resolver.ingest.manifest import Manifest
from resolver.ingest.rows import Record
from resolver.linkage.clustering import ConstrainedUnionFind
from resolver.linkage.compare import (
    EntityRecord,
    blocking_keys,
    compare_enterprises,
    compare_persons,
    entity_record,
    neighbourhood_pairs,
)
from resolver.linkage.fellegi_sunter import FSModel, Levels
from resolver.linkage.link import (
    Ingested,
    IngestResult,
    KindResult,
    LinkConfig,
    Progress,
    _ingest_group,
    department_groups,
    deterministic_stage,
    finish_kind,
    merge_candidates,
    review_entries,
    score_pairs,
    train_model,
)
from resolver.spark.costs import Meter, metered_batches, metered_cogroup, metered_group

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

#: Candidate pairs the model is trained on at most (a uniform sample when there are more).
TRAIN_PAIRS = 200_000
RECORD_SCHEMA = (
    "idx long, root long, cu string, ci string, cb string, "
    "ru string, ri string, rb string, payload binary"
)
SCORED_SCHEMA = "a long, b long, ra long, rb long, p double, adj double, lv binary"
CLUSTER_SCHEMA = (
    "idx long, label long, attach double, merges long, contradicted long, refusals string"
)


def _record(payload: bytes) -> Record:
    dept, file, line, rid, kind, raw, std = pickle.loads(payload)
    return Record(dept, file, line, rid, kind, raw, std, [], {})


def _payload(r: Record) -> bytes:
    return pickle.dumps((r.dept, r.file, r.line, r.record_id, r.kind, r.raw, r.std), protocol=5)


def _ident(values: frozenset[str] | None) -> str | None:
    """A cluster's identity set as one comparable string (None when empty)."""
    return "\x1f".join(sorted(values)) if values else None


def _branch(values: frozenset[bool] | None) -> str | None:
    """A cluster's branch flag when it has exactly one (the only case a conflict checks)."""
    return ("1" if next(iter(values)) else "0") if values and len(values) == 1 else None


def _compare(kind: str, a: list[EntityRecord], b: list[EntityRecord]) -> Levels:
    return compare_enterprises(a, b) if kind == "enterprise" else compare_persons(a, b)


def _blocking_task(
    batches: Iterable[pd.DataFrame],
) -> Iterator[pd.DataFrame]:
    import pandas as pd

    for pdf in batches:
        keys: list[str] = []
        idxs: list[int] = []
        for idx, payload in zip(pdf["idx"].tolist(), pdf["payload"].tolist(), strict=True):
            for key in blocking_keys(entity_record(idx, _record(payload))):
                keys.append("\x1f".join(key))
                idxs.append(idx)
        yield pd.DataFrame({"bkey": keys, "idx": idxs})


def _window_task(window: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Sorted-neighbourhood pairs of one oversized block."""

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        ers = [
            entity_record(idx, _record(p))
            for idx, p in zip(pdf["idx"].tolist(), pdf["payload"].tolist(), strict=True)
        ]
        pairs = {(min(a, b), max(a, b)) for a, b in neighbourhood_pairs(ers, window) if a != b}
        return pd.DataFrame(sorted(pairs), columns=["a", "b"], dtype="int64")

    return run


def _scoring_task(
    kind: str, model: FSModel
) -> Callable[[Iterable[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """Compare and score candidate pairs with the local engine's functions."""

    def run(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        for pdf in batches:
            if not len(pdf):
                continue
            ea = [
                entity_record(i, _record(p))
                for i, p in zip(pdf["a"].tolist(), pdf["pa"].tolist(), strict=True)
            ]
            eb = [
                entity_record(i, _record(p))
                for i, p in zip(pdf["b"].tolist(), pdf["pb"].tolist(), strict=True)
            ]
            levels = _compare(kind, ea, eb)
            # score_pairs reads the name term of each pair's first record: ea[k] for pair k
            probs, adjust = score_pairs(kind, ea, [(k, k) for k in range(len(ea))], levels, model)
            yield pd.DataFrame(
                {
                    "a": pdf["a"],
                    "b": pdf["b"],
                    "ra": pdf["ra"],
                    "rb": pdf["rb"],
                    "p": probs,
                    "adj": adjust,
                    "lv": [row.tobytes() for row in levels],
                }
            )

    return run


#: One clustered record: idx, label, attach, merges, contradicted, refusals (JSON or "").
ClusterRow = tuple[int, int, float, int, int, str]


def _cluster_component(
    recs: list[tuple[int, int, str | None, str | None, str | None]],
    pairs: list[tuple[int, int, float]],
    cfg: LinkConfig,
    cannot_link: list[tuple[int, int]],
) -> list[ClusterRow]:
    """The local constrained merging over the records ``(idx, root, uscc, id18, branch)``
    and the pairs ``(a, b, p)`` of one connected component."""
    recs = sorted(recs)
    idxs = [r[0] for r in recs]
    local = {g: k for k, g in enumerate(idxs)}
    uf = ConstrainedUnionFind(len(idxs))
    for k, (_, _, u, i, b) in enumerate(recs):
        uf.set_identity(k, u, i, None if b is None else b == "1")
    # the deterministic components as the driver found them (identity sets are unions)
    for k, (_, root, _, _, _) in enumerate(recs):
        uf.union(local[root], k, via="deterministic", force=True)
    uf.forbidden.update((local[x], local[y]) for x, y in cannot_link if x in local and y in local)
    det_root = [uf.find(k) for k in range(len(idxs))]
    pairs = sorted(pairs)
    candidates = [(local[a], local[b]) for a, b, _ in pairs]
    probs = np.array([p for _, _, p in pairs], dtype=np.float64)
    merged = merge_candidates(uf, det_root, candidates, probs, cfg)
    refusals = Counter(r.reason for r in uf.refusals)
    first = (merged.merges, merged.contradicted, json.dumps(refusals))
    return [
        (
            idx,
            idxs[uf.find(k)],
            merged.attach[det_root[k]],
            *((first[0], first[1], first[2]) if k == 0 else (0, 0, "")),
        )
        for k, idx in enumerate(idxs)
    ]


def _cluster_task(
    cfg: LinkConfig, cannot_link: list[tuple[int, int]]
) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    """The constrained merging of every connected component in one hash bucket of
    components. The bucket's frames become plain lists once and are split by component in
    Python: one pandas call per component (thousands of small calls, each building frames
    from Arrow) cost thirty times the clustering itself (docs/scale.md)."""

    def run(recs: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        by_comp: dict[int, list[tuple[int, int, str | None, str | None, str | None]]] = {}
        for c, *rec in zip(
            recs["component"].tolist(),
            recs["idx"].tolist(),
            recs["root"].tolist(),
            recs["ru"].tolist(),
            recs["ri"].tolist(),
            recs["rb"].tolist(),
            strict=True,
        ):
            by_comp.setdefault(c, []).append(tuple(rec))
        pairs_of: dict[int, list[tuple[int, int, float]]] = {}
        for c, a, b, p in zip(
            pairs["component"].tolist(),
            pairs["a"].tolist(),
            pairs["b"].tolist(),
            pairs["p"].tolist(),
            strict=True,
        ):
            pairs_of.setdefault(c, []).append((a, b, p))
        here = {r[0] for recs_c in by_comp.values() for r in recs_c}
        forbidden = [(x, y) for x, y in cannot_link if x in here and y in here]
        out: list[ClusterRow] = []
        for c in sorted(by_comp):
            out.extend(_cluster_component(by_comp[c], pairs_of.get(c, []), cfg, forbidden))
        cols = ["idx", "label", "attach", "merges", "contradicted", "refusals"]
        frame = pd.DataFrame(out, columns=cols)
        return frame.astype(
            {
                "idx": "int64",
                "label": "int64",
                "attach": "float64",
                "merges": "int64",
                "contradicted": "int64",
                "refusals": "object",
            }
        )

    return run


class SparkEngine:
    """The Spark execution backend (see the module docstring); ``spark`` is a running session
    (:func:`resolver.spark.session.spark_session`)."""

    def __init__(
        self, spark: SparkSession, train_pairs: int = TRAIN_PAIRS, meter: Meter | None = None
    ) -> None:
        self.spark = spark
        self.train_pairs = train_pairs
        self.meter = meter
        self._acc = meter.acc if meter else None

    def _step(self, name: str) -> AbstractContextManager[None]:
        return self.meter.step(name) if self.meter else nullcontext()

    def ingest(self, manifest: Manifest, progress: Progress | None) -> Ingested:
        """Ingest and standardise each department's files as one Spark task (the local
        engine's :func:`resolver.linkage.link._ingest_group`); the records come back to the driver,
        which keeps them for survivorship and mentions. The executors must see the batch
        directory (local mode, or a shared file system on a cluster)."""
        groups = department_groups(manifest)
        if progress:
            progress(f"ingesting {len(manifest.sources)} files on Spark", 0, 0)
        rdd = self.spark.sparkContext.parallelize(groups, max(1, len(groups)))
        acc = self._acc

        def ingest_group(group: Any) -> IngestResult:
            t = time.perf_counter()
            result = _ingest_group(manifest, group)
            if acc is not None:
                from resolver.spark.costs import task_partition

                took = time.perf_counter() - t
                acc.add(
                    {
                        ("ingest", task_partition()): [
                            sum(s.read for s in result[2]),
                            len(result[0]),
                            took,
                            1,
                        ]
                    }
                )
            return result

        with self._step("ingest"):
            results: list[IngestResult] = rdd.map(ingest_group).collect()
        records: dict[tuple[str, str, str], Record] = {}
        rejects = []
        files = []
        for rows, rejs, stats in results:
            for dept, file, line, rid, kind, raw, std in rows:
                records[(dept, kind, rid)] = Record(dept, file, line, rid, kind, raw, std, [], {})
            rejects.extend(rejs)
            files.extend(stats)
        order = {(s.dept, s.file): i for i, s in enumerate(manifest.sources)}
        files.sort(key=lambda f: order[(f.dept, f.file)])
        rejects.sort(key=lambda r: (order.get((r.dept, r.file), 0), r.line))
        return records, rejects, files

    def link_kind(
        self,
        kind: str,
        records: list[Record],
        cfg: LinkConfig,
        progress: Progress | None = None,
        model: FSModel | None = None,
        must_link: list[tuple[int, int]] | None = None,
        cannot_link: list[tuple[int, int]] | None = None,
    ) -> KindResult:
        """Cluster the records of one kind, as :func:`resolver.linkage.link.link_kind` does."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        from resolver.spark.components import connected_components

        rng = random.Random(f"{cfg.seed}:{kind}")
        n = len(records)
        ers = [entity_record(i, r) for i, r in enumerate(records)]
        uf, det_root = deterministic_stage(kind, ers, must_link, cannot_link)
        det_refusals = list(uf.refusals)
        stats: dict[str, Any] = {"records": n, "candidate_pairs": 0, "windowed_blocks": 0}
        attach = [0.0] * n
        label = list(det_root)
        review: list[dict[str, Any]] = []
        comp_refusals: Counter[str] = Counter()
        merges = contradicted = 0
        if n >= 2:
            with self._step(f"{kind}:records"):
                rec = self._records(records, ers, uf, det_root).persist(
                    StorageLevel.MEMORY_AND_DISK
                )
            with self._step(f"{kind}:blocking"):
                candidates = self._candidates(rec, kind, cfg, det_root, cannot_link or [], stats)
                n_cand = stats["candidate_pairs"]
            if progress:
                progress(f"{kind}: {n_cand:,} candidate pairs", 0, 0)
            if n_cand:
                if model is None:
                    with self._step(f"{kind}:training"):
                        sample = candidates.select("a", "b")
                        if n_cand > self.train_pairs:
                            sample = sample.sample(
                                fraction=self.train_pairs / n_cand, seed=cfg.seed
                            )
                        pairs = sorted((r["a"], r["b"]) for r in sample.collect())
                        levels = _compare(
                            kind, [ers[a] for a, _ in pairs], [ers[b] for _, b in pairs]
                        )
                        model, stats["training"] = train_model(
                            kind, ers, det_root, levels, pairs, cfg, rng
                        )
                        stats["training"]["candidate_sample"] = len(pairs)
                payload = rec.select("idx", "payload")
                with self._step(f"{kind}:scoring"):
                    scored = (
                        candidates.join(payload.toDF("a", "pa"), "a")
                        .join(payload.toDF("b", "pb"), "b")
                        .mapInPandas(
                            metered_batches(
                                self._acc, f"{kind}:scoring", _scoring_task(kind, model)
                            ),
                            SCORED_SCHEMA,
                        )
                        .persist(StorageLevel.MEMORY_AND_DISK)
                    )
                    edges = scored.where(F.col("p") >= cfg.match_threshold).select(
                        F.col("ra").alias("src"), F.col("rb").alias("dst")
                    )
                    has_edges = edges.limit(1).count()
                if has_edges:
                    with self._step(f"{kind}:components"):
                        comp = connected_components(edges).persist(StorageLevel.MEMORY_AND_DISK)
                    with self._step(f"{kind}:clustering"):
                        members = rec.select("idx", "root", "ru", "ri", "rb").join(
                            comp.toDF("root", "component"), "root"
                        )
                        inner = (
                            scored.where(
                                (F.col("p") >= cfg.match_threshold)
                                | (F.col("p") < cfg.contradiction)
                            )
                            .join(comp.toDF("ra", "ca"), "ra")
                            .join(comp.toDF("rb", "cb"), "rb")
                            .where(F.col("ca") == F.col("cb"))
                            .select(F.col("ca").alias("component"), "a", "b", "p")
                        )
                        buckets = int(self.spark.conf.get("spark.sql.shuffle.partitions") or 8)
                        bucket = F.pmod(F.hash("component"), F.lit(buckets))
                        clustered = (
                            members.withColumn("bucket", bucket)
                            .groupBy("bucket")
                            .cogroup(inner.withColumn("bucket", bucket).groupBy("bucket"))
                            .applyInPandas(
                                metered_cogroup(
                                    self._acc,
                                    f"{kind}:clustering",
                                    _cluster_task(cfg, cannot_link or []),
                                ),
                                CLUSTER_SCHEMA,
                            )
                            .collect()
                        )
                    for row in clustered:
                        i = row["idx"]
                        label[i] = row["label"]
                        attach[det_root[i]] = max(attach[det_root[i]], row["attach"])
                        merges += row["merges"]
                        contradicted += row["contradicted"]
                        if row["refusals"]:
                            comp_refusals.update(json.loads(row["refusals"]))
                    comp.unpersist()
                with self._step(f"{kind}:review"):
                    review = self._review(kind, records, scored, cfg, label, model)
                scored.unpersist()
            rec.unpersist()
        clusters: dict[int, list[int]] = {}
        for i in range(n):
            clusters.setdefault(label[i], []).append(i)
        stats.update(
            probabilistic_merges=merges,
            contradicted_merges=contradicted,
            deterministic_refusals=len(det_refusals),
            refusals=dict(Counter(r.reason for r in det_refusals) + comp_refusals),
        )
        return finish_kind(
            kind, records, list(clusters.values()), det_root, attach, review, model, stats
        )

    def _records(
        self,
        records: list[Record],
        ers: list[EntityRecord],
        uf: ConstrainedUnionFind,
        det_root: list[int],
    ) -> DataFrame:
        """The records with their deterministic component and its identity sets."""
        import pandas as pd

        rows = []
        for e, r, root in zip(ers, records, det_root, strict=True):
            branch = e.is_branch if (e.kind == "enterprise" and e.name) else None
            rows.append(
                (
                    e.idx,
                    root,
                    _ident(uf.usccs.get(root)),
                    _ident(uf.ids.get(root)),
                    _branch(uf.branch.get(root)),
                    e.uscc,
                    e.id18,
                    None if branch is None else ("1" if branch else "0"),
                    _payload(r),
                )
            )
        cols = ["idx", "root", "cu", "ci", "cb", "ru", "ri", "rb", "payload"]
        return self.spark.createDataFrame(pd.DataFrame(rows, columns=cols), RECORD_SCHEMA)

    def _candidates(
        self,
        rec: DataFrame,
        kind: str,
        cfg: LinkConfig,
        det_root: list[int],
        cannot_link: list[tuple[int, int]],
        stats: dict[str, Any],
    ) -> DataFrame:
        """Candidate pairs ``(a, b, ra, rb)``, a < b, as the local engine's blocking makes them."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        keys = (
            rec.select("idx", "payload")
            .mapInPandas(
                metered_batches(self._acc, f"{kind}:blocking", _blocking_task),
                "bkey string, idx long",
            )
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        sizes = (
            keys.groupBy("bkey")
            .agg(F.count("*").alias("size"))
            .where(F.col("size") >= 2)
            .persist(StorageLevel.MEMORY_AND_DISK)  # read twice: small and oversized blocks
        )
        small = keys.join(sizes.where(F.col("size") <= cfg.max_block).select("bkey"), "bkey")
        in_blocks = small.toDF("bkey", "a").join(small.toDF("bkey", "b"), "bkey")
        pairs = in_blocks.where(F.col("a") < F.col("b")).select("a", "b")
        large = sizes.where(F.col("size") > cfg.max_block).select("bkey")
        stats["windowed_blocks"] = large.count()
        if stats["windowed_blocks"]:
            windowed = (
                keys.join(large, "bkey")
                .join(rec.select("idx", "payload"), "idx")
                .groupBy("bkey")
                .applyInPandas(
                    metered_group(self._acc, f"{kind}:windows", _window_task(cfg.window)),
                    "a long, b long",
                )
            )
            pairs = pairs.unionByName(windowed)
        ident = rec.select("idx", "root", "cu", "ci", "cb")
        pairs = (
            pairs.distinct()
            .join(ident.toDF("a", "ra", "cua", "cia", "cba"), "a")
            .join(ident.toDF("b", "rb", "cub", "cib", "cbb"), "b")
            .where(F.col("ra") != F.col("rb"))
        )

        def differ(x: str, y: str) -> Any:
            return F.col(x).isNotNull() & F.col(y).isNotNull() & (F.col(x) != F.col(y))

        # uf.conflict between the two deterministic components: other USCCs, other ID
        # numbers, a branch and a main office
        pairs = pairs.where(~(differ("cua", "cub") | differ("cia", "cib") | differ("cba", "cbb")))
        if cannot_link:
            forbidden = {(det_root[x], det_root[y]) for x, y in cannot_link}
            forbidden |= {(y, x) for x, y in forbidden}
            pairs = pairs.join(
                self.spark.createDataFrame(sorted(forbidden), "ra long, rb long"),
                ["ra", "rb"],
                "left_anti",
            )
        out = pairs.select("a", "b", "ra", "rb").persist(StorageLevel.MEMORY_AND_DISK)
        stats["candidate_pairs"] = out.count()
        keys.unpersist()
        sizes.unpersist()
        return out

    def _review(
        self,
        kind: str,
        records: list[Record],
        scored: DataFrame,
        cfg: LinkConfig,
        label: list[int],
        model: FSModel | None,
    ) -> list[dict[str, Any]]:
        """The best pair of each pair of deterministic components whose best probability lies
        between the review and the match threshold, when the two end in different clusters."""
        from pyspark.sql import functions as F

        ends = scored.withColumn("lo", F.least("ra", "rb")).withColumn("hi", F.greatest("ra", "rb"))
        best = ends.groupBy("lo", "hi").agg(F.max("p").alias("best"))
        rows = (
            ends.join(best, ["lo", "hi"])
            .where(
                (F.col("p") == F.col("best"))
                & (F.col("best") >= cfg.review_threshold)
                & (F.col("best") < cfg.match_threshold)
            )
            .select("lo", "hi", "a", "b", "p", "adj", "lv")
            .collect()
        )
        chosen: dict[tuple[int, int], Any] = {}
        for row in sorted(rows, key=lambda r: (r["a"], r["b"])):
            chosen.setdefault((row["lo"], row["hi"]), row)
        kept = [r for r in chosen.values() if label[r["a"]] != label[r["b"]]]
        kept.sort(key=lambda r: -r["p"])
        if not kept:
            return []
        levels = np.stack([np.frombuffer(r["lv"], dtype=np.int8) for r in kept])
        return review_entries(
            kind,
            records,
            model,
            [(r["a"], r["b"]) for r in kept],
            list(range(len(kept))),
            np.array([r["p"] for r in kept]),
            levels,
            np.array([r["adj"] for r in kept]),
        )
