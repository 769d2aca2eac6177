"""`credgraph load` into an empty graph grades from the run's own tables and sends the Grade
nodes in the same GRAPH.BULK: the graph, grade history included, equals the one the MERGE
path (`--no-bulk`) and the re-grading after it give (real server, real CLI)."""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from credgraph.cli import main
from credit.service import credit_grade, refresh_grades
from graph.load import load_run
from graph.store import FalkorStore, open_store
from resolver.linkage.link import run_link
from resolver.state.incremental import run_link_stateful
from tests.batch_plus import batch_plus
from tests.conftest import SAMPLE
from tests.test_credit_regrade import NEW_ROW, _with_new_penalty
from tests.test_graph import graph_contents
from tests.test_incremental import USCC

FIXED = "2000-01-01T00:00:00+00:00"


def _store(uri: str) -> FalkorStore:
    store = open_store(uri)
    assert isinstance(store, FalkorStore)
    return store


def _load(run: Path, uri: str, *args: str) -> tuple[str, int, int]:
    """The path `load` took, and its (graded, stored) figures."""
    res = CliRunner().invoke(main, ["load", str(run), *args], env={"CREDGRAPH_GRAPH_URI": uri})
    assert res.exit_code == 0, res.output
    path = re.search(r"by the (bulk|MERGE) path", res.output)
    grades = re.search(
        r"grades: ([\d,]+) enterprises .* recomputed; ([\d,]+) new grades", res.output
    )
    assert path and grades, res.output
    return path[1], int(grades[1].replace(",", "")), int(grades[2].replace(",", ""))


def _fix_clock(store: FalkorStore, since: dt.datetime, until: dt.datetime) -> int:
    """Every Grade's ``computed_at`` is a time of this test (checked), then set to FIXED so
    that two graphs compare; returns how many grades there are."""
    stamps = [r["t"] for r in store.read("MATCH (g:Grade) RETURN g.computed_at AS t")]
    for t in stamps:
        at = dt.datetime.fromisoformat(t)
        assert since.replace(microsecond=0) <= at <= until, t
    store.run("MATCH (g:Grade) SET g.computed_at = $t", {"t": FIXED})
    return len(stamps)


def _both_ways(run: Path, uri: str) -> tuple[FalkorStore, FalkorStore, int]:
    """The run loaded by `load` into two empty graphs, bulk and MERGE; asserts the two are
    equal, grade history included; returns the stores and the number of grades."""
    bulk, merge = _store(uri + "_b"), _store(uri + "_m")
    since = dt.datetime.now(dt.UTC)
    made_bulk = _load(run, uri + "_b")
    made_merge = _load(run, uri + "_m", "--no-bulk")
    until = dt.datetime.now(dt.UTC)
    assert made_bulk[0] == "bulk" and made_merge[0] == "MERGE"
    assert made_bulk[1:] == made_merge[1:]  # (graded, stored) the same both ways
    n = _fix_clock(bulk, since, until)
    assert _fix_clock(merge, since, until) == n == made_bulk[2] > 0
    with_events = bulk.read(
        "MATCH (e:Enterprise)-[:SUBJECT_OF]->(:CreditEvent) RETURN count(DISTINCT e) AS n"
    )[0]["n"]
    assert n == with_events
    a, b = graph_contents(bulk, grades=True), graph_contents(merge, grades=True)
    assert sum('"l": "Grade"' in x for x in a) == n
    assert sum('"t": "GRADED"' in x for x in a) == n
    assert a == b
    return bulk, merge, n


def test_bulk_load_grades_as_the_merge_path_and_regrading(graph_uri: str, tmp_path: Path) -> None:
    sample, penalised = tmp_path / "run", tmp_path / "run_penalty"
    run_link(SAMPLE / "batch", sample)
    uscc = _with_new_penalty(tmp_path / "batch_penalty")
    run_link(tmp_path / "batch_penalty", penalised)
    bulk, merge, _ = _both_ways(sample, graph_uri + "_s")
    bulk2, merge2, _ = _both_ways(penalised, graph_uri + "_p")
    try:
        # the run with one more severe penalty grades its enterprise lower, both ways
        before = credit_grade(bulk, uscc).history
        after = credit_grade(bulk2, uscc).history
        assert len(before) == len(after) == 1
        assert after[0]["score"] < before[0]["score"]
        assert any("测试环罚〔2026〕1号" in line for line in after[0]["lines"])
        assert credit_grade(merge2, uscc).history == after
        # one grade written otherwise by one way: the comparison sees it
        bulk2.run(
            "MATCH (e:Enterprise)-[:GRADED]->(g:Grade) WITH g LIMIT 1 SET g.score = g.score + 1"
        )
        assert graph_contents(bulk2, grades=True) != graph_contents(merge2, grades=True)
        # a later load into the (now not empty) graph: the MERGE path and the re-grading,
        # which finds the bulk path's grades current (nothing new to keep)
        path, graded, stored = _load(sample, graph_uri + "_s_b")
        assert (path, stored) == ("MERGE", 0) and graded > 0
    finally:
        for s in (bulk, merge, bulk2, merge2):
            s.close()


@pytest.mark.parametrize("bulk", [True, False])
def test_load_without_credit_events_stores_no_grades(
    graph_uri: str, tmp_path: Path, bulk: bool
) -> None:
    """A run without credit events: no Grade node either way (nothing to keep)."""
    batch = tmp_path / "batch"
    shutil.copytree(SAMPLE / "batch", batch)
    m = yaml.safe_load((batch / "manifest.yaml").read_text("utf-8"))
    m["sources"] = [s for s in m["sources"] if s["kind"] != "credit_event"]
    for f in {s["file"] for s in m["sources"]} ^ {f.name for f in batch.iterdir()}:
        if f != "manifest.yaml":
            (batch / f).unlink()
    (batch / "manifest.yaml").write_text(yaml.safe_dump(m, allow_unicode=True), "utf-8")
    run_link(batch, tmp_path / "run")
    path, graded, stored = _load(tmp_path / "run", graph_uri, "--bulk" if bulk else "--no-bulk")
    assert (path, graded, stored) == ("bulk" if bulk else "MERGE", 0, 0)
    store = _store(graph_uri)
    try:
        assert store.read("MATCH (n:Enterprise) RETURN count(n) AS n")[0]["n"] > 0
        assert store.read("MATCH (g:Grade) RETURN count(g) AS n")[0]["n"] == 0
    finally:
        store.close()


def test_grades_left_unheld_by_a_killed_bulk_load_are_dropped_by_the_reload(
    graph_uri: str, tmp_path: Path
) -> None:
    """A bulk load killed after its Grade nodes were sent and before its GRADED
    relationships leaves grades no enterprise holds (`kill -9` of `credgraph load` shows it);
    the reload on a later day grades as of that day: the graph then equals a fresh load's,
    with no grade of the killed load left over."""
    run = tmp_path / "run"
    run_link(SAMPLE / "batch", run)
    assert _load(run, graph_uri)[0] == "bulk"
    later = dt.date.today() + dt.timedelta(days=1)
    store, fresh = _store(graph_uri), _store(graph_uri + "_fresh")
    try:
        sent = store.read("MATCH (g:Grade) RETURN count(g) AS n")[0]["n"]
        assert sent > 0
        # what the killed load leaves: the run's nodes, Grade nodes among them, no GRADED
        store.run("MATCH ()-[r:GRADED]->() DELETE r")
        since = dt.datetime.now(dt.UTC)
        summary = load_run(store, run)
        assert summary.path == "merge"
        assert refresh_grades(store, later, uids=summary.credit_subjects)[1] == sent
        load_run(fresh, run, bulk=False)
        assert refresh_grades(fresh, later, uids=summary.credit_subjects)[1] == sent
        until = dt.datetime.now(dt.UTC)
        assert _fix_clock(store, since, until) == _fix_clock(fresh, since, until) == sent
        unheld = store.read("MATCH (g:Grade) WHERE NOT ()-[:GRADED]->(g) RETURN count(g) AS n")
        assert unheld[0]["n"] == 0
        assert graph_contents(store, grades=True) == graph_contents(fresh, grades=True)
    finally:
        store.close()
        fresh.close()


def test_the_grades_of_an_enterprise_merged_away_are_not_left_behind(
    graph_uri: str, tmp_path: Path
) -> None:
    """A graded enterprise merged into another by a later stateful batch loses its
    relationships, GRADED included: its grades are then dropped, not left where nothing
    reaches them (a fresh load of the state has none either)."""
    t1 = (
        "T1",
        USCC,
        "佛山市南海区测合并五金有限公司",
        "广东省佛山市南海区桂城街道南海大道北8号",
        "",
    )
    t2 = ("T2", "", "测合并五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444")
    t3 = ("T3", USCC, "测合并五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444")
    b1 = batch_plus(SAMPLE / "batch", tmp_path / "b1", [t1, t2], batch_id="merged-grades-1")
    path = b1 / "ee_penalties.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        first = next(csv.DictReader(fh))
    with path.open("a", encoding="utf-8", newline="") as fh:
        csv.DictWriter(fh, fieldnames=list(first)).writerow(
            {**first, **NEW_ROW, "统一社会信用代码": "", "行政相对人名称": "测合并五金"}
        )
    b2 = batch_plus(SAMPLE / "batch", tmp_path / "b2", [t1, t2, t3], batch_id="merged-grades-2")
    state = tmp_path / "state"
    run_link_stateful(b1, tmp_path / "r1", state)
    run_link_stateful(b2, tmp_path / "r2", state)
    store = _store(graph_uri)
    try:
        _load(tmp_path / "r1", graph_uri)
        graded_then = {
            r["e"] for r in store.read("MATCH (e:Enterprise)-[:GRADED]->(:Grade) RETURN e.uid AS e")
        }
        _load(tmp_path / "r2", graph_uri)
        merged = {
            r["e"]
            for r in store.read(
                "MATCH (e:Enterprise) WHERE e.lifecycle = 'merged' RETURN e.uid AS e"
            )
        }
        assert merged & graded_then  # the chain did what it is about
        unheld = store.read("MATCH (g:Grade) WHERE NOT ()-[:GRADED]->(g) RETURN g.uid AS g")
        assert unheld == []
        for uid in merged:
            assert (
                store.read(
                    "MATCH (g:Grade) WHERE g.uid STARTS WITH $p RETURN g.uid AS g", {"p": uid + "|"}
                )
                == []
            )
    finally:
        store.close()


def test_both_paths_count_the_runs_rows_alike(graph_uri: str, tmp_path: Path) -> None:
    """`loaded N rows` is the run's nodes and relationships on both paths: a stateful run's
    MERGE path also detaches and unlinks, and those clean-up rows are not counted."""
    run_link_stateful(SAMPLE / "batch", tmp_path / "run", tmp_path / "state")
    counts = {}
    for path, args in (("bulk", ()), ("MERGE", ("--no-bulk",))):
        uri = f"{graph_uri}_{path}"
        res = CliRunner().invoke(
            main, ["load", str(tmp_path / "run"), *args], env={"CREDGRAPH_GRAPH_URI": uri}
        )
        assert res.exit_code == 0, res.output
        found = re.search(rf"loaded ([\d,]+) rows in .* by the {path} path", res.output)
        assert found, res.output
        counts[path] = int(found[1].replace(",", ""))
        store = _store(uri)
        try:
            ours = "NOT (labels(n)[0] IN ['Grade', 'LoadedState', 'GraphMarker'])"
            nodes = store.read(f"MATCH (n) WHERE {ours} RETURN count(n) AS n")[0]["n"]
            rels = store.read("MATCH ()-[r]->() WHERE type(r) <> 'GRADED' RETURN count(r) AS n")
        finally:
            store.close()
        assert counts[path] == nodes + rels[0]["n"] > 0
    assert counts["bulk"] == counts["MERGE"]


def test_bulk_into_a_graph_that_is_not_empty_says_what_to_do(
    graph_uri: str, tmp_path: Path
) -> None:
    run_link(SAMPLE / "batch", tmp_path / "run")
    env = {"CREDGRAPH_GRAPH_URI": graph_uri}
    first = CliRunner().invoke(main, ["load", str(tmp_path / "run")], env=env)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["load", str(tmp_path / "run"), "--bulk"], env=env)
    assert again.exit_code == 1 and "Traceback" not in again.output
    assert again.output.strip().splitlines()[-1] == (
        "Error: the bulk path (--bulk) needs an empty graph and this one holds nodes: "
        "load without --bulk (the MERGE path)"
    )
