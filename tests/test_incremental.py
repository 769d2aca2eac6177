"""Stable golden IDs, incremental batches, crash safety and human judgements (state in SQLite)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fixtures.split import split_batch
from resolver.linkage.evaluate import cluster_scores
from resolver.linkage.link import run_link
from resolver.standardize import identifiers as ids
from resolver.state.incremental import run_link_stateful
from resolver.state.store import State, export_links
from tests.batch_plus import batch_plus
from tests.conftest import SAMPLE


def _links(state_dir: Path) -> dict[str, dict[tuple[str, str], str]]:
    out: dict[str, dict[tuple[str, str], str]] = {}
    with State(state_dir) as st:
        for dept, rid, kind, eid in export_links(st):
            if kind in ("enterprise", "person"):
                out.setdefault(kind, {})[(dept, rid)] = eid
    return out


def _dump(state_dir: Path) -> list[tuple[object, ...]]:
    """Everything in the state except wall-clock times (sealed ID fields opened: their
    ciphertexts differ on every write)."""
    with State(state_dir) as st:
        sealer = st.sealer
    db = sqlite3.connect(state_dir / "state.db")
    db.create_function("unseal", 1, lambda text: json.dumps(sealer.unseal(text)))
    rows: list[tuple[object, ...]] = []
    for table, cols in (
        ("records", "dept, record_id, kind, hash, unseal(raw), unseal(std), entity_id, withdrawn"),
        ("keys", "key, dept, record_id"),
        ("entities", "id, kind, status, redirect_to, golden"),
        ("history", "entity_id, event, batch_id, detail"),
        ("meta", "key, value"),
        ("batches", "batch_id, status, summary"),
        ("models", "kind, params"),
    ):
        rows += [(table, *r) for r in db.execute(f"SELECT {cols} FROM {table} ORDER BY {cols}")]
    db.close()
    return rows


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return split_batch(SAMPLE / "batch", tmp_path_factory.mktemp("parts"), 5)


@pytest.fixture(scope="module")
def five_batches(
    parts: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[set[str]]]:
    root = tmp_path_factory.mktemp("inc")
    state = root / "state"
    ids_after: list[set[str]] = []
    for k, part in enumerate(parts):
        run_link_stateful(part, root / f"run{k}", state)
        links = _links(state)
        ids_after.append({e for kind in links.values() for e in kind.values()})
    return state, ids_after


def test_sequential_batches_give_the_one_shot_clusters(
    five_batches: tuple[Path, list[set[str]]], tmp_path: Path
) -> None:
    state, _ = five_batches
    inc = _links(state)
    run_link(SAMPLE / "batch", tmp_path / "oneshot")
    one: dict[str, dict[tuple[str, str], str]] = {}
    with (tmp_path / "oneshot" / "links.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] in ("enterprise", "person"):
                one.setdefault(row["kind"], {})[(row["dept"], row["record_id"])] = row["entity_id"]
    truth: dict[str, dict[tuple[str, str], str]] = {}
    with (SAMPLE / "truth" / "entities.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            truth.setdefault(row["kind"], {})[(row["dept"], row["record_id"])] = row["entity_key"]
    for kind in ("enterprise", "person"):
        assert inc[kind].keys() == one[kind].keys()
        vs_one = cluster_scores(inc[kind], one[kind])["pairwise"]
        # Every pair the one-shot run makes, the incremental run makes too; the few extra
        # pairs come from blocks the one-shot run skipped as oversized.
        assert vs_one["recall"] == 1.0, kind
        assert vs_one["f1"] >= 0.999, (kind, vs_one)
        assert (
            cluster_scores(inc[kind], truth[kind])["pairwise"]["f1"]
            >= cluster_scores(one[kind], truth[kind])["pairwise"]["f1"] - 0.002
        )


def test_every_id_ever_issued_still_resolves(five_batches: tuple[Path, list[set[str]]]) -> None:
    state, ids_after = five_batches
    with State(state) as st:
        for batch_ids in ids_after:
            for eid in batch_ids:
                current, _path = st.resolve(eid)
                assert st.entity_status(current) in ("active", "retired")
        created = st.db.execute("SELECT COUNT(*) FROM history WHERE event = 'create'").fetchone()[0]
        total = st.db.execute("SELECT COUNT(*) FROM entities").fetchone()[0]
        assert created == total  # every ID was created once, never reused


def test_rerunning_a_completed_batch_changes_nothing(parts: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "state"
    run_link_stateful(parts[0], tmp_path / "r1", state)
    before = _dump(state)
    res = run_link_stateful(parts[0], tmp_path / "r2", state)
    assert res.report["already_applied"] is True
    assert _dump(state) == before


@pytest.mark.parametrize("point", ["ingested", "linked", "in_transaction", "before_commit"])
def test_killed_run_leaves_the_state_as_it_was_and_reruns_identically(
    point: str, parts: list[Path], tmp_path: Path
) -> None:
    base = tmp_path / "base"
    run_link_stateful(parts[0], tmp_path / "r0", base)
    reference = tmp_path / "reference"
    shutil.copytree(base, reference)
    run_link_stateful(parts[1], tmp_path / "r1", reference)
    crashed = tmp_path / "crashed"
    shutil.copytree(base, crashed)
    before = _dump(crashed)
    cmd = [
        sys.executable,
        "-m",
        "credgraph.cli",
        "link",
        str(parts[1]),
        "--out",
        str(tmp_path / "r2"),
        "--state",
        str(crashed),
    ]
    env = {**os.environ, "CREDGRAPH_FAULT_AT": point}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == -9, proc.stderr
    assert _dump(crashed) == before  # nothing half-applied
    env.pop("CREDGRAPH_FAULT_AT")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert _dump(crashed) == _dump(reference)


# --- judgements and merges on hand-made records ----------------------------------------------

USCC = ids.make_uscc("9", "1", "440605", "7B3C5D2E")


def _with_extra(
    batch: Path, dest: Path, rows: list[tuple[str, str, str, str, str]], batch_id: str
) -> Path:
    return batch_plus(batch, dest, rows, batch_id=batch_id)


def test_merge_keeps_the_oldest_id_and_redirects_the_other(
    parts: list[Path], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = [
        (
            "T1",
            USCC,
            "佛山市南海区测合并五金有限公司",
            "广东省佛山市南海区桂城街道南海大道北8号",
            "0757-81112222",
        ),
        ("T2", "", "测合并五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444"),
    ]
    b1 = _with_extra(parts[0], tmp_path / "b1", first, "merge-1")
    run_link_stateful(b1, tmp_path / "r1", state)
    links = _links(state)["enterprise"]
    id1, id2 = links[("TEST", "T1")], links[("TEST", "T2")]
    assert id1 != id2
    # A new record carries T1's USCC and T2's address and phone: the two entities are one.
    second = [
        *first,
        ("T3", USCC, "测合并五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444"),
    ]
    b2 = _with_extra(parts[0], tmp_path / "b2", second, "merge-2")
    run_link_stateful(b2, tmp_path / "r2", state)
    links = _links(state)["enterprise"]
    survivor = min(id1, id2)
    assert links[("TEST", "T1")] == links[("TEST", "T2")] == links[("TEST", "T3")] == survivor
    with State(state) as st:
        absorbed = max(id1, id2)
        assert st.resolve(absorbed) == (survivor, [absorbed, survivor])
        events = [e["event"] for e in st.history(survivor)]
        assert "merge" in events and "merged_into" in events


def test_judgements_win_over_the_model(parts: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "state"
    run_link_stateful(parts[0], tmp_path / "r1", state)
    with (tmp_path / "r1" / "links.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] == "enterprise"]
    by_entity: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_entity.setdefault(r["entity_id"], []).append(r)
    # Two records the model linked (no shared valid identifier) …
    linked_pair = next(
        (m[0], p) for m in by_entity.values() for p in m[1:] if p["decision"] == "probabilistic"
    )
    # … and two records of different entities.
    ents = [m for m in by_entity.values() if len(m) >= 1]
    apart = (ents[0][0], ents[1][0])
    from click.testing import CliRunner

    from credgraph.cli import main

    runner = CliRunner()
    for (a, b), flag in ((linked_pair, "--no-match"), (apart, "--match")):
        res = runner.invoke(
            main,
            [
                "review",
                "decide",
                f"{a['dept']}:{a['record_id']}",
                f"{b['dept']}:{b['record_id']}",
                flag,
                "--by",
                "steward-1",
                "--reason",
                "checked the licence",
                "--state",
                str(state),
            ],
        )
        assert res.exit_code == 0, res.output
    # The judgements hold in the next run and every run after, even when the batch repeats.
    for k, part in enumerate(parts[:3]):
        m = yaml.safe_load((part / "manifest.yaml").read_text("utf-8"))
        again = tmp_path / f"again{k}"
        shutil.copytree(part, again)
        m["batch_id"] = f"judged-{k}"
        (again / "manifest.yaml").write_text(yaml.safe_dump(m, allow_unicode=True), "utf-8")
        run_link_stateful(again, tmp_path / f"r{k + 2}", state)
        links = _links(state)["enterprise"]
        a, b = linked_pair
        assert links[(a["dept"], a["record_id"])] != links[(b["dept"], b["record_id"])]
        a, b = apart
        assert links[(a["dept"], a["record_id"])] == links[(b["dept"], b["record_id"])]
    res = runner.invoke(
        main, ["review", "export", "--state", str(state), "--out", str(tmp_path / "j.csv")]
    )
    assert res.exit_code == 0 and "2 judgements" in res.output
    other = tmp_path / "other-state"
    run_link_stateful(parts[0], tmp_path / "o1", other)
    res = runner.invoke(main, ["review", "import", str(tmp_path / "j.csv"), "--state", str(other)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "2 judgements imported"
    with State(other) as st:
        assert len(st.judgements()) == 2
    # The same file into the state that applied them: nothing to import, and they stay
    # applied (stored again, they would wait for the next batch as if new).
    with State(state) as st:
        assert st.judgements(pending=True) == [] and len(st.judgements()) == 2
    res = runner.invoke(main, ["review", "import", str(tmp_path / "j.csv"), "--state", str(state)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == (
        "0 judgements imported, 2 already stored as they are (left as they were)"
    )
    with State(state) as st:
        assert st.judgements(pending=True) == [] and len(st.judgements()) == 2


def test_withdrawn_records_retire_their_entity(parts: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "state"
    b1 = _with_extra(
        parts[0],
        tmp_path / "b1",
        [
            (
                "W1",
                "",
                "佛山市南海区测撤回贸易有限公司",
                "广东省佛山市南海区桂城街道1号",
                "0757-89990000",
            )
        ],
        "w-1",
    )
    run_link_stateful(b1, tmp_path / "r1", state)
    gone = _links(state)["enterprise"][("TEST", "W1")]
    b2 = _with_extra(parts[0], tmp_path / "b2", [], "w-2")
    m = yaml.safe_load((b2 / "manifest.yaml").read_text("utf-8"))
    m["withdrawn"] = [{"dept": "TEST", "record_id": "W1"}]
    (b2 / "manifest.yaml").write_text(yaml.safe_dump(m, allow_unicode=True), "utf-8")
    run_link_stateful(b2, tmp_path / "r2", state)
    assert ("TEST", "W1") not in _links(state)["enterprise"]
    with State(state) as st:
        assert st.entity_status(gone) == "retired"
        assert [e["event"] for e in st.history(gone)][-1] == "retire"


def test_same_model_gives_exactly_the_one_shot_clusters(
    five_batches: tuple[Path, list[set[str]]],
) -> None:
    """With the match model the state holds, linking the whole batch at once gives exactly the
    clusters the five incremental batches built (the only difference between an incremental
    and a one-shot run is the model each trains)."""
    from resolver.ingest.manifest import load_manifest
    from resolver.linkage.fellegi_sunter import FSModel
    from resolver.linkage.link import LinkConfig, _ingest, link_kind

    state, _ = five_batches
    inc = _links(state)
    records, _rejects, _files = _ingest(load_manifest(SAMPLE / "batch"), None, workers=1)
    with State(state) as st:
        models = {k: FSModel.from_json(st.model(k) or {}) for k in ("enterprise", "person")}
    for kind in ("enterprise", "person"):
        recs = sorted(
            (r for r in records.values() if r.kind == kind), key=lambda r: (r.dept, r.record_id)
        )
        res = link_kind(kind, recs, LinkConfig(), model=models[kind])
        one = {(r.dept, r.record_id): str(res.cluster_of[i]) for i, r in enumerate(recs)}
        assert cluster_scores(inc[kind], one)["pairwise"]["f1"] == 1.0, kind


def _mention_rows(state_dir: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(state_dir / "state.db")
    rows = [
        ("mentions", *r)
        for r in db.execute(
            "SELECT dept, kind, record_id, part, payload, loose FROM mentions "
            "ORDER BY dept, kind, record_id, part"
        )
    ] + [
        ("ends", *r)
        for r in db.execute(
            "SELECT entity_id, dept, kind, record_id FROM mention_ends "
            "ORDER BY entity_id, dept, kind, record_id"
        )
    ]
    db.close()
    return rows


def test_loose_mentions_rechecked_by_token_equal_a_full_recheck(
    parts: list[Path], five_batches: tuple[Path, list[set[str]]], tmp_path: Path
) -> None:
    """Rows resolved by name (or not at all) are resolved again only where they share a
    name or identifier token with a record whose entity may have changed, rows pointing at an
    entity that kept its ID and records only where a touched record shares an identifier
    with it; after five batches the mention rows equal those of the full recheck (every
    loose row, every row of a re-linked entity) in every batch."""
    narrowed, _ = five_batches
    full = tmp_path / "full"
    for k, part in enumerate(parts):
        if (full / "state.db").exists():  # forget the tokens: every loose row is rechecked
            db = sqlite3.connect(full / "state.db")
            with db:
                db.execute("DELETE FROM meta WHERE key = 'loose_tokens'")
            db.close()
        run_link_stateful(part, tmp_path / f"run{k}", full)
    db = sqlite3.connect(narrowed / "state.db")
    loose = db.execute("SELECT count(*) FROM mentions WHERE loose = 1").fetchone()[0]
    tokens = db.execute("SELECT count(DISTINCT token) FROM loose_tokens").fetchone()[0]
    db.close()
    assert loose > 0 and tokens > 0
    assert _mention_rows(narrowed) == _mention_rows(full)
