"""A Fellegi–Sunter match model: m/u probabilities per comparison level, trained from data.

Training: ``u`` from random record pairs (almost all non-matches); ``m`` from pairs linked by
a valid strong identifier (sure matches, compared on everything but the identifier — the
same noise reaches names, addresses and phones whether or not an identifier is present);
then EM over the blocked candidate pairs estimates the match prior with m and u fixed,
capped at 0.5: candidates are mostly split records of one entity, so the uncapped prior
climbs towards 1 and would let a pair with one agreeing 字号 and nothing else match; with
the cap the evidence, not the prior, has to carry every merge.
Re-estimating m by unsupervised EM as well was tried and drifts: on department data the
candidate pairs are dominated by true matches of split records, and EM absorbs the
non-matching pairs into m until everything matches. Parameters are JSON, never pickled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

NULL = -1  # comparison level for "one side missing": contributes no evidence

Levels = NDArray[np.int8]


@dataclass
class FSModel:
    """Per-feature level probabilities; level ``k`` of feature ``f`` is ``m[f][k]`` / ``u[f][k]``."""

    features: list[str]
    level_names: list[list[str]]
    m: list[list[float]]
    u: list[list[float]]
    prior: float  # P(match) among candidate pairs

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
            "prior": self.prior,
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
    iterations: int = 50,
    smoothing: float = 1.0,
    max_prior: float = 0.5,
) -> FSModel:
    """Estimate the model; see the module docstring."""
    n_feat = len(features)
    u = []
    m_prior = []
    for f in range(n_feat):
        k = len(level_names[f])
        uc = _distribution(randoms[:, f], k) + smoothing
        u.append(uc / uc.sum())
        mc = _distribution(matches[:, f], k) + smoothing
        m_prior.append(mc / mc.sum())
    model = FSModel(
        features, level_names, [list(x) for x in m_prior], [list(x) for x in u], prior=0.1
    )
    if len(candidates) == 0:
        return model
    for _ in range(iterations):
        prior = float(np.clip(model.probability(candidates).mean(), 1e-6, max_prior))
        delta = abs(prior - model.prior)
        model.prior = prior
        if delta < 1e-6:
            break
    return model
