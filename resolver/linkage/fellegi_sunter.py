"""A Fellegi–Sunter match model: m/u probabilities per comparison level, trained from data.

Training does not depend on how the batch happens to be composed (which departments, how
many records of each, how blocks fill up):

- ``u`` from uniformly sampled random record pairs (almost all non-matches), with the
  agreement level of value-equality features replaced by its exact value from the value
  counts (the chance that two different entities share a phone, an address …), as Splink does;
  name agreement is further adjusted per value by term frequency (:mod:`resolver.linkage.term_frequency`).
- the prior is the chance that two random records match, measured where it can be measured:
  among the records that carry a valid strong identifier (pairs inside identifier
  components over all pairs of such records). Together with random-pair ``u`` this is the
  classical model; a bigger batch lowers the prior and raises the weight of agreeing on a
  rare value alike.
- ``m`` by expectation-maximisation to convergence with ``u`` and the prior fixed (as
  Splink trains): sure-match counts (pairs linked by a valid strong identifier, compared on
  everything but the identifier) plus the candidate pairs weighted by their match
  probability under the whole current model. A feature's ``m`` is not trained from pairs
  blocked only on that feature; the disagreement levels of strong identifiers (birth date)
  come from the sure matches alone, shrunk towards a default; every other level keeps at
  least ``M_FLOOR``. The expectation part reaches the departments that carry no identifier
  (a utility's short account names never occur among identifier-linked pairs).

Parameters are JSON, never pickled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from resolver.linkage.term_frequency import TermFrequencies

NULL = -1  # comparison level for "one side missing": contributes no evidence
#: Bumped when training or comparison change meaning: a stored model of another engine
#: version is not applied (incremental runs retrain instead).
ENGINE_VERSION = 3

Levels = NDArray[np.int8]


@dataclass
class FSModel:
    """Per-feature level probabilities; level ``k`` of feature ``f`` is ``m[f][k]`` / ``u[f][k]``."""

    features: list[str]
    level_names: list[list[str]]
    m: list[list[float]]
    u: list[list[float]]
    prior: float  # P(two random records match)
    tf: TermFrequencies = field(default_factory=TermFrequencies)
    engine: int = ENGINE_VERSION
    iterations: int = 0  # expectation-maximisation steps training took (not stored)

    def fits(self, features: list[str], level_names: list[list[str]]) -> bool:
        """Whether these parameters were trained by this engine for these comparisons."""
        return (
            self.engine == ENGINE_VERSION
            and self.features == features
            and self.level_names == level_names
        )

    def weights(self) -> list[NDArray[np.float64]]:
        """log2(m/u) per feature and level: the match weight of each comparison outcome."""
        return [np.log2(np.asarray(m) / np.asarray(u)) for m, u in zip(self.m, self.u, strict=True)]

    def log_odds(
        self, levels: Levels, adjust: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """Match log2-odds for an (n_pairs × n_features) level matrix, plus per-pair
        adjustments (term-frequency weights) when given."""
        total = np.full(levels.shape[0], math.log2(self.prior / (1 - self.prior)))
        if adjust is not None:
            total += adjust
        for f, w in enumerate(self.weights()):
            col = levels[:, f]
            known = col != NULL
            total[known] += w[col[known]]
        return total

    def probability(
        self, levels: Levels, adjust: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        return 1.0 / (1.0 + np.exp2(-self.log_odds(levels, adjust)))

    def explain(self, row: Levels) -> dict[str, float | None]:
        """Per-feature match weight of one pair (None where a side is missing)."""
        out: dict[str, float | None] = {"prior": round(math.log2(self.prior / (1 - self.prior)), 3)}
        for f, w in enumerate(self.weights()):
            lvl = int(row[f])
            out[self.features[f]] = None if lvl == NULL else round(float(w[lvl]), 3)
        return out

    def describe(self, row: Levels) -> dict[str, str]:
        """Per-feature comparison outcome of one pair in words."""
        return {
            f: ("missing" if int(row[i]) == NULL else self.level_names[i][int(row[i])])
            for i, f in enumerate(self.features)
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "fellegi_sunter",
            "engine": self.engine,
            "prior": self.prior,
            "term_frequencies": self.tf.to_json(),
            "features": [
                {
                    "name": f,
                    "levels": [
                        {"level": n, "m": m, "u": u, "weight": round(math.log2(m / u), 4)}
                        for n, m, u in zip(names, ms, us, strict=True)
                    ],
                }
                for f, names, ms, us in zip(
                    self.features, self.level_names, self.m, self.u, strict=True
                )
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FSModel:
        feats = data["features"]
        return cls(
            features=[f["name"] for f in feats],
            level_names=[[lv["level"] for lv in f["levels"]] for f in feats],
            m=[[lv["m"] for lv in f["levels"]] for f in feats],
            u=[[lv["u"] for lv in f["levels"]] for f in feats],
            prior=float(data["prior"]),
            tf=TermFrequencies.from_json(data.get("term_frequencies")),
            engine=int(data.get("engine", 1)),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n", "utf-8")


def _distribution(
    levels: Levels, n_levels: int, weights: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    known = levels != NULL
    w = np.ones(len(levels)) if weights is None else weights
    return np.bincount(levels[known].astype(np.int64), weights=w[known], minlength=n_levels).astype(
        np.float64
    )


#: Pseudo-pairs of the default a strong identifier's disagreement level is shrunk towards.
SHRINK_PAIRS = 50.0


def _shrunk(counts: NDArray[np.float64], level: int, default: float) -> float:
    """A disagreement level's m from sure-match counts, shrunk towards ``default``."""
    return float((counts[level] + SHRINK_PAIRS * default) / (counts.sum() + SHRINK_PAIRS))


#: The least m of a level: no comparison outcome is taken as impossible for a match (a
#: changed phone, a moved office), so one disagreement costs at most log2(M_FLOOR / u) —
#: converged EM otherwise drives rarely seen levels to m ≈ 0 and weights of −14 bits. (1 %
#: was tried: it moved a borderline pair of the sample below the match threshold for a
#: model trained on a fifth of the batch, so the stateful run no longer equalled one shot.)
M_FLOOR = 0.002


def _m(counts: NDArray[np.float64], fixed: dict[int, float] | None) -> list[float]:
    """Normalised m from level counts, each level at least M_FLOOR; ``fixed`` levels keep
    their value, the others share the rest in proportion to their counts."""
    fixed = fixed or {}
    free = [k for k in range(len(counts)) if k not in fixed]
    share = np.maximum(counts[free] / counts[free].sum(), M_FLOOR)
    rest = share / share.sum() * (1.0 - sum(fixed.values()))
    out = [fixed.get(k, 0.0) for k in range(len(counts))]
    for k, v in zip(free, rest, strict=True):
        out[k] = float(v)
    return out


def train(
    features: list[str],
    level_names: list[list[str]],
    matches: Levels,
    randoms: Levels,
    candidates: Levels,
    prior: float,
    exact_u: dict[int, float] | None = None,
    tf: TermFrequencies | None = None,
    adjust: Callable[[FSModel], NDArray[np.float64]] | None = None,
    eligible: NDArray[np.bool_] | None = None,
    disagreement: dict[int, dict[int, float]] | None = None,
    smoothing: float = 1.0,
    max_iterations: int = 25,
    tolerance: float = 1e-4,
) -> FSModel:
    """Estimate the model; see the module docstring. ``exact_u``: feature -> u of its top
    level measured from value counts; ``adjust``: the name feature's term-frequency
    adjustment of each candidate pair under a model (feature 0 is the name; it depends on
    ``u`` only, which training does not change); ``eligible``: (pairs × features) whether a
    candidate pair may count towards that feature's ``m`` (it was blocked on other
    comparisons too); ``disagreement``: feature -> {level: default m} of the disagreement
    levels of a strong identifier (birth date): their ``m`` comes from the sure matches
    only, shrunk towards the default where those carry little data."""
    n_feat = len(features)
    u: list[list[float]] = []
    m_counts: list[NDArray[np.float64]] = []
    for f in range(n_feat):
        k = len(level_names[f])
        uc = _distribution(randoms[:, f], k) + smoothing
        uf = uc / uc.sum()
        if exact_u and f in exact_u:
            top = exact_u[f]
            rest = uf[:-1] / uf[:-1].sum() * (1.0 - top)
            uf = np.append(rest, top)
        u.append(list(uf))
        m_counts.append(_distribution(matches[:, f], k))
    fixed = {
        f: {lvl: _shrunk(m_counts[f], lvl, default) for lvl, default in levels.items()}
        for f, levels in (disagreement or {}).items()
    }
    model = FSModel(
        features,
        level_names,
        [_m(m_counts[f] + smoothing, fixed.get(f)) for f in range(n_feat)],
        u,
        prior=prior,
        tf=tf or TermFrequencies(),
    )
    model.iterations = 0
    if not len(candidates):
        return model
    candidate_adjust = adjust(model) if adjust is not None else None
    if eligible is None:
        eligible = np.ones(candidates.shape, dtype=bool)
    for iteration in range(1, max_iterations + 1):
        # Expectation: each candidate pair's match probability under the current model (all
        # comparisons, so a pair whose birth dates differ is not counted as a match of
        # "birth date different" on the strength of its name and street alone).
        post = model.probability(candidates, candidate_adjust)
        # Maximisation: m of each feature from the sure matches plus the expected matches
        # among its eligible candidate pairs; u stays as measured from random pairs.
        m_new: list[list[float]] = []
        for f in range(n_feat):
            sel = eligible[:, f]
            counts = (
                m_counts[f]
                + _distribution(candidates[sel, f], len(level_names[f]), post[sel])
                + smoothing
            )
            m_new.append(_m(counts, fixed.get(f)))
        change = max(
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            for a, b in zip(m_new, model.m, strict=True)
        )
        model.m = m_new
        model.iterations = iteration
        if change < tolerance:
            break
    return model
