"""A second baseline for bench/link_vs_splink: the `recordlinkage` toolkit used as its own
documentation shows — an indexer (blocking on the same keys as the Splink baseline, plus a
sorted-neighbourhood pass on the name), binary comparison vectors, and the unsupervised ECM
classifier (Fellegi–Sunter fitted by EM on binary features); clusters are the connected
components of the predicted matching pairs."""

from __future__ import annotations

import time
from typing import Any

import networkx as nx

#: Per kind: the blocking keys (columns, all equal) and the exact-comparison columns.
BLOCKS: dict[str, list[list[str]]] = {
    "enterprise": [
        ["uscc"],
        ["org_code"],
        ["reg_no"],
        ["name"],
        ["name_body"],
        ["name_core", "district"],
        ["phone"],
        ["address"],
    ],
    "person": [
        ["id18"],
        ["name", "birth_date"],
        ["name", "phone"],
        ["phone"],
        ["pinyin", "birth_date"],
        ["name", "district"],
        ["name", "employer"],
    ],
}
EXACT: dict[str, list[str]] = {
    "enterprise": ["uscc", "name_core", "phone", "legal_rep"],
    "person": ["id18", "birth_date", "phone", "employer"],
}


def link_with_recordlinkage(df: Any, kind: str) -> tuple[dict[str, str], float]:
    """Cluster ``df`` (one row per record, ``unique_id`` column) with recordlinkage's ECM."""
    import recordlinkage

    start = time.perf_counter()
    frame = df.set_index("unique_id")
    # A missing value must neither block nor agree: pandas joins missing keys with each
    # other, so each gets a value of its own.
    for col in frame.columns:
        missing = frame[col].isna()
        frame.loc[missing, col] = "\u2205" + frame.index[missing].astype(str)
    indexer = recordlinkage.Index()
    for cols in BLOCKS[kind]:
        indexer.block(left_on=cols if len(cols) > 1 else cols[0])
    indexer.sortedneighbourhood("name", window=5)
    pairs = indexer.index(frame)
    cmp = recordlinkage.Compare()
    for col in EXACT[kind]:
        cmp.exact(col, col, label=col)
    cmp.string("name", "name", method="jarowinkler", threshold=0.9, label="name_similar")
    cmp.string("address", "address", method="levenshtein", threshold=0.85, label="address")
    features = cmp.compute(pairs, frame).astype(int)
    ecm = recordlinkage.ECMClassifier(binarize=None)
    matches = ecm.fit_predict(features)
    graph: nx.Graph = nx.Graph()
    graph.add_nodes_from(frame.index)
    graph.add_edges_from(matches.tolist())
    clusters: dict[str, str] = {}
    for n, comp in enumerate(nx.connected_components(graph)):
        for uid in comp:
            clusters[str(uid)] = f"c{n}"
    return clusters, time.perf_counter() - start
