"""The graph tells the truth: golden attributes round-trip, every relationship row is
accounted for, stateful loads equal the state, the bulk path equals the MERGE path, load
checkpoints belong to their target graph, control characters do not fail a load."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.split import split_batch
from graph.load import load_run
from resolver.state.graphsync import export_run
from resolver.state.incremental import run_link_stateful
from resolver.state.store import State
from tests.conftest import SAMPLE
from tests.test_graph import assert_equals_a_fresh_load, falkor_store, graph_digest
from tests.test_incremental import USCC, _with_extra


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture()
def run(sample_run: Path) -> Path:
    """The session's linked sample batch (tests/conftest.py ``sample_run``)."""
    return sample_run


def _expected_node(g: dict[str, Any]) -> dict[str, Any]:
    """What DESIGN.md Contract 3 says a golden record becomes (blank values not stored)."""
    names = {"status": "registration_status"}
    out: dict[str, Any] = {names.get(k, k): v for k, v in g["attributes"].items()}
    out.update(uid=g["id"], lifecycle=g.get("lifecycle", "active"), members=len(g["members"]))
    for k in ("id_hash", "id_masked", "merged_into", "known_from"):
        if g.get(k):
            out[k] = g[k]
    return {k: v for k, v in out.items() if v not in (None, "", [])}


def test_every_golden_attribute_round_trips(graph_uri: str, run: Path) -> None:
    store = falkor_store(graph_uri)
    try:
        load_run(store, run, bulk=False)
        nodes = {
            r["n"]["uid"]: r["n"]
            for r in store.read("MATCH (n) WHERE n:Enterprise OR n:Person RETURN n AS n")
        }
        golden = _jsonl(run / "golden.jsonl")
        assert len(nodes) == len(golden)
        for g in golden:
            assert nodes[g["id"]] == _expected_node(g), g["id"]
        # Lifecycle and registration status are separate: 吊销 and 注销 survive the load.
        statuses = Counter(
            g["attributes"].get("status") for g in golden if g["type"] == "Enterprise"
        )
        in_graph = {
            r["s"]: r["n"]
            for r in store.read(
                "MATCH (e:Enterprise) RETURN e.registration_status AS s, count(e) AS n"
            )
        }
        assert statuses["吊销"] > 0 and in_graph.get("吊销") == statuses["吊销"]
        assert in_graph.get("注销") == statuses["注销"]
        assert store.read("MATCH (e:Enterprise) WHERE e.lifecycle <> 'active' RETURN e")[:1] == []
    finally:
        store.close()


def test_every_relationship_row_is_written_or_skipped_with_a_reason(
    graph_uri: str, run: Path
) -> None:
    store = falkor_store(graph_uri)
    try:
        summary = load_run(store, run, bulk=False)
    finally:
        store.close()
    edges = Counter(e["type"] for e in _jsonl(run / "edges.jsonl"))
    for rel in ("LEGAL_REP_OF", "SERVES_AS", "HOLDS_SHARES", "BRANCH_OF"):
        c = summary.counts[rel]
        assert c.rows == edges[rel] > 0, rel
        assert c.written + sum(c.skipped.values()) == c.rows, rel
        # Every end has an ID: persons and enterprises known only from mentions are golden
        # entities too (ID number, USCC, name at the enterprise, 字号 or the name as written).
        assert sum(c.skipped.values()) == 0, (rel, c.skipped)
        assert c.written == c.rows, rel
        assert all(e["from"] and e["to"] for e in _jsonl(run / "edges.jsonl"))
    with (run / "links.csv").open(encoding="utf-8", newline="") as fh:
        links = [r for r in csv.DictReader(fh) if r["kind"] in ("enterprise", "person")]
    assert summary.counts["RESOLVED_TO"].rows == len(links)
    assert summary.counts["RESOLVED_TO"].written == len(links)


def test_bulk_path_gives_the_merge_path_graph(graph_uri: str, run: Path) -> None:
    merge = falkor_store(graph_uri + "_merge")
    bulk = falkor_store(graph_uri + "_bulk")
    try:
        a = load_run(merge, run, bulk=False)
        b = load_run(bulk, run)
        assert (a.path, b.path) == ("merge", "bulk")
        assert a.nodes == b.nodes and a.relationships == b.relationships
        assert graph_digest(merge) == graph_digest(bulk)
        assert {k: (c.rows, c.written) for k, c in a.counts.items()} == {
            k: (c.rows, c.written) for k, c in b.counts.items()
        }
        # A second load of the same run into the bulk-built graph changes nothing.
        load_run(bulk, run)
        assert graph_digest(bulk) == graph_digest(merge)
    finally:
        merge.close()
        bulk.close()


def _batch(
    base: Path, dest: Path, rows: list[tuple[str, str, str, str, str]], batch_id: str
) -> Path:
    return _with_extra(base, dest, rows, batch_id)


def test_stateful_loads_equal_the_state(graph_uri: str, tmp_path: Path) -> None:
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 3)
    state = tmp_path / "state"
    t1 = (
        "T1",
        USCC,
        "佛山市南海区测合并五金有限公司",
        "广东省佛山市南海区桂城街道南海大道北8号",
        "0757-81112222",
    )
    t2 = ("T2", "", "测合并五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444")
    t3 = ("T3", USCC, "测合并五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444")
    w1 = (
        "W1",
        "",
        "佛山市南海区测撤回贸易有限公司",
        "广东省佛山市南海区桂城街道1号",
        "0757-89990000",
    )
    batches = [
        _batch(parts[0], tmp_path / "b1", [t1, t2, w1], "g-1"),
        _batch(parts[1], tmp_path / "b2", [t1, t2, t3, w1], "g-2"),  # T1 and T2 merge
        _batch(parts[2], tmp_path / "b3", [t1, t2, t3], "g-3"),
    ]
    m = yaml.safe_load((batches[2] / "manifest.yaml").read_text("utf-8"))
    m["withdrawn"] = [{"dept": "TEST", "record_id": "W1"}]  # its entity retires
    (batches[2] / "manifest.yaml").write_text(yaml.safe_dump(m, allow_unicode=True), "utf-8")
    store = falkor_store(graph_uri)
    try:
        for k, b in enumerate(batches):
            run_link_stateful(b, tmp_path / f"r{k}", state)
            load_run(store, tmp_path / f"r{k}", batch_size=300)
        # A human says T2 is not T3: the next batch splits the entity.
        with State(state) as st, st.transaction():
            st.add_judgement(("TEST", "T2"), ("TEST", "T3"), "no_match", "tester", "split")
        b4 = _batch(parts[2], tmp_path / "b4", [t1, t2, t3], "g-4")
        run_link_stateful(b4, tmp_path / "r3", state)
        load_run(store, tmp_path / "r3", batch_size=300)
        with State(state) as st:
            statuses = Counter(s for (s,) in st.db.execute("SELECT status FROM entities"))
            events = Counter(e for (e,) in st.db.execute("SELECT event FROM history"))
        assert statuses["merged"] > 0 and statuses["retired"] > 0 and events["split"] > 0
        export_run(state, tmp_path / "snapshot")
        fresh = falkor_store(graph_uri + "_fresh")
        try:
            load_run(fresh, tmp_path / "snapshot", bulk=False)
            assert graph_digest(store) == graph_digest(fresh)
        finally:
            fresh.close()
        doubles = store.read(
            "MATCH (s:SourceRecord)-[x:RESOLVED_TO]->() WITH s, count(x) AS n WHERE n > 1 RETURN count(s) AS c"
        )
        assert doubles[0]["c"] == 0
        lifecycles = {
            r["l"]: r["n"]
            for r in store.read(
                "MATCH (n) WHERE n:Enterprise OR n:Person RETURN n.lifecycle AS l, count(n) AS n"
            )
        }
        assert lifecycles["merged"] == statuses["merged"]
        assert lifecycles["retired"] == statuses["retired"]
        stray = store.read(
            "MATCH (n)-[x]-() WHERE (n:Enterprise OR n:Person) AND n.lifecycle <> 'active' "
            "RETURN count(x) AS c"
        )
        assert stray[0]["c"] == 0
    finally:
        store.close()


def _rotated(batch: Path, dest: Path, batch_id: str) -> Path:
    """The batch again, its person and enterprise files' record ids shifted by one row: every key is
    re-delivered with another person's content (records move, lone entities retire)."""
    shutil.copytree(batch, dest)
    m = yaml.safe_load((dest / "manifest.yaml").read_text("utf-8"))
    m["batch_id"] = batch_id
    (dest / "manifest.yaml").write_text(yaml.safe_dump(m, allow_unicode=True), "utf-8")
    for src in m["sources"]:
        enc = src.get("encoding", "utf-8")
        if src["kind"] not in ("person", "enterprise") or not src["file"].endswith(".csv"):
            continue
        path = dest / src["file"]
        with path.open(encoding=enc, errors="surrogateescape", newline="") as fh:
            rows = list(csv.reader(fh))
        col = rows[0].index(src["record_id"])
        ids = [r[col] for r in rows[1:]]
        for r, rid in zip(rows[1:], ids[1:] + ids[:1], strict=True):
            r[col] = rid
        with path.open("w", encoding=enc, errors="surrogateescape", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)
    return dest


def test_redelivered_records_move_their_relationships(graph_uri: str, tmp_path: Path) -> None:
    """A batch, the same batch with its person records' keys rotated (each key re-delivered
    with another person's content), then the first again: after each load the graph equals
    the state."""
    parts = split_batch(SAMPLE / "batch", tmp_path / "parts", 3)
    batches = [
        parts[0],
        _rotated(parts[0], tmp_path / "rotated", "rotated"),
        _rotated(parts[0], tmp_path / "back", "back"),
    ]
    shutil.rmtree(batches[2])
    shutil.copytree(parts[0], batches[2])
    m = yaml.safe_load((batches[2] / "manifest.yaml").read_text("utf-8"))
    m["batch_id"] = "back"
    (batches[2] / "manifest.yaml").write_text(yaml.safe_dump(m, allow_unicode=True), "utf-8")
    state = tmp_path / "state"
    store = falkor_store(graph_uri)
    try:
        for k, b in enumerate(batches):
            run_link_stateful(b, tmp_path / f"r{k}", state)
            load_run(store, tmp_path / f"r{k}", batch_size=200)
            assert_equals_a_fresh_load(
                store, state, f"{graph_uri}_fresh{k}", tmp_path / f"snap{k}", k
            )
            stray = store.read(
                "MATCH (n)-[x]-() WHERE (n:Enterprise OR n:Person) AND n.lifecycle <> 'active' "
                "RETURN count(x) AS c"
            )
            assert stray[0]["c"] == 0, k
            doubles = store.read(
                "MATCH (s:SourceRecord)-[x:RESOLVED_TO]->() WITH s, count(x) AS n "
                "WHERE n > 1 RETURN count(s) AS c"
            )
            assert doubles[0]["c"] == 0, k
        with State(state) as st:
            retired = st.db.execute("SELECT count(*) FROM entities WHERE status = 'retired'")
            assert retired.fetchone()[0] > 0
    finally:
        store.close()


def test_checkpoint_belongs_to_its_target_graph(graph_uri: str, run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    clean = falkor_store(graph_uri + "_clean")
    load_run(clean, run, bulk=False)
    expected = graph_digest(clean)
    clean.close()

    cmd = [sys.executable, "-m", "credgraph.cli", "load", str(copy), "--no-bulk"]

    def env(uri: str, **extra: str) -> dict[str, str]:
        # The URI (with its password) travels in the environment, never on the command line.
        return {**os.environ, "CREDGRAPH_GRAPH_URI": uri, **extra}

    proc = subprocess.run(
        cmd,
        env=env(graph_uri + "_a", CREDGRAPH_FAULT_AT="load:nodes:Person"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(list(copy.glob(".graph-load-*.json"))) == 1
    # The same run into another graph: loaded from the start, not "already done".
    proc = subprocess.run(
        cmd, env=env(graph_uri + "_b"), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert ", 0 already done" in proc.stdout
    other = falkor_store(graph_uri + "_b")
    try:
        assert graph_digest(other) == expected
    finally:
        other.close()
    proc = subprocess.run(
        cmd, env=env(graph_uri + "_a"), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and ", 0 already done" not in proc.stdout, proc.stdout
    first = falkor_store(graph_uri + "_a")
    try:
        assert graph_digest(first) == expected
    finally:
        first.close()


def test_control_characters_are_escaped_with_a_warning(graph_uri: str, tmp_path: Path) -> None:
    from resolver.state.run_files import write_run

    run = tmp_path / "run"
    golden = [
        {
            "id": "E1",
            "type": "Enterprise",
            "attributes": {"name": "甲\x1b乙", "address": "丙\x00丁"},
            "members": [],
        },
        {"id": "E2", "type": "Enterprise", "attributes": {"name": "正常"}, "members": []},
    ]
    text = "".join(json.dumps(g, ensure_ascii=False) + "\n" for g in golden)
    # A complete (marked) run: `load` refuses an unmarked directory.
    write_run(run, [("golden.jsonl", text.encode())], {"batch_id": "hand-made"})
    proc = subprocess.run(
        [sys.executable, "-m", "credgraph.cli", "load", str(run)],
        env={**os.environ, "CREDGRAPH_GRAPH_URI": graph_uri},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning: 2 values held control characters" in proc.stdout
    store = falkor_store(graph_uri)
    try:
        names = {
            r["u"]: r["n"]
            for r in store.read("MATCH (e:Enterprise) RETURN e.uid AS u, e.name AS n")
        }
        assert names == {"E1": "甲\\u001b乙", "E2": "正常"}
    finally:
        store.close()


def test_a_stateful_run_replaces_whole_relationships_only(tmp_path: Path) -> None:
    """An enterprise record gives a BRANCH_OF to a changed parent and a LEGAL_REP_OF that
    other departments report too: the run carries the BRANCH_OF, never the LEGAL_REP_OF
    alone (its relationship would lose the other sources)."""
    from resolver.state import graphsync

    def edge(rid: str, typ: str, a: str, b: str) -> dict[str, Any]:
        amr = rid.startswith("A")
        return {
            "type": typ,
            "from": a,
            "to": b,
            "resolved": {"from": "by_id", "to": "by_id"},
            "source": {
                "dept": "AMR" if amr else "TAX",
                "kind": "enterprise" if amr else "role",
                "record_id": rid,
            },
        }

    with State(tmp_path / "state") as st:
        graphsync.ensure_tables(st.db)
        rows = {
            ("AMR", "enterprise", "A1"): (
                "enterprise",
                [edge("A1", "BRANCH_OF", "E1", "E9"), edge("A1", "LEGAL_REP_OF", "P1", "E1")],
            ),
            ("TAX", "role", "T1"): ("role", [edge("T1", "LEGAL_REP_OF", "P1", "E1")]),
        }
        with st.transaction() as db:
            ids, changed = graphsync.save_mentions(db, rows, [])
        assert ids == {"E1", "E9", "P1"} and changed == set(rows)
        edges, _ = graphsync.payloads_touching(st, {"E9"}, set())
        assert [(e["type"], e["source"]["record_id"]) for e in edges] == [("BRANCH_OF", "A1")]
        edges, _ = graphsync.payloads_touching(st, {"P1"}, set())
        assert sorted((e["type"], e["source"]["record_id"]) for e in edges) == [
            ("LEGAL_REP_OF", "A1"),
            ("LEGAL_REP_OF", "T1"),
        ]


def test_neo4j_import_files_hold_the_run(run: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from credgraph.cli import main
    from graph.load import read_run

    out = tmp_path / "neo4j"
    result = CliRunner().invoke(main, ["graph", "export-neo4j", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "neo4j-admin database import full" in result.output
    graph = read_run(run)
    ids: dict[str, set[str]] = {}
    for lab, rows in graph.nodes.items():
        with (out / f"nodes_{lab}.csv").open(encoding="utf-8", newline="") as fh:
            table = list(csv.reader(fh))
        assert table[0][0] == f"uid:ID({lab})" and table[0][-1] == ":LABEL"
        assert len(table) - 1 == len(rows)
        ids[lab] = {r[0] for r in table[1:]}
        assert all(r[-1] == lab for r in table[1:])
    for (rel, a, b), rows in graph.rels.items():
        with (out / f"rels_{rel}_{a}_{b}.csv").open(encoding="utf-8", newline="") as fh:
            table = list(csv.reader(fh))
        assert table[0][:2] == [f":START_ID({a})", f":END_ID({b})"] and table[0][-1] == ":TYPE"
        assert all(r[0] in ids[a] and r[1] in ids[b] and r[-1] == rel for r in table[1:])
        assert len(table) - 1 == len(rows)
