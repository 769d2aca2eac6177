"""`credgraph load` recomputes the grades of the enterprises whose credit events the run
carries, keeping the grade history in the graph (real server, real stateful runs)."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from credgraph.cli import main
from credit.service import credit_grade
from graph.store import open_store
from resolver.state.incremental import run_link_stateful
from tests.conftest import SAMPLE

NEW_ROW = {
    "处罚编号": "HBTEST0001",
    "处罚类别": "行政处罚",
    "行政处罚决定书文号": "测试环罚〔2026〕1号",
    "处罚机关": "惠州市生态环境局",
    "处罚决定日期": "2026/11/01",
    "违法情节": "严重",
    "罚款金额（万元）": "10",
    "公示截止期": "2029/11/01",
    "违法行为类型": "测试：超标排放",
}


def _with_new_penalty(dest: Path) -> str:
    """A copy of the sample batch with one more (severe) penalty; returns its subject's USCC."""
    shutil.copytree(SAMPLE / "batch", dest)
    path = dest / "ee_penalties.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = rows[0]
    row = {**first, **NEW_ROW}
    with path.open("a", encoding="utf-8", newline="") as fh:
        csv.DictWriter(fh, fieldnames=list(first)).writerow(row)
    m = yaml.safe_load((dest / "manifest.yaml").read_text("utf-8"))
    m["batch_id"] = f"{m['batch_id']}-regrade"
    (dest / "manifest.yaml").write_text(yaml.safe_dump(m, allow_unicode=True), "utf-8")
    return first["统一社会信用代码"]


def _load(run: Path, uri: str) -> tuple[int, int]:
    res = CliRunner().invoke(main, ["load", str(run)], env={"CREDGRAPH_GRAPH_URI": uri})
    assert res.exit_code == 0, res.output
    m = re.search(r"grades: ([\d,]+) enterprises .* recomputed; ([\d,]+) new grades", res.output)
    assert m, res.output
    return int(m[1].replace(",", "")), int(m[2].replace(",", ""))


def test_load_regrades_the_enterprises_whose_events_changed(graph_uri: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    run_link_stateful(SAMPLE / "batch", run1, state)
    uscc = _with_new_penalty(tmp_path / "b2")
    run_link_stateful(tmp_path / "b2", run2, state)
    store = open_store(graph_uri)
    try:
        graded, stored = _load(run1, graph_uri)
        with_events = store.read(
            "MATCH (e:Enterprise)-[:SUBJECT_OF]->(:CreditEvent) RETURN count(DISTINCT e) AS n"
        )[0]["n"]
        graded_nodes = store.read("MATCH (:Enterprise)-[:GRADED]->(g:Grade) RETURN count(g) AS n")
        assert stored == with_events == graded_nodes[0]["n"] > 0 and graded >= with_events
        assert _load(run1, graph_uri)[1] == 0  # the same run again: no event changed
        before = credit_grade(store, uscc)
        assert len(before.history) == 1
        graded2, stored2 = _load(run2, graph_uri)
        assert stored2 == 1 and graded2 >= 1  # only the enterprise with the new penalty
        after = credit_grade(store, uscc)
        assert after.entity_id == before.entity_id
        assert [h["score"] for h in after.history] == [before.current.score, after.current.score]
        assert after.current.score < before.current.score
        assert any("测试环罚〔2026〕1号" in line for line in after.history[-1]["lines"])
    finally:
        store.close()
