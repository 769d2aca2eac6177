"""``credgraph link``: from an ingested batch to golden entities (Contract 2).

Stages: ingest → deterministic links on valid strong identifiers (with cannot-link
constraints) → blocking → comparison → Fellegi–Sunter model → constrained cluster merging →
survivorship → resolution of the subjects of roles, shareholdings, credit events, facts and
declarations → the Contract 2 files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import random
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from itertools import compress
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from resolver.csvsafe import safe_writer
from resolver.gcpause import paused_gc, without_gc
from resolver.ingest.manifest import Manifest, SourceSpec, load_manifest
from resolver.ingest.rows import FileStats, Record, RecordKey, Reject, ingest
from resolver.linkage.blocking import KeyTable, Pairs, candidate_pairs, training_eligibility
from resolver.linkage.clustering import ConstrainedUnionFind
from resolver.linkage.compare import (
    DISAGREEMENT_LEVELS,
    ENTERPRISE_FEATURES,
    ENTERPRISE_LEVELS,
    EXACT_VALUES,
    PERSON_FEATURES,
    PERSON_LEVELS,
    TF_TABLES,
    EntityRecord,
    compare_enterprises,
    compare_persons,
    entity_record,
    name_term,
    name_terms,
)
from resolver.linkage.fellegi_sunter import FSModel, Levels, train
from resolver.linkage.mentions import SubjectIndex, resolve_without_identifier
from resolver.linkage.survivorship import (
    GOLDEN_FIELDS,
    Golden,
    build_golden,
    id_hash,
    mask_id_number,
)
from resolver.linkage.term_frequency import TermFrequencies, count_terms, value_agreement_u
from resolver.standardize.records import Flag, clear_memo, load_tables
from resolver.state import run_files
from resolver.state.sealing import installation_salt
from resolver.workers import FedCall, can_fork, worker_pool

Progress = Callable[[str, int, int], None]
LEGAL_REP_ROLES = frozenset(
    {"法定代表人", "负责人", "经营者", "理事长", "执行事务合伙人", "投资人"}
)
MENTION_KINDS = ("credit_event", "fact", "tax_declaration")
T = TypeVar("T")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Thresholds and sizes; the defaults suit department data of this kind."""

    match_threshold: float = 0.9
    review_threshold: float = 0.3
    max_block: int = 40
    window: int = 10  # sorted-neighbourhood window inside blocks larger than max_block
    contradiction: float = 0.001  # a pair this unlikely keeps its two clusters apart
    label_pairs: int = 200_000
    random_pairs: int = 50_000  # u of the lower levels; the top levels' u come from value counts
    train_pairs: int = 200_000  # candidate pairs EM trains on at most (a uniform sample of them)
    seed: int = 1
    parallel: bool = True  # one-shot run: helper processes forked before ingest (Helpers)
    salt: str = (
        ""  # ID-hash salt; empty: the installation's secret salt (resolver/state/sealing.py)
    )


@dataclass(slots=True)
class KindResult:
    """Linkage of one entity kind."""

    records: list[Record]
    cluster_of: list[int]  # record index -> cluster number
    clusters: list[list[int]]
    decision: list[str]
    score: list[float]
    review: list[dict[str, Any]]
    model: FSModel | None
    stats: dict[str, Any] = field(default_factory=dict)


def golden_id(kind: str, members: list[Record]) -> str:
    """A content-derived ID: the same members give the same ID (the registry of stable IDs
    across batches builds on this)."""
    first = min((r.dept, r.record_id) for r in members)
    digest = hashlib.sha1(f"{kind}\x1f{first[0]}\x1f{first[1]}".encode()).digest()
    return ("E" if kind == "enterprise" else "P") + base64.b32encode(digest[:10]).decode().rstrip(
        "="
    )


def golden_ids(kind: str, records: list[Record], clusters: list[list[int]]) -> list[str]:
    """:func:`golden_id` of every cluster (record indices into ``records``), in one base32
    encoding of all digests (10 bytes encode to 16 characters, so the IDs are its slices)."""
    digests = bytearray()
    for members in clusters:
        rec = records[members[0]]
        first = (
            (rec.dept, rec.record_id)
            if len(members) == 1
            else min((records[i].dept, records[i].record_id) for i in members)
        )
        digests += hashlib.sha1(f"{kind}\x1f{first[0]}\x1f{first[1]}".encode()).digest()[:10]
    text = base64.b32encode(bytes(digests)).decode()
    prefix = "E" if kind == "enterprise" else "P"
    return [prefix + text[k : k + 16] for k in range(0, len(text), 16)]


def mention_person_id(id18: str, salt: str) -> str:
    """The golden ID of a person known only from mentions (no person record): derived from
    the salted hash of the ID number, so every mention of the same person gets the same ID."""
    digest = hashlib.sha1(f"person-id\x1f{id_hash(id18, salt)}".encode()).digest()
    return "P" + base64.b32encode(digest[:10]).decode().rstrip("=")


def mention_enterprise_id(key: str, salt: str) -> str:
    """The golden ID of an enterprise known only from mentions (no registration record of the
    run carries it), derived from its mention key (``U|USCC``, ``O|…``, ``R|…``, ``n|name``)."""
    digest = hashlib.sha1(f"enterprise-id\x1f{id_hash(key, salt)}".encode()).digest()
    return "E" + base64.b32encode(digest[:10]).decode().rstrip("=")


def mention_enterprise_key(
    uscc: str | None, org: str | None, reg: str | None, name: str | None
) -> str | None:
    """What identifies an enterprise known only from mentions: its strongest identifier."""
    for tag, v in (("U", uscc), ("O", org), ("R", reg), ("n", name)):
        if v:
            return f"{tag}|{v}"
    return None


def _compare(kind: str, ers: list[EntityRecord], pairs: Pairs | list[tuple[int, int]]) -> Levels:
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    a = [ers[i] for i in arr[:, 0].tolist()]
    b = [ers[j] for j in arr[:, 1].tolist()]
    return compare_enterprises(a, b) if kind == "enterprise" else compare_persons(a, b)


def link_kind(
    kind: str,
    records: list[Record],
    cfg: LinkConfig,
    progress: Progress | None = None,
    model: FSModel | None = None,
    must_link: list[tuple[int, int]] | None = None,
    cannot_link: list[tuple[int, int]] | None = None,
) -> KindResult:
    """Cluster the records of one kind (enterprise or person).

    ``model``: use these parameters instead of training (incremental runs). ``must_link`` /
    ``cannot_link``: human judgements between record indices; they win over the model and a
    negative one also blocks every transitive merge.
    """
    rng = random.Random(f"{cfg.seed}:{kind}")
    clock = _StageClock()
    ers = [entity_record(i, r) for i, r in enumerate(records)]
    clock.lap("records")
    uf, det_root = deterministic_stage(kind, ers, must_link, cannot_link)
    clock.lap("deterministic")
    det_refusals = len(uf.refusals)
    # 2. Blocking: candidate pairs across deterministic components that may be merged. A
    # block too large to compare in full is not skipped: its records are compared with their
    # neighbours in several sort orders (sorted neighbourhood), so its likely pairs survive.
    table = KeyTable.build(ers)
    clock.lap("keys")
    pairs, windowed = candidate_pairs(ers, table, cfg.max_block, cfg.window)
    clock.lap("blocking")
    roots = np.asarray(det_root, dtype=np.int64)
    pairs = pairs[roots[pairs[:, 0]] != roots[pairs[:, 1]]]
    candidates = pairs[mergeable(uf, roots, pairs)]
    clock.lap("constraints")
    stats: dict[str, Any] = {
        "records": len(records),
        "candidate_pairs": len(candidates),
        "windowed_blocks": windowed,
    }
    if progress:
        progress(f"{kind}: {len(candidates):,} candidate pairs", 0, 0)
    # 3. Training (see resolver.linkage.fellegi_sunter), then scoring of every candidate pair.
    probs = np.zeros(0)
    levels = np.zeros((0, 0), dtype=np.int8)
    adjust = np.zeros(0)
    if len(candidates):
        levels = _compare(kind, ers, candidates)
        clock.lap("compare")
        if model is None:
            model, stats["training"] = train_model(
                kind, ers, det_root, levels, candidates, cfg, rng, table.tag_columns()
            )
            clock.lap("train")
        probs, adjust = score_pairs(kind, ers, candidates, levels, model)
        clock.lap("score")
    # 4. Constrained merging, best component pairs first.
    merged = merge_candidates(uf, det_root, candidates, probs, cfg)
    clock.lap("merge")
    left = [k for k in merged.review if uf.find(candidates[k][0]) != uf.find(candidates[k][1])]
    review = review_entries(
        kind, records, model, candidates[left].tolist(), left, probs, levels, adjust
    )
    stats.update(
        probabilistic_merges=merged.merges,
        contradicted_merges=merged.contradicted,
        deterministic_refusals=det_refusals,
        refusals=dict(Counter(r.reason for r in uf.refusals)),
    )
    clock.lap("review")
    result = finish_kind(
        kind, records, list(uf.clusters().values()), det_root, merged.attach, review, model, stats
    )
    clock.lap("clusters")
    stats["timings"] = clock.laps
    return result


class _StageClock:
    """Seconds spent in each step of a stage (the report's per-kind ``timings``)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        t = time.perf_counter()
        self.laps[name] = round(t - self._t, 3)
        self._t = t


def mergeable(
    uf: ConstrainedUnionFind, roots: NDArray[np.int64], pairs: Pairs
) -> NDArray[np.bool_]:
    """Per pair: whether the cannot-link constraints allow merging its two clusters
    (:meth:`ConstrainedUnionFind.conflict` over whole arrays; ``roots``: each record's
    cluster root, the union-find unchanged since)."""
    a, b = roots[pairs[:, 0]], roots[pairs[:, 1]]
    ok = np.ones(len(pairs), dtype=bool)
    for table in (uf.usccs, uf.ids):
        codes: dict[frozenset[str], int] = {}
        ident = np.full(uf.n, -1, dtype=np.int64)
        for root, values in table.items():
            ident[root] = codes.setdefault(values, len(codes))
        ia, ib = ident[a], ident[b]
        ok &= ~((ia >= 0) & (ib >= 0) & (ia != ib))
    branch = np.full(uf.n, -1, dtype=np.int64)
    for root, flags in uf.branch.items():
        if len(flags) == 1:
            branch[root] = int(next(iter(flags)))
    ba, bb = branch[a], branch[b]
    ok &= ~((ba >= 0) & (bb >= 0) & (ba != bb))
    if uf.forbidden:  # human negative judgements: few, checked one by one
        for k in np.flatnonzero(ok).tolist():
            ok[k] = uf.conflict(int(pairs[k, 0]), int(pairs[k, 1])) is None
    return ok


def deterministic_stage(
    kind: str,
    ers: list[EntityRecord],
    must_link: list[tuple[int, int]] | None = None,
    cannot_link: list[tuple[int, int]] | None = None,
) -> tuple[ConstrainedUnionFind, list[int]]:
    """1. Deterministic links on valid strong identifiers (and positive judgements): the
    constrained union-find after them and each record's deterministic component root."""
    uf = ConstrainedUnionFind(len(ers))
    for e in ers:
        uf.set_identity(
            e.idx, e.uscc, e.id18, e.is_branch if (kind == "enterprise" and e.name) else None
        )
    uf.forbidden.update(cannot_link or [])
    first: dict[tuple[str, str], int] = {}
    for e in ers:
        for key in e.keys:
            j = first.setdefault(key, e.idx)
            if j != e.idx:
                uf.union(j, e.idx, via=f"{key[0]}", check_branch=False)
    for a, b in must_link or []:
        uf.union(a, b, via="judgement", force=True)
    return uf, [uf.find(i) for i in range(len(ers))]


def train_model(
    kind: str,
    ers: list[EntityRecord],
    det_root: list[int],
    levels: Levels,
    candidates: Pairs | list[tuple[int, int]],
    cfg: LinkConfig,
    rng: random.Random,
    columns: dict[str, NDArray[np.int64]] | None = None,
) -> tuple[FSModel, dict[str, Any]]:
    """Train the model (see resolver.linkage.fellegi_sunter): sure matches (shared strong identifier),
    uniformly random pairs, value counts and term frequencies over identifier components, and
    expectation-maximisation over ``candidates`` (all candidate pairs, or a sample of them;
    at most ``cfg.train_pairs``) whose comparison levels are ``levels``."""
    n = len(ers)
    names = ENTERPRISE_FEATURES if kind == "enterprise" else PERSON_FEATURES
    level_names = ENTERPRISE_LEVELS if kind == "enterprise" else PERSON_LEVELS
    by_comp: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(det_root):
        by_comp[r].append(i)
    label: list[tuple[int, int]] = []
    for members in by_comp.values():
        for k in range(1, len(members)):
            label.append((members[0], members[k]))
    if len(label) > cfg.label_pairs:
        label = rng.sample(label, cfg.label_pairs)
    randoms: list[tuple[int, int]] = []
    for _ in range(cfg.random_pairs):
        a, b = rng.randrange(n), rng.randrange(n)
        if det_root[a] != det_root[b]:
            randoms.append((a, b))
    tf = count_terms((table, value, det_root[e.idx]) for e in ers for table, value in name_terms(e))
    exact_u: dict[int, float] = {}
    for f, get in EXACT_VALUES[kind].items():
        values = list(map(get, ers))  # ers[i].idx == i: det_root[i] is its component
        if (
            u := value_agreement_u(compress(zip(values, det_root, strict=True), values))
        ) is not None:
            exact_u[f] = u
    prior = _random_match_prior(ers, det_root)
    if len(candidates) > cfg.train_pairs:
        pick = sorted(rng.sample(range(len(candidates)), cfg.train_pairs))
        candidates = np.asarray(candidates, dtype=np.int64)[pick]
        levels = levels[pick]
    log_freq = term_log_frequencies(kind, ers, candidates, levels, tf)
    model = train(
        names,
        level_names,
        _compare(kind, ers, label),
        _compare(kind, ers, randoms),
        levels,
        prior,
        exact_u,
        tf,
        lambda mdl: name_frequency_adjustment(levels, log_freq, mdl),
        training_eligibility(kind, ers, candidates, len(names), columns),
        DISAGREEMENT_LEVELS[kind],
    )
    return model, {
        "sure_match_pairs": len(label),
        "random_pairs": len(randoms),
        "prior": prior,
        "em_iterations": model.iterations,
        "em_pairs": len(candidates),
    }


def score_pairs(
    kind: str,
    ers: list[EntityRecord],
    pairs: Pairs | list[tuple[int, int]],
    levels: Levels,
    model: FSModel,
) -> tuple[np.ndarray, np.ndarray]:
    """Match probability and name-frequency adjustment of each compared pair."""
    log_freq = term_log_frequencies(kind, ers, pairs, levels, model.tf)
    adjust = name_frequency_adjustment(levels, log_freq, model)
    return model.probability(levels, adjust), adjust


@dataclass(slots=True)
class Merged:
    """The outcome of the constrained merging of candidate pairs."""

    merges: int
    contradicted: int
    attach: list[float]  # per deterministic root: probability with which it was attached
    review: list[int]  # candidate indices between the review and the match threshold


def merge_candidates(
    uf: ConstrainedUnionFind,
    det_root: list[int],
    candidates: Pairs | list[tuple[int, int]],
    probs: np.ndarray,
    cfg: LinkConfig,
) -> Merged:
    """4. Merge clusters through their best candidate pair, most probable first, unless a
    cannot-link constraint or contradicting evidence forbids it."""
    cand = np.asarray(candidates, dtype=np.int64).reshape(-1, 2)
    roots = np.asarray(det_root, dtype=np.int64)
    root_a, root_b = roots[cand[:, 0]], roots[cand[:, 1]]
    comp = np.minimum(root_a, root_b) * max(uf.n, 1) + np.maximum(root_a, root_b)
    # the best pair of each pair of components (the earliest among equals) ...
    ks = np.arange(len(cand))
    by_comp = np.lexsort((ks, -probs, comp))
    first = np.ones(len(by_comp), dtype=bool)
    first[1:] = comp[by_comp][1:] != comp[by_comp][:-1]
    best = by_comp[first]
    # ... most probable first; below the review threshold nothing happens to a pair
    best = best[probs[best] >= cfg.review_threshold]
    order = best[np.lexsort((best, -probs[best]))].tolist()
    attach = [0.0] * uf.n
    merges = 0
    review_idx: list[int] = []
    # Contradictions: candidate pairs whose own evidence says "different" (probability below
    # cfg.contradiction, e.g. same name but another birth date and gender). Two clusters that
    # hold such a pair are not merged through a third record that resembles both.
    against: dict[int, set[int]] = defaultdict(set)
    neg = cand[probs < cfg.contradiction]
    for a, b in zip(neg[:, 0].tolist(), neg[:, 1].tolist(), strict=True):
        against[a].add(b)
        against[b].add(a)
    cluster_members: dict[int, list[int]] = defaultdict(list)
    for i in range(uf.n):
        cluster_members[uf.find(i)].append(i)
    contradicted = 0
    pair_list = cand[order].tolist()
    for k, (a, b) in zip(order, pair_list, strict=True):
        p = float(probs[k])
        if p >= cfg.match_threshold:
            ra, rb = uf.find(a), uf.find(b)
            if ra == rb:
                continue
            if against and _contradicts(cluster_members[ra], cluster_members[rb], against):
                contradicted += 1
                continue
            if uf.union(a, b, via="probabilistic"):
                root = uf.find(a)
                moved = cluster_members.pop(rb if root == ra else ra)
                cluster_members[root].extend(moved)
                merges += 1
                attach[det_root[a]] = max(attach[det_root[a]], p)
                attach[det_root[b]] = max(attach[det_root[b]], p)
        elif p >= cfg.review_threshold:
            review_idx.append(k)
    return Merged(merges, contradicted, attach, review_idx)


def review_entries(
    kind: str,
    records: list[Record],
    model: FSModel | None,
    pairs: list[tuple[int, int]],
    rows: list[int],
    probs: np.ndarray,
    levels: Levels,
    adjust: np.ndarray,
) -> list[dict[str, Any]]:
    """review.csv rows of the pairs left in different clusters; ``rows[k]`` is the row of
    ``pairs[k]`` in ``probs``, ``levels`` and ``adjust``."""
    review: list[dict[str, Any]] = []
    if model is None:
        return review
    for (a, b), k in zip(pairs, rows, strict=True):
        rec_a, rec_b = records[a], records[b]
        review.append(
            {
                "kind": kind,
                "dept_a": rec_a.dept,
                "record_id_a": rec_a.record_id,
                "dept_b": rec_b.dept,
                "record_id_b": rec_b.record_id,
                "name_a": rec_a.raw.get("name", ""),
                "name_b": rec_b.raw.get("name", ""),
                "probability": round(float(probs[k]), 4),
                "weights": {
                    **model.explain(levels[k]),
                    "name_frequency": round(float(adjust[k]), 3),
                },
                "comparison": model.describe(levels[k]),
            }
        )
    return review


def finish_kind(
    kind: str,
    records: list[Record],
    clusters: list[list[int]],
    det_root: list[int],
    attach: list[float],
    review: list[dict[str, Any]],
    model: FSModel | None,
    stats: dict[str, Any],
) -> KindResult:
    """5. Clusters (each in record order, ordered by first record) and per-record decisions."""
    n = len(records)
    cluster_of = [0] * n
    for c, members in enumerate(clusters):
        for i in members:
            cluster_of[i] = c
    decision = [""] * n
    score = [0.0] * n
    chained = 0
    for members in clusters:
        comps = {det_root[i] for i in members}
        if len(comps) >= 3:
            chained += 1
        for i in members:
            if len(comps) > 1 and attach[det_root[i]] > 0:
                decision[i], score[i] = "probabilistic", round(attach[det_root[i]], 4)
            elif len(members) > 1:
                decision[i], score[i] = "strong_id", 1.0
            else:
                decision[i], score[i] = "singleton", 1.0
    stats.update(
        clusters=len(clusters),
        singletons=sum(1 for c in clusters if len(c) == 1),
        deterministic_components=len(set(det_root)),
        review_pairs=len(review),
        chained_clusters=chained,
        decisions=dict(Counter(decision)),
    )
    return KindResult(records, cluster_of, clusters, decision, score, review, model, stats)


def term_log_frequencies(
    kind: str,
    ers: list[EntityRecord],
    pairs: Pairs | list[tuple[int, int]],
    levels: Levels,
    tf: TermFrequencies,
) -> np.ndarray:
    """Per pair, log2 of the term frequency of the value its name level agrees on (the full
    stem or the 字号 of an enterprise, the full name of a person); NaN where the level agrees
    on no single value."""
    out = np.full(len(pairs), np.nan)
    tables = TF_TABLES[kind]
    name_levels = levels[:, 0] if len(pairs) else np.zeros(0, dtype=np.int8)
    first = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)[:, 0]
    for level, table in tables.items():
        rows = np.flatnonzero(name_levels == level)
        for k, i in zip(rows.tolist(), first[rows].tolist(), strict=True):
            value = name_term(ers[i], table)
            if value:
                out[k] = tf.freq(table, value)
    logged: np.ndarray = np.log2(out)
    return logged


def name_frequency_adjustment(levels: Levels, log_freq: np.ndarray, model: FSModel) -> np.ndarray:
    """The term-frequency adjustment of the name weight (resolver.linkage.term_frequency):
    log2(u_level / tf(value)) where the level agrees on a value, else 0."""
    if not len(log_freq):
        return np.zeros(0)
    log_u = np.log2(np.asarray(model.u[0]))[np.maximum(levels[:, 0], 0)]
    return np.where(np.isnan(log_freq), 0.0, log_u - np.nan_to_num(log_freq))


def _contradicts(xs: list[int], ys: list[int], against: dict[int, set[int]]) -> bool:
    """Whether a record of one cluster has contradicting evidence with a record of the other."""
    if len(xs) > len(ys):
        xs, ys = ys, xs
    other = set(ys)
    return any(not against.get(x, set()).isdisjoint(other) for x in xs)


def _random_match_prior(ers: list[EntityRecord], det_root: list[int]) -> float:
    """P(two random records match), measured among the records with a valid strong
    identifier: pairs inside their identifier components over all their pairs."""
    sizes: Counter[int] = Counter(det_root[e.idx] for e in ers if e.keys)
    n = sum(sizes.values())
    if n < 2:
        return 1e-4
    within = sum(s * (s - 1) // 2 for s in sizes.values())
    return float(min(max(within / (n * (n - 1) / 2), 1e-9), 0.5))


class Resolver:
    """Finds the golden entity a mention (an identifier or name in another record) refers to."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], str] = {}
        self.enterprise_names: dict[str, set[str]] = defaultdict(set)
        self.person_names: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.subjects = SubjectIndex()  # mentions without a usable identifier
        self.persons_at: dict[tuple[str, str], str] = {}
        #: The golden entity of each record the run linked (the run's ``gid_of``).
        self.own: Mapping[RecordKey, str] = {}

    def add_enterprise(self, gid: str, rec: Record) -> None:
        self.subjects.add_enterprise(gid, rec)
        s = rec.std
        for tag, fld in (("U", "uscc"), ("O", "org_code"), ("R", "reg_no")):
            if s.get(fld):
                self.keys.setdefault((tag, s[fld]), gid)
        for fld in ("name_norm", "former_name_norm"):
            if s.get(fld):
                self.enterprise_names[s[fld]].add(gid)

    def prepare_subject(self, rec: Record) -> None:
        """Make sure :attr:`subjects` holds every entity a mention without a usable identifier
        may name. In a one-shot run it already holds them all; a stateful run holds only the
        clusters the batch touched in memory and overrides this to add stored ones."""

    def prefetch(self, by_kind: Mapping[str, list[Record]]) -> None:
        """Look up at once what the mentions of these records may ask of a store behind the
        resolver (a stateful run batches its key look-ups here); a one-shot run has none."""

    def add_person(self, gid: str, rec: Record) -> None:
        self.subjects.add_person(gid, rec)
        s = rec.std
        if s.get("id18"):
            self.keys.setdefault(("I", s["id18"]), gid)
        if s.get("name_norm") and s.get("birth_date"):
            self.person_names[(s["name_norm"], s["birth_date"])].add(gid)

    def enterprise(
        self, uscc: str | None, org: str | None, reg: str | None, name: str | None
    ) -> tuple[str | None, str]:
        for tag, v in (("U", uscc), ("O", org), ("R", reg)):
            if v and (gid := self.keys.get((tag, v))):
                return gid, "by_id"
        if name:
            found = self.enterprise_names.get(name)
            if found and len(found) == 1:
                return next(iter(found)), "by_name"
        return None, "unresolved"

    def person(self, id18: str | None) -> tuple[str | None, str]:
        if id18 and (gid := self.keys.get(("I", id18))):
            return gid, "by_id"
        return None, "unresolved"

    def record_entity(self, rec: Record) -> str | None:
        """The golden enterprise an enterprise record is linked to (its own entity): what the
        record's legal representative and branch rows are about when its identifiers and
        name do not single out one entity (no identifier, a name shared by two)."""
        return self.own.get(rec.key)

    def note_person_at(self, egid: str, name: str, gid: str) -> None:
        """A person named ``name`` at enterprise ``egid`` is ``gid`` (seen with an ID number)."""
        self.persons_at.setdefault((egid, name), gid)

    def person_at(self, egid: str, name: str, salt: str) -> str | None:
        return self.persons_at.get((egid, name))

    def mention_person(self, id18: str, salt: str) -> tuple[str, bool]:
        """(golden ID, new?) of a person known only from mentions. One-shot runs derive it
        from the salted hash of the ID number; a stateful run takes it from the registry."""
        return mention_person_id(id18, salt), True

    def mention_enterprise(self, key: str, salt: str) -> tuple[str, bool]:
        """(golden ID, new?) of an enterprise known only from mentions (see
        :func:`mention_enterprise_key`); a stateful run takes it from the registry."""
        return mention_enterprise_id(key, salt), True


@dataclass(slots=True)
class LinkResult:
    report: dict[str, Any]
    out_dir: Path


RecordTuple = tuple[str, str, int, str, str, dict[str, str], dict[str, Any]]


def _ingest_group(
    manifest: Manifest, sources: list[SourceSpec]
) -> tuple[list[RecordTuple], list[Reject], list[FileStats]]:
    """Ingest one department's files (record keys are per department, so departments are
    independent); the last row of each key wins.

    Records travel back from the worker as plain tuples: unknown columns and field flags
    are reported by `check` and not used here, and tuples of dicts pickle several times
    faster than dataclass instances.
    """
    # Keyed like ingest's superseding: an enterprise and a role row may share a record_id.
    records: dict[tuple[str, str, str], Record] = {}
    rejects: list[Reject] = []
    files: list[FileStats] = []
    with paused_gc():
        for _stats, event in ingest(
            manifest, features=True, sources=sources, on_file=files.append, extra=False
        ):
            if isinstance(event, Record):
                records[(event.dept, event.kind, event.record_id)] = event
            else:
                rejects.append(event)
        # Equal values become one object (a name in the raw and the standardised fields, a
        # status or a date shared by thousands of rows): pickled once, held once by the
        # parent — about a third of the records' memory at a million records.
        same: dict[str, str] = {}
        share = same.setdefault
        rows = [
            (
                r.dept,
                r.file,
                r.line,
                r.record_id,
                r.kind,
                # (raw values are all strings: shared by map, in C; std ones may be lists)
                dict(zip(r.raw, map(share, r.raw.values(), r.raw.values()), strict=True)),
                {k: share(v, v) if type(v) is str else v for k, v in r.std.items()},
            )
            for r in records.values()
        ]
    return rows, rejects, files


def _ingest_group_spilled(
    manifest: Manifest, sources: list[SourceSpec], path: Path
) -> tuple[Path, list[Reject], list[FileStats]]:
    """:func:`_ingest_group` with the rows pickled to ``path``: the parent reads them from
    there and the helper processes (:class:`Helpers`) read them again when they need them,
    so that no process holds them meanwhile."""
    rows, rejects, files = _ingest_group(manifest, sources)
    _spill(rows, path)
    return path, rejects, files


def _spill(rows: list[RecordTuple], path: Path) -> None:
    with path.open("wb") as out:
        pickle.dump(rows, out, pickle.HIGHEST_PROTOCOL)


IngestResult = tuple[list[RecordTuple], list[Reject], list[FileStats]]
SpilledResult = tuple[Path, list[Reject], list[FileStats]]
#: What the parent's records carry instead of flags and extra columns (link uses neither):
#: one shared empty value, not an empty list and dict per record (~120 MiB at 1M records).
#: Read-only by type (Record.flags is a Sequence, Record.extra a Mapping), picklable.
_NO_FLAGS: tuple[Flag, ...] = ()
_NO_EXTRA: Mapping[str, str] = {}
Ingested = tuple[dict[tuple[str, str, str], Record], list[Reject], list[FileStats]]


def department_groups(manifest: Manifest) -> list[list[SourceSpec]]:
    """The manifest's files grouped by department, largest department first."""
    by_dept: dict[str, list[SourceSpec]] = defaultdict(list)
    for spec in manifest.sources:
        by_dept[spec.dept].append(spec)
    return sorted(by_dept.values(), key=lambda g: -sum(s.path.stat().st_size for s in g))


def source_groups(manifest: Manifest) -> list[list[SourceSpec]]:
    """The manifest's files grouped by department and kind (superseding is decided within
    one department's files of one kind, so the groups are independent), largest first:
    finer tasks than whole departments keep both workers busy to the end."""
    by_key: dict[tuple[str, str], list[SourceSpec]] = defaultdict(list)
    for spec in manifest.sources:
        by_key[(spec.dept, spec.kind)].append(spec)
    return sorted(by_key.values(), key=lambda g: -sum(s.path.stat().st_size for s in g))


def _ingest(
    manifest: Manifest,
    progress: Progress | None,
    workers: int | None = None,
    spill: tuple[Path, Callable[[str, Path], None]] | None = None,
) -> Ingested:
    """Ingest every department: in this process, and with several cores also in a pool of
    ``workers - 1`` worker processes that take groups from the same list. This process takes
    each group no worker has started yet (its rows need not cross over from a worker), and
    collects the workers' groups as they finish.

    ``spill``: a directory where each group's rows are pickled, one file per group, and what
    to call with the group's kind and file, in the order the rows are collected here
    (:meth:`Helpers.forward`)."""
    groups = source_groups(manifest)
    workers = max(1, min(workers or os.cpu_count() or 1, len(groups)))
    records: dict[tuple[str, str, str], Record] = {}
    rejects: list[Reject] = []
    files: list[FileStats] = []

    def collect(result: IngestResult | SpilledResult, path: Path | None = None) -> None:
        data, rejs, stats = result
        if isinstance(data, Path):
            rows: list[RecordTuple] = pickle.loads(data.read_bytes())
            path = data
        else:
            rows = data
            if path:  # ingested here: spilled here
                _spill(rows, path)
        if spill and path and stats:
            spill[1](stats[0].kind, path)
        for dept, file, line, rid, kind, raw, std in rows:
            records[(dept, kind, rid)] = Record(
                dept, file, line, rid, kind, raw, std, _NO_FLAGS, _NO_EXTRA
            )
        rejects.extend(rejs)
        files.extend(stats)
        if progress:
            progress(
                f"ingested {', '.join(s.file for s in stats)}", len(files), len(manifest.sources)
            )

    try:
        with paused_gc():  # a million records built here: no collection walks them meanwhile
            if workers == 1:
                for k, group in enumerate(groups):
                    collect(_ingest_group(manifest, group), _spill_path(spill, k))
            else:
                # (A fresh spawned worker per department lowers the peak memory by ~0.8 GB but
                # costs ~35 s of interpreter start-up at 1M records: measured, not worth it.)
                load_tables()  # before the workers fork: they share the parent's tables
                with worker_pool(workers - 1) as pool:
                    futures: list[Future[Any]] = [
                        pool.submit(_ingest_group_spilled, manifest, g, path)
                        if (path := _spill_path(spill, k))
                        else pool.submit(_ingest_group, manifest, g)
                        for k, g in enumerate(groups)
                    ]
                    try:
                        pending: list[Future[Any]] = []
                        for k, (group, fut) in enumerate(zip(groups, futures, strict=True)):
                            if fut.cancel():  # no worker has started it: this process takes it
                                collect(_ingest_group(manifest, group), _spill_path(spill, k))
                            else:
                                pending.append(fut)
                            for done in [f for f in pending if f.done()]:
                                pending.remove(done)
                                collect(done.result())
                        for fut in as_completed(pending):
                            collect(fut.result())
                    except BaseException:
                        for fut in futures:  # a failed group ends the run: no more work
                            fut.cancel()
                        raise
    finally:
        clear_memo()  # the memoised name and address features: memory for the linkage
    order = {(s.dept, s.file): i for i, s in enumerate(manifest.sources)}
    files.sort(key=lambda f: order[(f.dept, f.file)])
    rejects.sort(key=lambda r: (order.get((r.dept, r.file), 0), r.line))
    return records, rejects, files


def _spill_path(spill: tuple[Path, Callable[[str, Path], None]] | None, k: int) -> Path | None:
    return spill[0] / f"group-{k}.pickle" if spill else None


class Engine(Protocol):
    """Where the heavy stages run: ingest of the batch and linkage of one entity kind
    (:class:`LocalEngine` here, ``resolver.spark.link.SparkEngine`` on Spark)."""

    def ingest(self, manifest: Manifest, progress: Progress | None) -> Ingested: ...

    def link_kind(
        self,
        kind: str,
        records: list[Record],
        cfg: LinkConfig,
        progress: Progress | None = None,
        model: FSModel | None = None,
        must_link: list[tuple[int, int]] | None = None,
        cannot_link: list[tuple[int, int]] | None = None,
    ) -> KindResult: ...


class LocalEngine:
    """This machine's engine: worker processes for ingest, everything else in process.

    ``workers`` caps the ingest pool (``None``: one per core); with 1 the whole run stays in
    one process (also :attr:`LinkConfig.parallel` off, see ``credgraph link --workers``)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers

    def ingest(self, manifest: Manifest, progress: Progress | None) -> Ingested:
        return _ingest(manifest, progress, self.workers)

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
        return link_kind(kind, records, cfg, progress, model, must_link, cannot_link)


@dataclass(slots=True)
class Streamed:
    """The JSON-lines files of a run written while it runs; what the report needs of them."""

    golden: run_files.JsonLinesWriter
    edges: run_files.JsonLinesWriter
    events: run_files.JsonLinesWriter
    conflicted: list[Golden] = field(default_factory=list)  # for conflicts.csv
    mention_only_persons: int = 0
    mention_only_enterprises: int = 0

    def add_golden(self, g: Golden) -> None:
        self.golden.add(g.data)
        if g.conflicts:
            self.conflicted.append(Golden({"id": g.data["id"]}, g.conflicts))
        if g.data["type"] == "Person" and not g.data.get("members"):
            self.mention_only_persons += 1
        elif g.data["type"] == "Enterprise" and g.data.get("known_from") == "mentions":
            self.mention_only_enterprises += 1


@without_gc
def run_link(
    batch_dir: Path,
    out_dir: Path,
    cfg: LinkConfig | None = None,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> LinkResult:
    """Link a batch and write the Contract 2 files to ``out_dir``."""
    cfg = cfg or LinkConfig()
    engine = engine or LocalEngine()
    if not cfg.salt:
        cfg = replace(cfg, salt=installation_salt())
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    manifest = load_manifest(batch_dir)
    parallel = isinstance(engine, LocalEngine) and cfg.parallel and can_fork()
    helpers = Helpers(out_dir) if parallel else None
    try:
        return _run_link(manifest, out_dir, cfg, progress, engine, helpers, timings, t0)
    finally:
        if helpers:
            helpers.close()


def _run_link(
    manifest: Manifest,
    out_dir: Path,
    cfg: LinkConfig,
    progress: Progress | None,
    engine: Engine,
    helpers: Helpers | None,
    timings: dict[str, float],
    t0: float,
) -> LinkResult:
    if helpers and isinstance(engine, LocalEngine):
        spill = (helpers.spill_dir, helpers.forward)
        records, rejects, files = _ingest(manifest, progress, engine.workers, spill)
    else:
        records, rejects, files = engine.ingest(manifest, progress)
    timings["ingest"] = time.perf_counter() - t0
    by_kind: dict[str, list[Record]] = defaultdict(list)
    order = {(s.dept, s.file): i for i, s in enumerate(manifest.sources)}
    # Manifest order, whatever order the workers finished in: same batch, same result.
    for rec in sorted(records.values(), key=lambda r: (order[(r.dept, r.file)], r.line)):
        by_kind[rec.kind].append(rec)
    # the by_kind lists hold the records; the ingest's key index goes before the person
    # worker forks
    del records
    staging = run_files.begin(out_dir)
    as_of = manifest.as_of.isoformat()
    person_file = staging / "golden-person.jsonl"
    results, person_side = _link_kinds(
        engine, by_kind, cfg, progress, timings, person_file, as_of, helpers, order
    )
    t = time.perf_counter()
    ent = results["enterprise"]
    gids = {
        "enterprise": golden_ids("enterprise", ent.records, ent.clusters),
        "person": person_side.gids,
    }
    # The enterprises' golden records are written by the second helper process (it reads
    # the enterprise rows spilled by ingest) while this process indexes the clusters and
    # resolves the mentions.
    enterprise_goldens: Helper[GoldenPart] | Done[GoldenPart]
    if helpers:
        enterprise_goldens = helpers.enterprise
        enterprise_goldens.start(
            (staging / "golden.jsonl", ent.clusters, gids, as_of, cfg.salt, order, len(ent.records))
        )
    else:
        enterprise_goldens = Done(
            _write_goldens(staging / "golden.jsonl", {"enterprise": ent}, gids, as_of, cfg.salt)
        )
    # The batch digest (SHA-256 of every input file) for the completion marker, in a thread
    # while the stages below run: hashing and reading release the GIL.
    digest_pool = ThreadPoolExecutor(max_workers=1)
    info = digest_pool.submit(run_info, manifest)
    digest_pool.shutdown(wait=False)
    resolver = Resolver()
    gid_of: dict[RecordKey, str] = {}
    resolver.own = gid_of
    for kind, res in results.items():
        add = resolver.add_enterprise if kind == "enterprise" else resolver.add_person
        for gid, members_idx in zip(gids[kind], res.clusters, strict=True):
            for i in members_idx:
                rec = res.records[i]
                gid_of[rec.key] = gid
                add(gid, rec)
    # (with the worker: the golden records are written alongside the index and the mentions)
    timings["survivorship"] = time.perf_counter() - t
    t = time.perf_counter()
    # edges.jsonl and events.jsonl are written as their lines are made: at a million
    # records their payloads as objects took over a GiB.
    edges_out = run_files.JsonLinesWriter(staging / "edges.jsonl", "type")
    events_out = run_files.JsonLinesWriter(staging / "events.jsonl")
    with edges_out, events_out:
        _edges, _events, mention_links, mention_stats, extra = _resolve_mentions(
            by_kind, resolver, cfg, edges_out.add, events_out.add
        )
    t1 = time.perf_counter()
    part = enterprise_goldens.result()
    with (staging / "golden.jsonl").open("ab") as out, person_file.open("rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)
    person_file.unlink()
    waited = time.perf_counter() - t1
    timings["survivorship"] += waited
    streamed = Streamed(
        run_files.JsonLinesWriter(staging / "golden.jsonl", "type", append=True),
        edges_out,
        events_out,
    )
    streamed.golden.counts.update(part.counts)
    streamed.golden.counts.update(person_side.goldens.counts)
    streamed.golden.lines = part.lines + person_side.goldens.lines
    with streamed.golden:
        for g in extra:
            streamed.add_golden(g)
    timings["mentions"] = time.perf_counter() - t - waited
    t = time.perf_counter()
    report = _write_outputs(
        staging,
        manifest,
        results,
        gid_of,
        streamed.conflicted,
        [],
        [],
        mention_links,
        rejects,
        files,
        mention_stats,
        timings,
        streamed,
        [part.conflicts, person_side.goldens.conflicts],
    )
    timings["write"] = time.perf_counter() - t
    finish_report(staging, report, timings, t0)
    run_files.publish(staging, out_dir, run_files.seal(staging, info.result()))
    return LinkResult(report, out_dir)


#: Name prefix of the directory of a parallel run's spilled ingest rows (next to --out).
SPILL_PREFIX = ".credgraph-rows-"

#: A helper process of a parallel run (:class:`Helpers`).
Helper = FedCall


class Helpers:
    """The two helper processes of a parallel run, forked before ingest (while this process
    is small, so that they share none of the records' pages, see
    :class:`resolver.workers.FedCall`) and told where the ingest workers spilled the person
    and the enterprise rows (pickled, one file per department and kind, in
    :attr:`spill_dir`): one links the persons and writes their golden records while
    enterprises link here, the other writes the enterprises' golden records while the
    mentions are resolved here. Until then the rows wait on disk, not in memory."""

    def __init__(self, out_dir: Path) -> None:
        # next to the run's directory: on the disk the run writes to
        # (named after this process: a killed run's rows are removed by the next run there)
        self.spill_dir = run_files.owned_temp_dir(out_dir.parent, SPILL_PREFIX)
        self.person: Helper[PersonSide] = FedCall(_person_task)
        self.enterprise: Helper[GoldenPart] = FedCall(_enterprise_goldens_task)

    def forward(self, kind: str, rows: Path) -> None:
        """Pass one ingest group's file of pickled rows to the helper of their kind."""
        if kind == "person":
            self.person.feed(rows)
        elif kind == "enterprise":
            self.enterprise.feed(rows)

    def close(self) -> None:
        """End the helpers not started (the run failed before it needed them) and delete
        the spilled rows."""
        self.person.cancel()
        self.enterprise.cancel()
        shutil.rmtree(self.spill_dir, ignore_errors=True)


def _fed_records(
    chunks: list[Path],
    order: Mapping[tuple[str, str], int],
    keep: tuple[frozenset[str], frozenset[str]] | None = None,
) -> list[Record]:
    """The records of files of pickled ingest rows in run order (as :func:`run_link` orders
    them); each file is deleted once read. ``keep``: the std and raw fields to keep (all
    when ``None``)."""
    records: dict[tuple[str, str, str], Record] = {}
    for path in chunks:
        rows: list[RecordTuple] = pickle.loads(path.read_bytes())
        path.unlink()
        if keep:
            std_keys, raw_keys = keep
            rows = [(*row[:5], _only(row[5], raw_keys), _only(row[6], std_keys)) for row in rows]
        for dept, file, line, rid, kind, raw, std in rows:
            records[(dept, kind, rid)] = Record(
                dept, file, line, rid, kind, raw, std, _NO_FLAGS, _NO_EXTRA
            )
    return sorted(records.values(), key=lambda r: (order[(r.dept, r.file)], r.line))


def _only(fields: dict[str, V], keys: frozenset[str]) -> dict[str, V]:
    return {k: v for k, v in fields.items() if k in keys}


def _person_task(
    chunks: list[Path], arg: tuple[LinkConfig, Path, str, Mapping[tuple[str, str], int], int]
) -> PersonSide:
    """The person helper's work: link the persons and write their golden records."""
    cfg, path, as_of, order, count = arg
    with paused_gc():
        persons = _fed_records(chunks, order)
        if len(persons) != count:
            raise RuntimeError(f"the person helper got {len(persons)} records, not {count}")
        return _person_side(persons, cfg, path, as_of, lambda: link_kind("person", persons, cfg))


def _enterprise_goldens_task(
    chunks: list[Path],
    arg: tuple[
        Path, list[list[int]], dict[str, list[str]], str, str, Mapping[tuple[str, str], int], int
    ],
) -> GoldenPart:
    """The enterprise helper's work: the enterprises' golden records."""
    path, clusters, gids, as_of, salt, order, count = arg
    with paused_gc():
        # only what survivorship reads: half the memory of whole records
        records = _fed_records(chunks, order, GOLDEN_FIELDS["enterprise"])
        if len(records) != count:
            raise RuntimeError(f"the enterprise helper got {len(records)} records, not {count}")
        res = KindResult(records, [], clusters, [], [], [], None)
        return _write_goldens(path, {"enterprise": res}, gids, as_of, salt)


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """A result computed in this process (the sequential form of :class:`ForkedCall`)."""

    value: T

    def result(self) -> T:
        return self.value


def _link_kinds(
    engine: Engine,
    by_kind: dict[str, list[Record]],
    cfg: LinkConfig,
    progress: Progress | None,
    timings: dict[str, float],
    person_goldens: Path,
    as_of: str,
    helpers: Helpers | None = None,
    order: Mapping[tuple[str, str], int] | None = None,
) -> tuple[dict[str, KindResult], PersonSide]:
    """Link the enterprise and the person records, and write the persons' golden records to
    ``person_goldens``. The kinds are independent: with ``helpers`` (the local engine and a
    core to spare, :func:`resolver.workers.can_fork`) persons link and their golden records
    are written in the person helper while enterprises link here; it sends back the
    clusters, decisions, review pairs, model and golden IDs, not the records."""
    t = time.perf_counter()
    enterprises, persons = by_kind.get("enterprise", []), by_kind.get("person", [])
    job = helpers.person if helpers else None
    if job is not None:
        job.start((cfg, person_goldens, as_of, order, len(persons)))
    if progress:
        progress("linking enterprise records", 0, 0)
    ent = engine.link_kind("enterprise", enterprises, cfg, progress)
    timings["link_enterprise"] = time.perf_counter() - t
    if job is not None:
        side = job.result()
    else:
        if progress:
            progress("linking person records", 0, 0)
        side = _person_side(
            persons,
            cfg,
            person_goldens,
            as_of,
            lambda: engine.link_kind("person", persons, cfg, progress),
        )
    # with the worker: its own seconds, alongside the enterprises
    timings["link_person"] = side.link_seconds
    timings["survivorship_person"] = side.golden_seconds
    timings["linkage"] = time.perf_counter() - t  # both kinds and the persons' golden records
    return {"enterprise": ent, "person": KindResult(persons, *side.kind)}, side


def _person_side(
    persons: list[Record], cfg: LinkConfig, path: Path, as_of: str, link: Callable[[], KindResult]
) -> PersonSide:
    """Link the persons (``link``) and write their golden records to ``path``."""
    t1 = time.perf_counter()
    res = link()
    t2 = time.perf_counter()
    gids = golden_ids("person", persons, res.clusters)
    goldens = _write_goldens(path, {"person": res}, {"person": gids}, as_of, cfg.salt)
    kind = (res.cluster_of, res.clusters, res.decision, res.score, res.review, res.model)
    return PersonSide((*kind, res.stats), gids, goldens, t2 - t1, time.perf_counter() - t2)


_KindPart = tuple[
    list[int],
    list[list[int]],
    list[str],
    list[float],
    list[dict[str, Any]],
    "FSModel | None",
    dict[str, Any],
]


@dataclass(frozen=True, slots=True)
class PersonSide:
    """What linking the persons (in the person helper process or here) sends back."""

    kind: _KindPart  # KindResult's fields after its records
    gids: list[str]  # per cluster
    goldens: GoldenPart  # their golden records, written to a file of their own
    link_seconds: float
    golden_seconds: float


@dataclass(frozen=True, slots=True)
class ConflictsPart:
    """Rows of conflicts.csv written apart (by a helper process), without the header."""

    path: Path
    rows: int


@dataclass(frozen=True, slots=True)
class GoldenPart:
    """What writing the clusters' golden records leaves for the report."""

    counts: Counter[str]
    lines: int
    conflicts: ConflictsPart  # their conflicts.csv rows


def _write_goldens(
    path: Path, results: dict[str, KindResult], gids: dict[str, list[str]], as_of: str, salt: str
) -> GoldenPart:
    """Survivorship: the golden record of every cluster, written to ``path`` as it is made,
    and the rows of their conflicts to ``path`` with the suffix ``.conflicts.csv`` (not
    kept in memory until conflicts.csv is written: ~150k rows at a million records)."""
    conflicts_path = path.with_suffix(".conflicts.csv")
    rows = 0
    with (
        run_files.JsonLinesWriter(path, "type") as out,
        conflicts_path.open("w", encoding="utf-8", newline="") as fh,
    ):
        w = safe_writer(fh)
        for kind, res in results.items():
            for gid, members_idx in zip(gids[kind], res.clusters, strict=True):
                g = build_golden(gid, kind, [res.records[i] for i in members_idx], as_of, salt)
                out.add(g.data)
                if g.conflicts:
                    rows += _write_conflicts(w, gid, g.conflicts)
    return GoldenPart(out.counts, out.lines, ConflictsPart(conflicts_path, rows))


def _write_conflicts(w: Any, gid: str, conflicts: list[dict[str, Any]]) -> int:
    """The conflicts.csv rows of one golden record (``w``: a :func:`safe_writer`)."""
    for c in conflicts:
        vals = sorted({str(v["value"]) for v in c["values"]})
        w.writerow(
            [
                gid,
                c["attribute"],
                c["chosen"],
                " | ".join(vals),
                json.dumps(c["values"], ensure_ascii=False),
            ]
        )
    return len(conflicts)


def run_info(manifest: Manifest) -> dict[str, Any]:
    """What a run's completion marker says about the batch it came from."""
    return {
        "batch_id": manifest.batch_id,
        "as_of": manifest.as_of.isoformat(),
        "batch_digest": run_files.batch_digest(
            manifest.root / "manifest.yaml", [s.path for s in manifest.sources]
        ),
    }


def finish_report(
    out_dir: Path, report: dict[str, Any], timings: dict[str, float], t0: float
) -> LinkResult:
    """Add the stage timings and the total to the report and write report.json."""
    report["timings"] = {k: round(v, 2) for k, v in timings.items()}
    report["timings"]["total"] = round(time.perf_counter() - t0, 2)
    (out_dir / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8"
    )
    return LinkResult(report, out_dir)


def _resolve_mentions(
    by_kind: dict[str, list[Record]],
    resolver: Resolver,
    cfg: LinkConfig,
    add_edge: Callable[[dict[str, Any]], None] | None = None,
    add_event: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[tuple[Record, str | None, str, str]],
    dict[str, Counter[str]],
    list[Golden],
]:
    # Edges and events go to the sinks when given (a one-shot run writes them as they come),
    # else they are returned.
    edges: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    add_edge = add_edge or edges.append
    add_event = add_event or events.append
    links: list[tuple[Record, str | None, str, str]] = []
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    resolver.prefetch(by_kind)
    # Persons known only from mentions (a legal representative's ID in a role record, …)
    # become golden persons too, so that relations are never dropped.
    mention_persons: dict[str, list[Record]] = defaultdict(list)

    def person_gid(
        id18: str | None, rec: Record, name: str | None, egid: str | None
    ) -> tuple[str | None, str]:
        gid, how = resolver.person(id18)
        if gid is None and id18:
            gid, new = resolver.mention_person(id18, cfg.salt)
            if new:
                mention_persons[id18].append(rec)
            how = "by_id_mention"
        elif gid is None and name and egid:
            # No ID number: the person named so at this enterprise (seen there with an ID
            # number in another row), else a person known by that name there only.
            gid, how = resolver.person_at(egid, name, cfg.salt), "by_name_at_enterprise"
            if gid is None:
                key = f"name\x1f{egid}\x1f{name}"
                gid, new = resolver.mention_person(key, cfg.salt)
                if new:
                    mention_persons[key].append(rec)
                how = "by_name_mention"
        return gid, how

    def enterprise_of(rec: Record) -> tuple[str | None, str]:
        s = rec.std
        return resolver.enterprise(
            s.get("uscc"), s.get("org_code"), s.get("reg_no"), s.get("name_norm")
        )

    def src(rec: Record) -> dict[str, Any]:
        return {
            "dept": rec.dept,
            "kind": rec.kind,
            "record_id": rec.record_id,
            "file": rec.file,
            "line": rec.line,
        }

    # Enterprises known only from mentions (a corporate shareholder, a role's enterprise that
    # no registration record carries) become golden enterprises too: mention key -> rows.
    mention_enterprises: dict[str, dict[tuple[str, str, str], tuple[Record, str]]] = defaultdict(
        dict
    )

    def enterprise_end(
        rec: Record, uscc: str | None, name_norm: str | None, raw_name: str | None
    ) -> tuple[str | None, str]:
        """An enterprise named in a role, shareholding or branch row: by identifier or full
        name; a name alone also by 字号 + industry as event subjects are; else the registry's
        enterprise known only from mentions (a USCC that matches a registered enterprise
        always resolves to it above, never to a second entity)."""
        gid, how = resolver.enterprise(uscc, None, None, name_norm)
        if gid is not None:
            return gid, how
        if raw_name and not uscc:
            resolver.prepare_subject(replace(rec, raw={**rec.raw, "name": raw_name}))
            gid, how, _reason = resolver.subjects.enterprise_by_name(raw_name, (), rec.dept)
            if gid is not None:
                return gid, how
        key = mention_enterprise_key(uscc, None, None, name_norm)
        if key is None:
            return None, "unresolved"
        gid, new = resolver.mention_enterprise(key, cfg.salt)
        if new:
            mention_enterprises[key][rec.key] = (rec, raw_name or name_norm or "")
        return gid, "by_id_mention" if key.startswith("U|") else "by_name_mention"

    def own_enterprise(rec: Record) -> tuple[str | None, str]:
        """An enterprise record's own golden entity, for when its identifiers and name do not
        single one out."""
        gid = resolver.record_entity(rec)
        return (gid, "by_record") if gid is not None else (None, "unresolved")

    found_at: dict[int, tuple[str | None, str]] = {}  # id(record) -> enterprise_at's answer

    def enterprise_at(rec: Record) -> tuple[str | None, str]:
        """The enterprise a role or shareholding row is about (asked twice of rows naming a
        person with an ID number: answered once)."""
        if (known := found_at.get(id(rec))) is not None:
            return known
        gid, how = enterprise_of(rec)
        if gid is None and rec.kind == "enterprise":
            gid, how = own_enterprise(rec)
        elif gid is None:
            s = rec.std
            gid, how = enterprise_end(rec, s.get("uscc"), s.get("name_norm"), rec.raw.get("name"))
        found_at[id(rec)] = (gid, how)
        return gid, how

    # People seen with an ID number at an enterprise: name-only rows there are the same.
    for rec in (
        *by_kind.get("role", []),
        *by_kind.get("shareholding", []),
        *by_kind.get("enterprise", []),
    ):
        s = rec.std
        id18, name = {
            "role": (s.get("id18"), s.get("person_name_norm")),
            "shareholding": (s.get("holder_id_number"), s.get("holder_name_norm")),
            "enterprise": (s.get("legal_rep_id"), s.get("legal_rep_name_norm")),
        }[rec.kind]
        if not (id18 and name):
            continue
        known = resolver.person(id18)[0] or resolver.mention_person(id18, cfg.salt)[0]
        if at := enterprise_at(rec)[0]:
            resolver.note_person_at(at, name, known)

    for rec in by_kind.get("role", []):
        egid, ehow = enterprise_at(rec)
        pgid, phow = person_gid(rec.std.get("id18"), rec, rec.std.get("person_name_norm"), egid)
        role = rec.raw.get("role", "")
        stats["role"][f"enterprise_{ehow}"] += 1
        stats["role"][f"person_{phow}"] += 1
        add_edge(
            {
                "type": "LEGAL_REP_OF" if role in LEGAL_REP_ROLES else "SERVES_AS",
                "role": role,
                "from": pgid,
                "from_raw": None if pgid else {"name": rec.std.get("person_name_norm")},
                "to": egid,
                "to_raw": None
                if egid
                else {"name": rec.std.get("name_norm"), "uscc": rec.std.get("uscc")},
                "start": rec.std.get("start"),
                "end": rec.std.get("end"),
                "resolved": {"from": phow, "to": ehow},
                "source": src(rec),
            }
        )
    for rec in by_kind.get("shareholding", []):
        egid, ehow = enterprise_at(rec)
        s = rec.std
        holder_person = bool(s.get("holder_id_number")) or rec.raw.get(
            "holder_type", ""
        ).startswith("自然人")
        if holder_person:
            hgid, hhow = person_gid(s.get("holder_id_number"), rec, s.get("holder_name_norm"), egid)
        else:
            hgid, hhow = enterprise_end(
                rec, s.get("holder_uscc"), s.get("holder_name_norm"), rec.raw.get("holder_name")
            )
        stats["shareholding"][f"enterprise_{ehow}"] += 1
        stats["shareholding"][f"holder_{hhow}"] += 1
        add_edge(
            {
                "type": "HOLDS_SHARES",
                "holder_type": "Person" if holder_person else "Enterprise",
                "from": hgid,
                "from_raw": None
                if hgid
                else {"name": s.get("holder_name_norm"), "uscc": s.get("holder_uscc")},
                "to": egid,
                "to_raw": None if egid else {"name": s.get("name_norm"), "uscc": s.get("uscc")},
                "ratio": s.get("ratio"),
                "amount": s.get("amount"),
                "resolved": {"from": hhow, "to": ehow},
                "source": src(rec),
            }
        )
    for rec in by_kind.get("enterprise", []):
        s = rec.std
        bgid, bhow = enterprise_of(rec)
        if bgid is None:
            bgid, bhow = own_enterprise(rec)
        if s.get("legal_rep_id") or s.get("legal_rep_name_norm"):
            # The enterprise record names its legal representative: a LEGAL_REP_OF row.
            rgid, rhow = person_gid(s.get("legal_rep_id"), rec, s.get("legal_rep_name_norm"), bgid)
            stats["legal_rep"][f"person_{rhow}"] += 1
            add_edge(
                {
                    "type": "LEGAL_REP_OF",
                    "role": "法定代表人",
                    "from": rgid,
                    "from_raw": None if rgid else {"name": s.get("legal_rep_name_norm")},
                    "to": bgid,
                    "to_raw": None if bgid else {"name": s.get("name_norm"), "uscc": s.get("uscc")},
                    "resolved": {"from": rhow, "to": bhow},
                    "source": src(rec),
                }
            )
        if not (s.get("parent_uscc") or s.get("parent_name_norm")):
            continue
        pgid, phow = enterprise_end(
            rec, s.get("parent_uscc"), s.get("parent_name_norm"), rec.raw.get("parent_name")
        )
        stats["branch_of"][f"parent_{phow}"] += 1
        # Every reporting record is a source (the load makes one relationship per pair);
        # a branch resolved to its own parent is no relationship.
        if not (bgid and bgid == pgid):
            add_edge(
                {
                    "type": "BRANCH_OF",
                    "from": bgid,
                    "to": pgid,
                    "to_raw": None
                    if pgid
                    else {"name": s.get("parent_name_norm"), "uscc": s.get("parent_uscc")},
                    "resolved": {"from": bhow, "to": phow},
                    "source": src(rec),
                }
            )
    for kind in MENTION_KINDS:
        for rec in by_kind.get(kind, []):
            s = rec.std
            gid, how = enterprise_of(rec)
            subject_type = "Enterprise"
            if gid is None and s.get("id18"):
                gid, how = resolver.person(s.get("id18"))
                subject_type = "Person"
            reason = ""
            if gid is None and not s.get("id18"):
                resolver.prepare_subject(rec)
                (gid, how, reason), subject_type = resolve_without_identifier(
                    resolver.subjects, rec
                )
            elif gid is None:
                reason = "id_number_not_found"
            stats[kind][how] += 1
            if reason:
                stats[kind][f"unresolved_{reason}"] += 1
            links.append((rec, gid, how, reason))
            values = {k: v for k, v in s.items() if not k.startswith("_") and k not in ("id18",)}
            add_event(
                {
                    "kind": kind,
                    "subject": gid,
                    "subject_type": subject_type if gid else None,
                    "resolved": how,
                    "subject_raw": None
                    if gid
                    else {"name": rec.raw.get("name"), "uscc": s.get("uscc")},
                    "values": {
                        **{k: v for k, v in rec.raw.items() if k not in ("id_number",)},
                        **values,
                    },
                    "source": src(rec),
                }
            )
    extra: list[Golden] = []
    for id18, recs in mention_persons.items():
        gid, _ = resolver.mention_person(id18, cfg.salt)
        names = Counter(
            r.std.get("person_name_norm") or r.std.get("holder_name_norm") for r in recs
        )
        name = names.most_common(1)[0][0]
        ident = (
            {}
            if id18.startswith("name\x1f")
            else {"id_hash": id_hash(id18, cfg.salt), "id_masked": mask_id_number(id18)}
        )
        extra.append(
            Golden(
                {
                    "id": gid,
                    "type": "Person",
                    "lifecycle": "active",
                    "known_from": "mentions",
                    **ident,
                    "attributes": {"name": name},
                    "provenance": {"name": {"dept": recs[0].dept, "record_id": recs[0].record_id}},
                    "members": [],
                    "mentions": [src(r) for r in recs[:20]],
                },
                [],
            )
        )
    for key, rows in mention_enterprises.items():
        gid, _ = resolver.mention_enterprise(key, cfg.salt)
        recs = [rec for _k, (rec, _n) in sorted(rows.items())]
        names = Counter(n for _rec, n in rows.values() if n)
        attributes: dict[str, Any] = {"name": names.most_common(1)[0][0]} if names else {}
        if key.startswith("U|"):
            attributes["uscc"] = key[2:]
        extra.append(
            Golden(
                {
                    "id": gid,
                    "type": "Enterprise",
                    "lifecycle": "active",
                    "known_from": "mentions",
                    "attributes": attributes,
                    "provenance": {"name": {"dept": recs[0].dept, "record_id": recs[0].record_id}},
                    "members": [],
                    "mentions": [src(r) for r in recs[:20]],
                },
                [],
            )
        )
    return edges, events, links, stats, extra


def _write_outputs(
    out: Path,
    manifest: Manifest,
    results: dict[str, KindResult],
    gid_of: dict[RecordKey, str],
    goldens: list[Golden],
    edges: list[dict[str, Any]],
    events: list[dict[str, Any]],
    mention_links: list[tuple[Record, str | None, str, str]],
    rejects: list[Reject],
    files: list[FileStats],
    mention_stats: dict[str, Counter[str]],
    timings: dict[str, float],
    streamed: Streamed | None = None,
    conflict_parts: list[ConflictsPart] | None = None,
) -> dict[str, Any]:
    """The Contract 2 files (golden.jsonl, edges.jsonl and events.jsonl only when not
    ``streamed`` already: then ``goldens`` are those with conflicts) and the report.
    ``conflict_parts``: conflicts.csv rows written already, first in the file (deleted)."""
    links_rows: Counter[str] = Counter()
    with (out / "links.csv").open("w", encoding="utf-8", newline="") as fh:
        w = safe_writer(fh)
        w.writerow(["dept", "record_id", "kind", "entity_id", "score", "decision", "reason"])
        for kind, res in results.items():
            w.writerows(
                (rec.dept, rec.record_id, kind, gid_of[rec.key], score, decision, "")
                for rec, score, decision in zip(res.records, res.score, res.decision, strict=True)
            )
            links_rows[kind] += len(res.records)
        w.writerows(
            (
                rec.dept,
                rec.record_id,
                rec.kind,
                gid or "",
                1.0 if how == "by_id" else 0.9 if gid else "",
                how,
                reason,
            )
            for rec, gid, how, reason in mention_links
        )
        links_rows.update(rec.kind for rec, _gid, _how, _reason in mention_links)
    if streamed is None:
        run_files.write_json_lines(out / "golden.jsonl", (g.data for g in goldens))
        run_files.write_json_lines(out / "edges.jsonl", edges)
        run_files.write_json_lines(out / "events.jsonl", events)
        golden_types = Counter(g.data["type"] for g in goldens)
        # Persons known only from role and shareholding rows (no person record): golden
        # persons too, new in this run.
        mention_only = sum(
            1 for g in goldens if g.data["type"] == "Person" and not g.data.get("members")
        )
        mention_only_enterprises = sum(
            1
            for g in goldens
            if g.data["type"] == "Enterprise" and g.data.get("known_from") == "mentions"
        )
        edge_sources = Counter(e["type"] for e in edges)
        n_events = len(events)
    else:
        golden_types = streamed.golden.counts
        mention_only = streamed.mention_only_persons
        mention_only_enterprises = streamed.mention_only_enterprises
        edge_sources = streamed.edges.counts
        n_events = streamed.events.lines
    with (out / "rejects.csv").open("w", encoding="utf-8", newline="") as fh:
        w = safe_writer(fh)
        w.writerow(["dept", "file", "line", "record_id", "reason", "message"])
        for r in rejects:
            w.writerow([r.dept, r.file, r.line, r.record_id, r.reason, r.message])
    n_conflicts = 0
    with (out / "conflicts.csv").open("w", encoding="utf-8", newline="") as fh:
        w = safe_writer(fh)
        w.writerow(["entity_id", "attribute", "chosen", "values", "sources"])
        for part in conflict_parts or []:
            with part.path.open(encoding="utf-8", newline="") as src:
                shutil.copyfileobj(src, fh, 1 << 20)
            part.path.unlink()
            n_conflicts += part.rows
        for g in goldens:
            if g.conflicts:
                n_conflicts += _write_conflicts(w, g.data["id"], g.conflicts)
    with (out / "review.csv").open("w", encoding="utf-8", newline="") as fh:
        w = safe_writer(fh)
        w.writerow(
            [
                "kind",
                "dept_a",
                "record_id_a",
                "dept_b",
                "record_id_b",
                "name_a",
                "name_b",
                "probability",
                "weights",
                "comparison",
            ]
        )
        for res in results.values():
            for pair in sorted(res.review, key=lambda x: -x["probability"]):
                w.writerow(
                    [
                        pair["kind"],
                        pair["dept_a"],
                        pair["record_id_a"],
                        pair["dept_b"],
                        pair["record_id_b"],
                        pair["name_a"],
                        pair["name_b"],
                        pair["probability"],
                        json.dumps(pair["weights"], ensure_ascii=False),
                        json.dumps(pair["comparison"], ensure_ascii=False),
                    ]
                )
    models = {k: r.model.to_json() for k, r in results.items() if r.model is not None}
    (out / "model.json").write_text(run_files.indented_json(models) + "\n", "utf-8")
    accepted_by_kind: Counter[str] = Counter()
    for st in files:
        accepted_by_kind[st.kind] += st.accepted
    read = sum(f.read for f in files)
    accepted = sum(f.accepted for f in files)
    rejected = sum(f.rejected for f in files)
    return {
        "batch_id": manifest.batch_id,
        "as_of": manifest.as_of.isoformat(),
        "ingest": {
            "read": read,
            "accepted": accepted,
            "rejected": rejected,
            "balanced": read == accepted + rejected and all(f.balanced for f in files),
            "accepted_by_kind": dict(accepted_by_kind),
            "reject_reasons": dict(Counter(r.reason for r in rejects)),
            "files": [
                {
                    "dept": f.dept,
                    "file": f.file,
                    "kind": f.kind,
                    "read": f.read,
                    "accepted": f.accepted,
                    "rejected": f.rejected,
                    "encoding": f.encoding,
                    "encoding_warning": f.encoding_warning,
                }
                for f in files
            ],
        },
        "links_rows": dict(links_rows),
        "entities": {k: r.stats for k, r in results.items()},
        "golden_entities": golden_types,
        "mention_only_persons": mention_only,
        "mention_only_enterprises": mention_only_enterprises,
        "edges": dict(edge_sources),
        "events": n_events,
        "mentions": {k: dict(v) for k, v in mention_stats.items()},
        "conflicts": n_conflicts,
    }
