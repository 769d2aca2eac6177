"""``credgraph evaluate``: accuracy of a resolution run against the generator's truth.

Pairwise precision/recall/F1 (over all record pairs put together), B-cubed precision/recall,
and the clusters that are over-merged (hold records of several true entities) or split (one
true entity over several clusters), per entity kind. Subject resolution of mentions (credit
events, facts, declarations) is scored too.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from resolver.csvsafe import read_rows


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def cluster_scores(
    pred: dict[tuple[str, str], str], truth: dict[tuple[str, str], str]
) -> dict[str, Any]:
    """Scores over the records present in both mappings (record key -> cluster / entity)."""
    keys = pred.keys() & truth.keys()
    if pred and truth and not keys:
        # Keys of different shapes ((dept, record_id) against (dept, kind, record_id)) would
        # score a perfect 1.0 over nothing.
        raise ValueError("no record in common between the prediction and the truth")
    joint: Counter[tuple[str, str]] = Counter((pred[k], truth[k]) for k in keys)
    pred_sizes: Counter[str] = Counter(pred[k] for k in keys)
    true_sizes: Counter[str] = Counter(truth[k] for k in keys)
    tp = sum(_pairs(n) for n in joint.values())
    pp = sum(_pairs(n) for n in pred_sizes.values())
    tt = sum(_pairs(n) for n in true_sizes.values())
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(keys)
    b3p = sum(c * c / pred_sizes[p] for (p, _t), c in joint.items()) / n if n else 1.0
    b3r = sum(c * c / true_sizes[t] for (_p, t), c in joint.items()) / n if n else 1.0
    entities_per_pred: dict[str, set[str]] = defaultdict(set)
    preds_per_true: dict[str, set[str]] = defaultdict(set)
    for p, t in joint:
        entities_per_pred[p].add(t)
        preds_per_true[t].add(p)
    return {
        "records": n,
        "pairwise": {
            "precision": round(precision, 5),
            "recall": round(recall, 5),
            "f1": round(f1, 5),
            "true_pairs": tt,
            "predicted_pairs": pp,
            "correct_pairs": tp,
        },
        "b_cubed": {
            "precision": round(b3p, 5),
            "recall": round(b3r, 5),
            "f1": round(2 * b3p * b3r / (b3p + b3r), 5) if b3p + b3r else 0.0,
        },
        "clusters": len(pred_sizes),
        "true_entities": len(true_sizes),
        "over_merged_clusters": sum(1 for s in entities_per_pred.values() if len(s) > 1),
        "split_entities": sum(1 for s in preds_per_true.values() if len(s) > 1),
    }


def evaluate(run_dir: Path, truth_dir: Path) -> dict[str, Any]:
    """Scores per kind for a run directory against a truth directory."""
    pred: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    mention_pred: dict[tuple[str, str], str] = {}
    mention_reason: dict[tuple[str, str], str] = {}
    with (run_dir / "links.csv").open(encoding="utf-8", newline="") as fh:
        for row in read_rows(fh):
            key = (row["dept"], row["record_id"])
            if row["kind"] in ("enterprise", "person"):
                pred[row["kind"]][key] = row["entity_id"]
            else:
                mention_pred[key] = row["entity_id"]
                mention_reason[key] = row.get("reason") or "unresolved"
    truth: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    with (truth_dir / "entities.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            truth[row["kind"]][(row["dept"], row["record_id"])] = row["entity_key"]
    out: dict[str, Any] = {}
    for kind in ("enterprise", "person"):
        scores = cluster_scores(pred[kind], truth[kind])
        scores["missing_from_run"] = len(truth[kind].keys() - pred[kind].keys())
        out[kind] = scores
    # Mentions: does the subject resolve to the golden entity that holds the true entity's records?
    entity_to_golden: dict[str, Counter[str]] = defaultdict(Counter)
    for kind in ("enterprise", "person"):
        for key, ent in truth[kind].items():
            if key in pred[kind]:
                entity_to_golden[ent][pred[kind][key]] += 1
    subjects_path = truth_dir / "subjects.csv"
    if subjects_path.exists():
        counts: Counter[str] = Counter()
        by_kind: dict[str, Counter[str]] = defaultdict(Counter)
        reasons: Counter[str] = Counter()
        with subjects_path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                key = (row["dept"], row["record_id"])
                if key not in mention_pred:
                    continue
                counts["mentions"] += 1
                by_kind[row["kind"]]["mentions"] += 1
                got = mention_pred[key]
                if not got:
                    counts["unresolved"] += 1
                    reasons[mention_reason[key]] += 1
                    continue
                golden = entity_to_golden.get(row["subject_key"])
                if golden and golden.most_common(1)[0][0] == got:
                    counts["correct"] += 1
                    by_kind[row["kind"]]["correct"] += 1
                else:
                    counts["wrong"] += 1
        resolved = counts["correct"] + counts["wrong"]
        out["mentions"] = {
            **dict(counts),
            "precision": round(counts["correct"] / resolved, 5) if resolved else 1.0,
            "resolved_rate": round(resolved / counts["mentions"], 5) if counts["mentions"] else 1.0,
            # Subject accuracy: correct over all mentions, an unresolved subject counted wrong.
            "accuracy": round(counts["correct"] / counts["mentions"], 5)
            if counts["mentions"]
            else 1.0,
            "accuracy_by_kind": {
                k: round(c["correct"] / c["mentions"], 5) for k, c in sorted(by_kind.items())
            },
            "unresolved_reasons": dict(reasons.most_common()),
        }
    return out
