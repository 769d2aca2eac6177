"""Issue 12 item 6: a record is (dept, kind, record_id) everywhere — in the state, the run
files, the graph, the look-ups and the review — and a version-1 state is migrated."""

from __future__ import annotations

import csv
import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from credgraph.cli import main
from graph.load import load_run
from graph.server import ServerInfo
from graph.store import open_store
from resolver.state import graphsync
from resolver.state.incremental import run_link_stateful
from resolver.state.store import SCHEMA_VERSION, State
from tests.reliability.batchkit import (
    ROLE_COLUMNS,
    ROLE_HEADER,
    Source,
    csv_text,
    good_row,
    write_batch,
)

PERSON_HEADER = ["登记序号", "姓名", "性别", "联系电话"]
PERSON_COLUMNS = {"姓名": "name", "性别": "gender", "联系电话": "phone"}
IDS = [f"R{i:06d}" for i in range(1, 6)]


def _batch(root: Path, person_ids: list[str], role_ids: list[str], batch_id: str) -> Path:
    """AMR delivers enterprises R000001…R000005, persons and roles with the given IDs."""
    ent = csv_text([good_row(i) for i in range(1, 6)]).encode()
    people = [[rid, f"王{rid[-1]}明", "男", f"1391234567{rid[-1]}"] for rid in person_ids]
    roles = [
        [rid, f"成都市华瑞{int(rid[1:])}机械设备有限公司", f"张{rid[-1]}", "法定代表人"]
        for rid in role_ids
    ]
    return write_batch(
        root,
        [
            Source("amr.csv", ent),
            Source(
                "amr_people.csv",
                csv_text(people, header=PERSON_HEADER).encode(),
                "person",
                columns=dict(PERSON_COLUMNS),
            ),
            Source(
                "amr_roles.csv",
                csv_text(roles, header=ROLE_HEADER).encode(),
                "role",
                record_id="序号",
                columns=dict(ROLE_COLUMNS),
            ),
        ],
        batch_id=batch_id,
    )


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credgraph.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_three_kinds_sharing_record_ids_stay_apart_in_state_files_and_graph(
    tmp_path: Path, graph_uri: str, graph_server: ServerInfo
) -> None:
    batch = _batch(tmp_path / "b", IDS, IDS, "keys-1")
    run, state = tmp_path / "run", tmp_path / "st"
    res = CliRunner().invoke(main, ["link", str(batch), "--out", str(run), "--state", str(state)])
    assert res.exit_code == 0, res.output
    links = _csv(run / "links.csv")
    for kind in ("enterprise", "person"):  # (role rows give edges, not links)
        assert sorted(r["record_id"] for r in links if r["kind"] == kind) == IDS, kind
    # Each role row names its enterprise (by name): the enterprise rows are not superseded.
    edges = [json.loads(x) for x in (run / "edges.jsonl").read_text("utf-8").splitlines()]
    roles = [e for e in edges if e["source"].get("kind") == "role"]
    assert sorted(e["source"]["record_id"] for e in roles) == IDS
    assert all(e["to"] for e in roles)
    resolved = _csv(run / "resolved.csv")
    assert sorted((r["kind"], r["record_id"]) for r in resolved) == sorted(
        (k, i) for k in ("enterprise", "person") for i in IDS
    )
    with State(state) as st:
        assert st.keys_named("AMR", "R000001") == [
            ("AMR", "enterprise", "R000001"),
            ("AMR", "person", "R000001"),
            ("AMR", "role", "R000001"),
        ]
        ent = st.entity_of([("AMR", "enterprise", "R000001")])
        per = st.entity_of([("AMR", "person", "R000001")])
        assert ent[("AMR", "enterprise", "R000001")].startswith("E")
        assert per[("AMR", "person", "R000001")].startswith("P")
    # The graph: one SourceRecord per (dept, kind, record_id).
    store = open_store(graph_uri)
    try:
        load_run(store, run)
        rows = store.read(
            "MATCH (s:SourceRecord)-[:RESOLVED_TO]->(n) RETURN s.uid AS uid, s.kind AS kind, "
            "n.uid AS entity ORDER BY uid",
            {},
        )
    finally:
        store.close()
    assert [r["uid"] for r in rows] == sorted(
        f"AMR|{k}|{i}" for k in ("enterprise", "person") for i in IDS
    )
    by_uid = {r["uid"]: r["entity"] for r in rows}
    # `show AMR:R000001` names both records (ambiguous: candidates, each with its kind).
    target = f"falkordb://127.0.0.1:{graph_server.port}/{graph_uri.rsplit('/', 1)[1]}"
    show = _cli("show", "AMR:R000001", "--uri", target, "--data-dir", str(graph_server.data_dir))
    assert show.returncode == 0, show.stderr
    assert "'AMR:R000001' matches 2 entities" in show.stdout
    assert f"{by_uid['AMR|enterprise|R000001']}  " in show.stdout
    assert "enterprise, enterprise record)" in show.stdout
    assert f"{by_uid['AMR|person|R000001']}  " in show.stdout
    assert "person, person record)" in show.stdout
    # resolve-id lists both too.
    rid = _cli("resolve-id", "AMR:R000001", "--state", str(state))
    assert rid.returncode == 0, rid.stderr
    assert sorted(rid.stdout.split("\n")[:2]) == sorted(
        f"AMR:R000001: {by_uid[f'AMR|{k}|R000001']}  (active)" for k in ("enterprise", "person")
    )
    # A judgement between two such IDs needs the kind.
    ambiguous = _cli(
        "review",
        "decide",
        "AMR:R000001",
        "AMR:R000002",
        "--match",
        "--by",
        "t",
        "--state",
        str(state),
    )
    assert ambiguous.returncode == 1
    assert "are both enterprise and person records: say which with --kind" in ambiguous.stderr
    decided = _cli(
        "review",
        "decide",
        "AMR:R000001",
        "AMR:R000002",
        "--no-match",
        "--by",
        "t",
        "--kind",
        "person",
        "--state",
        str(state),
    )
    assert decided.returncode == 0, decided.stderr
    export = tmp_path / "judgements.csv"
    assert _cli("review", "export", "--out", str(export), "--state", str(state)).returncode == 0
    assert [(r["record_a"], r["record_b"], r["kind"], r["decision"]) for r in _csv(export)] == [
        ("AMR:R000001", "AMR:R000002", "person", "no_match")
    ]
    # The whole-state export carries both records as well.
    graphsync.export_run(state, tmp_path / "snapshot")
    snap = _csv(tmp_path / "snapshot" / "resolved.csv")
    assert sorted((r["kind"], r["record_id"]) for r in snap) == sorted(
        (r["kind"], r["record_id"]) for r in resolved
    )


def test_withdrawal_without_kind_takes_back_every_kind_and_with_kind_only_that_one(
    tmp_path: Path,
) -> None:
    state = tmp_path / "st"
    run_link_stateful(_batch(tmp_path / "b1", IDS, IDS, "w-1"), tmp_path / "r1", state)
    only = write_batch(
        tmp_path / "b2",
        [],
        batch_id="w-2",
        withdrawn=[
            {"dept": "AMR", "record_id": "R000001"},
            {"dept": "AMR", "kind": "person", "record_id": "R000002"},
        ],
    )
    del_manifest = (only / "manifest.yaml").read_text("utf-8")
    assert "sources: []" in del_manifest
    res = run_link_stateful(only, tmp_path / "r2", state)
    assert res.report["state"]["withdrawn"] == 4
    with State(state) as st:
        withdrawn = sorted(
            (k, r)
            for k, r in st.db.execute("SELECT kind, record_id FROM records WHERE withdrawn = 1")
        )
    assert withdrawn == [
        ("enterprise", "R000001"),
        ("person", "R000001"),
        ("person", "R000002"),
        ("role", "R000001"),
    ]
    changes = json.loads((tmp_path / "r2" / "changes.json").read_text("utf-8"))
    assert sorted(w["uid"] for w in changes["withdrawn"]) == [
        "AMR|enterprise|R000001",
        "AMR|person|R000001",
        "AMR|person|R000002",
    ]


V1_TABLES = """
CREATE TABLE records_1 (
    dept TEXT NOT NULL, record_id TEXT NOT NULL, kind TEXT NOT NULL, file TEXT, line INTEGER,
    batch_id TEXT, as_of TEXT, hash TEXT NOT NULL, raw TEXT NOT NULL, std TEXT NOT NULL,
    entity_id TEXT, withdrawn INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (dept, record_id));
INSERT INTO records_1 SELECT * FROM records;
DROP TABLE records;
ALTER TABLE records_1 RENAME TO records;
CREATE INDEX records_entity ON records (entity_id);
CREATE TABLE keys_1 (key TEXT NOT NULL, dept TEXT NOT NULL, record_id TEXT NOT NULL);
INSERT INTO keys_1 SELECT key, dept, record_id FROM keys;
DROP TABLE keys;
ALTER TABLE keys_1 RENAME TO keys;
CREATE INDEX keys_key ON keys (key);
CREATE INDEX keys_record ON keys (dept, record_id);
CREATE TABLE judgements_1 (
    a_dept TEXT NOT NULL, a_record TEXT NOT NULL, b_dept TEXT NOT NULL, b_record TEXT NOT NULL,
    decision TEXT NOT NULL, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL, reason TEXT,
    applied INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (a_dept, a_record, b_dept, b_record));
INSERT INTO judgements_1 SELECT a_dept, a_record, b_dept, b_record, decision, decided_by,
    decided_at, reason, applied FROM judgements;
DROP TABLE judgements;
ALTER TABLE judgements_1 RENAME TO judgements;
CREATE TABLE resolutions_1 (dept TEXT NOT NULL, record_id TEXT NOT NULL, score REAL,
    decision TEXT, PRIMARY KEY (dept, record_id));
INSERT INTO resolutions_1 SELECT dept, record_id, score, decision FROM resolutions;
DROP TABLE resolutions;
ALTER TABLE resolutions_1 RENAME TO resolutions;
CREATE TABLE mentions_1 (
    dept TEXT NOT NULL, record_id TEXT NOT NULL, part TEXT NOT NULL, kind TEXT NOT NULL,
    payload TEXT NOT NULL, loose INTEGER NOT NULL, PRIMARY KEY (dept, record_id, part));
INSERT INTO mentions_1 SELECT * FROM mentions;
DROP TABLE mentions;
ALTER TABLE mentions_1 RENAME TO mentions;
CREATE TABLE mention_ends_1 (entity_id TEXT NOT NULL, dept TEXT NOT NULL, record_id TEXT NOT NULL);
INSERT INTO mention_ends_1 SELECT entity_id, dept, record_id FROM mention_ends;
DROP TABLE mention_ends;
ALTER TABLE mention_ends_1 RENAME TO mention_ends;
CREATE INDEX mention_ends_entity ON mention_ends (entity_id);
CREATE INDEX mention_ends_record ON mention_ends (dept, record_id);
UPDATE meta SET value = '1' WHERE key = 'schema_version';
"""


def _snapshot(state: Path, out: Path) -> Path:
    graphsync.export_run(state, out)
    (out / "report.json").unlink()  # names the state directory only
    return out


def test_a_version_1_state_is_migrated_with_nothing_lost(tmp_path: Path) -> None:
    """A state written by the schema-1 credgraph (records keyed by (dept, record_id)): opening
    it rebuilds every keyed table; the snapshot of the state is the same, judgements keep
    their kind, and the next batch links against it."""
    state = tmp_path / "st"
    role_ids = [f"T{i:06d}" for i in range(1, 6)]  # schema 1 could not hold shared IDs
    run_link_stateful(
        _batch(tmp_path / "b1", [f"P{i:06d}" for i in range(1, 4)], role_ids, "m-1"),
        tmp_path / "r1",
        state,
    )
    with State(state) as st, st.transaction():
        st.add_judgement(("AMR", "R000001"), ("AMR", "R000002"), "no_match", "t", "two firms")
    before = _snapshot(state, tmp_path / "before")
    with State(state) as st:
        counts = {
            t: st.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("records", "keys", "judgements", "resolutions", "mentions", "mention_ends")
        }
        st.db.executescript(V1_TABLES)
        assert "kind" not in {r[1] for r in st.db.execute("PRAGMA table_info(keys)")}
    with State(state) as st:
        assert st.meta("schema_version") == SCHEMA_VERSION == "2"
        assert st.meta("migrated_from_1")
        for table, n in counts.items():
            assert st.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n, table
        [j] = st.judgements()
        assert (j.a, j.b, j.decision) == (
            ("AMR", "enterprise", "R000001"),
            ("AMR", "enterprise", "R000002"),
            "no_match",
        )
    after = _snapshot(state, tmp_path / "after")
    names = sorted(p.name for p in before.iterdir())
    assert names == sorted(p.name for p in after.iterdir())
    _match, mismatch, errors = filecmp.cmpfiles(before, after, names, shallow=False)
    assert (mismatch, errors) == ([], [])
    # The migrated state takes the next batch: the same IDs again, now with a person file
    # sharing the enterprises' record IDs.
    res = run_link_stateful(_batch(tmp_path / "b2", IDS, role_ids, "m-2"), tmp_path / "r2", state)
    assert res.report["state"]["new"] == 5
    with State(state) as st:
        assert len(st.keys_named("AMR", "R000003")) == 2


def test_a_state_of_an_unknown_schema_is_refused(tmp_path: Path) -> None:
    from resolver.state.store import StateError

    state = tmp_path / "st"
    with State(state) as st, st.transaction():
        st.set_meta("schema_version", "9")
    with pytest.raises(StateError, match="schema version 9, this credgraph uses 2"):
        State(state)
