"""A Fellegi–Sunter match model: m/u probabilities per comparison level, trained from data.

Training does not depend on how the batch happens to be composed (which departments, how
many records of each, how blocks fill up):

- ``u`` from uniformly sampled random record pairs (almost all non-matches), with the
  agreement level of value-equality features replaced by its exact value from the value
  counts (the chance that two different entities share a phone, an address …), as Splink does;
  name agreement is further adjusted per value by term frequency (:mod:`resolver.term_frequency`).
- the prior is the chance that two random records match, measured where it can be measured:
  among the records that carry a valid strong identifier (pairs inside identifier
  components over all pairs of such records). Together with random-pair ``u`` this is the
  classical model; a bigger batch lowers the prior and raises the weight of agreeing on a
  rare value alike.
- ``m`` from pairs linked by a valid strong identifier (sure matches, compared on everything
  but the identifier), pooled with one expectation step over the blocked candidate pairs in
  which each feature's levels are counted with the match probability that the *other*
  features give. The second part reaches the departments that carry no identifier (a
  utility's short account names never occur among identifier-linked pairs).

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

from resolver.term_frequency import TermFrequencies

NULL = -1  # comparison level for "one side missing": contributes no evidence
#: Bumped when training or comparison change meaning: a stored model of another engine
#: version is not applied (incremental runs retrain instead).
ENGINE_VERSION = 2

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
    smoothing: float = 1.0,
) -> FSModel:
    """Estimate the model; see the module docstring. ``exact_u``: feature -> u of its top
    level measured from value counts; ``adjust``: the name feature's term-frequency
    adjustment of each candidate pair under a model (feature 0 is the name)."""
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
    model = FSModel(
        features,
        level_names,
        [list((c + smoothing) / (c + smoothing).sum()) for c in m_counts],
        u,
        prior=prior,
        tf=tf or TermFrequencies(),
    )
    if len(candidates):
        candidate_adjust = adjust(model) if adjust is not None else None
        # One expectation step: each feature's levels counted with the match probability the
        # other features (and the prior) give the pair.
        weights = model.weights()
        total = model.log_odds(candidates, candidate_adjust)
        m_new: list[list[float]] = []
        for f in range(n_feat):
            col = candidates[:, f]
            known = col != NULL
            own = np.zeros(len(col))
            own[known] = weights[f][col[known]]
            if f == 0 and candidate_adjust is not None:
                own += candidate_adjust
            post = 1.0 / (1.0 + np.exp2(-(total - own)))
            counts = m_counts[f] + _distribution(col, len(level_names[f]), post) + smoothing
            m_new.append(list(counts / counts.sum()))
        model.m = m_new
    return model
