"""A stateful run that merges two entities carries the merge twice: in redirects.jsonl (the
MERGE path writes a bare node for each old ID and marks it merged) and in golden.jsonl (the
merged entity with ``lifecycle: merged`` and ``merged_into``, which is all the bulk path
reads). Loaded into an empty graph, both paths must give the same graph, redirects
included."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures.split import split_batch
from graph.load import load_run
from resolver.state.graphsync import export_run
from resolver.state.incremental import run_link_stateful
from tests.conftest import SAMPLE
from tests.test_graph import falkor_store, graph_digest
from tests.test_incremental import USCC, _with_extra


def test_bulk_and_merge_paths_agree_on_a_run_with_redirects(graph_uri: str, tmp_path: Path) -> None:
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 3)
    t1 = ("T1", USCC, "佛山市南海区测合并五金有限公司", "广东省佛山市南海区桂城街道南海大道北8号",
          "0757-81112222")  # fmt: skip
    t2 = ("T2", "", "测合并五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444")
    t3 = ("T3", USCC, "测合并五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444")
    state = tmp_path / "state"
    run_link_stateful(
        _with_extra(parts[0], tmp_path / "b1", [t1, t2], "r-1"), tmp_path / "r1", state
    )
    # T3 carries T1's USCC and T2's name, address and phone: T1's and T2's entities merge
    run_link_stateful(
        _with_extra(parts[1], tmp_path / "b2", [t1, t2, t3], "r-2"), tmp_path / "r2", state
    )
    lines = (tmp_path / "r2" / "redirects.jsonl").read_text("utf-8").splitlines()
    redirects = {r["old"]: r["new"] for r in map(json.loads, lines)}
    assert redirects, "the second batch merges two entities"
    # Run 2 alone is refused in an empty graph (it carries only what batch 2 changed): the
    # whole state, merged entities included, goes in as one run by either path.
    export_run(state, tmp_path / "whole")
    merge, bulk = falkor_store(graph_uri + "_merge"), falkor_store(graph_uri + "_bulk")
    try:
        paths = (
            load_run(merge, tmp_path / "whole", bulk=False).path,
            load_run(bulk, tmp_path / "whole").path,
        )
        assert paths == ("merge", "bulk")
        assert graph_digest(merge) == graph_digest(bulk)
        for store in (merge, bulk):
            rows = store.read(
                "UNWIND $olds AS o MATCH (n:Enterprise {uid: o}) OPTIONAL MATCH (n)-[x]-() "
                "RETURN n.uid AS uid, n.lifecycle AS l, n.merged_into AS into, count(x) AS rels",
                {"olds": sorted(redirects)},
            )
            assert {r["uid"]: (r["l"], r["into"], r["rels"]) for r in rows} == {
                old: ("merged", new, 0) for old, new in redirects.items()
            }
    finally:
        merge.close()
        bulk.close()
