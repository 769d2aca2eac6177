"""Credit services on the fixture batch in a real graph server, against the planted truth."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from credgraph.cli import main
from credit import queries as q
from credit.catalog import default_catalog
from credit.check_index import CHECK_INDEXES
from credit.service import (
    CreditError,
    credit_check,
    credit_check_async,
    credit_grade,
    credit_grade_async,
    credit_profile,
    credit_profile_async,
    joint_supervision_list,
    joint_supervision_list_async,
    refresh_grades,
)
from fixtures.generate import Summary
from fixtures.population import AS_OF
from graph import marker
from graph.load import load_run
from graph.server import ServerInfo
from graph.store import FalkorStore, open_async_store, open_store
from resolver.linkage.link import run_link
from resolver.standardize.names import canonical_enterprise_name
from tests.conftest import SAMPLE
from tests.credit_truth_eval import Truth, score

NEW_RULE = dt.date(2026, 4, 1)
CAT = default_catalog()
DEPTS = sorted({m.dept for lt in CAT.lists.values() for m in lt.measures})


@pytest.fixture(scope="module")
def acceptance(
    generated: tuple[Path, Summary],
    graph_server: ServerInfo,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Truth, Path]]:
    """The session's generated batch, linked and loaded into its own graph."""
    out, _ = generated
    run = tmp_path_factory.mktemp("credit_run")
    run_link(out / "batch", run)
    uri = graph_server.uri.rsplit("/", 1)[0] + "/credit_acceptance"
    store = open_store(uri)
    try:
        load_run(store, run)
    finally:
        store.close()
    yield uri, Truth.read(run, out / "truth"), out / "truth"


@pytest.fixture()
def store(acceptance: tuple[str, Truth, Path]) -> Iterator[FalkorStore]:
    s = open_store(acceptance[0])
    assert isinstance(s, FalkorStore)
    yield s
    s.close()


def _days() -> list[dt.date]:
    quarters = [dt.date(y, m, 1) for y in range(2022, 2027) for m in (1, 4, 7, 10)]
    return sorted({*quarters, dt.date(2026, 3, 31), NEW_RULE, AS_OF})


def test_lists_equal_the_planted_truth_per_department(
    store: FalkorStore, acceptance: tuple[str, Truth, Path]
) -> None:
    truth = acceptance[1]
    total = persons = excluded = 0
    for day in _days():
        for dept in DEPTS:
            s = score(store, truth, dept, day)
            missing, extra = s.truth - s.found, s.found - s.truth
            assert (s.precision, s.recall) == (1.0, 1.0), (
                dept,
                day,
                sorted(missing)[:5],
                sorted(extra)[:5],
            )
            total += len(s.truth)
            persons += s.persons
            excluded += s.excluded
    assert total > 1000 and persons > 100  # legal representatives and listed persons included
    assert excluded <= total * 0.01  # events the linker could not attach are very few


def _basis_listed(store: FalkorStore, dept: str, day: dt.date, basis: str, measure: str) -> bool:
    return any(
        basis in e.basis_events and e.measure == measure
        for e in joint_supervision_list(store, dept, day)
    )


def test_expired_and_repaired_events_leave_the_list_on_their_day(
    store: FalkorStore, acceptance: tuple[str, Truth, Path]
) -> None:
    truth, truth_dir = acceptance[1], acceptance[2]
    with (truth_dir / "credit_repairs.csv").open(encoding="utf-8") as fh:
        repaired_on = {
            (r["entity_key"], r["decision_no"]): r["repaired_on"] for r in csv.DictReader(fh)
        }
    repaired_days = set(repaired_on.values())
    picked: dict[tuple[bool, bool], list[dict[str, str]]] = {}
    for r in truth.rows:
        until = dt.date.fromisoformat(r["until"])
        if until > AS_OF or r["basis"] in truth.skip or r["via"]:
            continue
        kind = (until >= NEW_RULE, r["until"] in repaired_days)
        if len(picked.setdefault(kind, [])) < 6:
            picked[kind].append(r)
    assert set(picked) == {(False, False), (False, True), (True, False), (True, True)}
    for rows in picked.values():
        for r in rows:
            until = dt.date.fromisoformat(r["until"])
            before = until - dt.timedelta(days=1)
            assert _basis_listed(store, r["dept"], before, r["basis"], r["measure"]), r
            assert not _basis_listed(store, r["dept"], until, r["basis"], r["measure"]), r


def test_profiles_explain_their_grades_and_keep_history(store: FalkorStore) -> None:
    uids = [r["uid"] for r in store.read(q.SUBJECTS_WITH_EVENTS)]
    assert len(uids) > 100
    grades = set()
    for uid in uids[:300]:
        p = credit_profile(store, uid, AS_OF)
        assert p.grade is not None and p.entity_type == "Enterprise"
        assert round(sum(line.points for line in p.grade.lines), 2) == p.grade.score
        if not p.grade.direct_d:
            assert p.grade.grade == CAT.scorecard.grade_of(p.grade.score)
        statuses = {e.status for e in p.events}
        assert statuses <= {"active", "expired", "repaired", "undated", "pending"}
        for e in p.events:
            assert e.rule, e
        grades.add(p.grade.grade)
    assert grades == {"A", "B", "C", "D"}


def test_profile_relations_are_the_graph_s(store: FalkorStore) -> None:
    row = store.read(
        "MATCH (p:Person)-[r:LEGAL_REP_OF]->(e:Enterprise) WHERE r.end IS NOT NULL "
        "RETURN e.uid AS e, p.uid AS p, r.start AS start, r.end AS end ORDER BY e LIMIT 1"
    )[0]
    prof = credit_profile(store, row["e"], AS_OF)
    reps = {(r.uid, str(r.start), str(r.end)) for r in prof.relations if r.kind == "legal_rep"}
    assert (row["p"], row["start"], row["end"]) in reps  # a former representative, with term
    n = store.read(
        "MATCH (x)-[r:HOLDS_SHARES|BRANCH_OF|LEGAL_REP_OF|SERVES_AS]-(e:Enterprise {uid: $uid}) "
        "RETURN count(r) AS n",
        {"uid": row["e"]},
    )[0]["n"]
    assert len(prof.relations) == n
    assert prof.registration["uscc"] and prof.registration["lifecycle"] == "active"


def test_grades_are_recomputed_when_events_change(
    acceptance: tuple[str, Truth, Path], graph_server: ServerInfo
) -> None:
    # Its own copy of the graph: this test adds an event.
    uri = graph_server.uri.rsplit("/", 1)[0] + "/credit_regrade"
    src = open_store(acceptance[0])
    store = open_store(uri)
    assert isinstance(src, FalkorStore) and isinstance(store, FalkorStore)
    try:
        src.command("GRAPH.COPY", src.uri.database, store.uri.database)
        graded, stored = refresh_grades(store, AS_OF)
        assert graded == stored > 100
        assert refresh_grades(store, AS_OF) == (graded, 0)  # nothing changed: no new history
        uid = store.read(q.SUBJECTS_WITH_EVENTS)[0]["uid"]
        before = credit_grade(store, uid, AS_OF).current
        store.run(
            "MATCH (e:Enterprise {uid: $uid}) CREATE (e)-[:SUBJECT_OF]->(:CreditEvent "
            "{uid: 'AMR|TEST1', event_type: '行政处罚', dept: 'AMR', record_id: 'TEST1', "
            "decision_no: '测试〔2026〕1号', date: '2026-10-20', severity: '严重'})",
            {"uid": uid},
        )
        assert refresh_grades(store, AS_OF) == (graded, 1)
        res = credit_grade(store, uid, AS_OF)
        assert res.current.score == round(before.score - 40, 2)
        assert [h["score"] for h in res.history] == [before.score, res.current.score]
        assert any("测试〔2026〕1号" in line for line in res.history[-1]["lines"])
    finally:
        store.run("MATCH (n) DETACH DELETE n")
        src.close()
        store.close()


def test_person_profile_is_restricted_and_shows_lists_through_roles(
    store: FalkorStore, acceptance: tuple[str, Truth, Path]
) -> None:
    truth = acceptance[1]
    uid_of = {}
    for uid, key in truth.key_of.items():
        uid_of.setdefault(key, uid)
    row = next(
        r
        for r in truth.rows
        if r["via"] and r["basis"] not in truth.skip and r["from"] <= AS_OF.isoformat() < r["until"]
    )
    p = credit_profile(store, uid_of[row["entity_key"]], AS_OF)
    assert p.entity_type == "Person" and p.restricted and p.grade is None
    assert set(p.registration) == {"id_masked", "lifecycle"}
    via = [m for m in p.lists if m.basis_event == row["basis"]]
    assert via and via[0].via is not None and via[0].via.startswith(row["via"].split(" of ")[0])
    assert any(m == row["measure"] for m in (x for _d, x in via[0].measures))
    assert not any(e.category == "record" for e in p.events)  # restricted events hidden


def test_async_variants_give_the_same_answers(
    store: FalkorStore, acceptance: tuple[str, Truth, Path]
) -> None:
    uid = store.read(q.SUBJECTS_WITH_EVENTS)[0]["uid"]
    name = credit_profile(store, uid, AS_OF).name
    assert name

    async def go() -> tuple[object, ...]:
        a = open_async_store(acceptance[0])
        try:
            return (
                (await credit_profile_async(a, uid, AS_OF)).as_dict(),
                (await credit_grade_async(a, uid, AS_OF)).as_dict(),
                [e.as_dict() for e in await joint_supervision_list_async(a, "FIN", AS_OF)],
                [c.as_dict() for c in await credit_check_async(a, [name, uid], AS_OF)],
            )
        finally:
            await a.close()

    got = asyncio.run(go())
    assert got == (
        credit_profile(store, uid, AS_OF).as_dict(),
        credit_grade(store, uid, AS_OF).as_dict(),
        [e.as_dict() for e in joint_supervision_list(store, "FIN", AS_OF)],
        [c.as_dict() for c in credit_check(store, [name, uid], AS_OF)],
    )


def test_unknown_keys_and_departments_are_clear_errors(store: FalkorStore) -> None:
    with pytest.raises(CreditError, match="no enterprise or person"):
        credit_profile(store, "不存在的公司", AS_OF)
    with pytest.raises(CreditError, match=r"^XYZ: unknown department code \(known: AMR"):
        joint_supervision_list(store, "XYZ", AS_OF)


def test_cli_lists_csv_equals_the_service(
    store: FalkorStore, acceptance: tuple[str, Truth, Path]
) -> None:
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "credit",
            "lists",
            "--dept",
            "FIN",
            "--date",
            "2026-11-01",
            "--format",
            "csv",
        ],
        env={"CREDGRAPH_GRAPH_URI": acceptance[0]},
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    expected = joint_supervision_list(store, "FIN", AS_OF)
    assert len(rows) == len(expected) > 0
    assert [(r["entity_id"], r["measure"]) for r in rows] == [
        (e.entity_id, e.measure) for e in expected
    ]
    table = runner.invoke(
        main,
        [
            "credit",
            "lists",
            "--dept",
            "FIN",
            "--date",
            "2026-11-01",
        ],
        env={"CREDGRAPH_GRAPH_URI": acceptance[0]},
    )
    assert table.exit_code == 0 and f"FIN: {len(expected)} measures to apply" in table.output
    assert "{" not in table.output  # a table, not Python dicts
    bad = runner.invoke(
        main,
        [
            "credit",
            "profile",
            "不存在的公司",
        ],
        env={"CREDGRAPH_GRAPH_URI": acceptance[0]},
    )
    assert bad.exit_code == 1 and "no enterprise or person" in bad.output
    assert "Traceback" not in bad.output


# -- the procurement check on a small hand-made graph -------------------------------------------
CHECK_GRAPH = [
    ("E1", "91440300MA5D8K1C0B", "深圳市甲乙科技有限公司", None),
    ("E2", "91440605192203821X", "佛山市南海区永盛五金制品有限公司", "佛山市永盛五金厂"),
    ("E3", None, "广州市同名贸易有限公司", None),
    ("E4", None, "广州市同名贸易有限公司", None),
]


def _check_store(uri: str) -> FalkorStore:
    from resolver.standardize.identifiers import check_uscc

    s = open_store(uri)
    assert isinstance(s, FalkorStore)
    for uid, uscc, name, former in CHECK_GRAPH:
        assert uscc is None or check_uscc(uscc).valid, uscc
        s.run(
            "CREATE (:Enterprise {uid: $uid, uscc: $uscc, name: $name, former_name: $former})",
            {"uid": uid, "uscc": uscc, "name": name, "former": former},
        )
    s.run(
        "MATCH (e:Enterprise {uid: 'E1'}) CREATE (e)-[:SUBJECT_OF]->(:CreditEvent {uid: 'COURT|1', "
        "event_type: '失信被执行人', dept: 'COURT', record_id: '1', decision_no: '深执〔2026〕1号', "
        "date: '2026-05-01', severity: '严重'})"
    )
    s.run(
        "MATCH (e:Enterprise {uid: 'E2'}) CREATE (e)-[:SUBJECT_OF]->(:CreditEvent {uid: 'TAX|9', "
        "event_type: '纳税信用A级', dept: 'TAX', record_id: '9', decision_no: 'A2026', "
        "date: '2026-04-15', severity: '轻微'})"
    )
    return s


def test_check_resolves_like_the_linker_and_reports_hits(graph_uri: str, tmp_path: Path) -> None:
    s = _check_store(graph_uri)
    s.close()
    inputs = tmp_path / "suppliers.txt"
    inputs.write_text(
        "\n".join(
            [
                "９１４４０３００ＭＡ５Ｄ８Ｋ１Ｃ０Ｂ",  # full-width USCC: exact
                "深圳市甲乙科技有限责任公司",  # 有限责任公司 ≡ 有限公司: exact
                "",  # blank lines are not inputs
                "佛山市永盛五金厂",  # a former name: probable
                "甲乙科技有限公司",  # no place prefix: probable
                "广州市同名贸易有限公司",  # two enterprises: ambiguous
                "91440300MA5D8K1C00",  # bad check character: none
                "无此公司",
            ]
        )
        + "\n",
        "utf-8",
    )
    res = CliRunner().invoke(
        main,
        [
            "credit",
            "check",
            str(inputs),
            "--as-of",
            "2026-11-01",
            "--format",
            "csv",
        ],
        env={"CREDGRAPH_GRAPH_URI": graph_uri},
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    got = [(r["input"][:10], r["entity_id"], r["match"], r["hit"], r["list_types"]) for r in rows]
    assert got == [
        ("９１４４０３００ＭＡ", "E1", "exact", "yes", "失信被执行人"),
        ("深圳市甲乙科技有限责", "E1", "exact", "yes", "失信被执行人"),
        ("佛山市永盛五金厂", "E2", "probable", "no", "纳税信用A级"),
        ("甲乙科技有限公司", "E1", "probable", "yes", "失信被执行人"),
        ("广州市同名贸易有限公", "", "ambiguous", "no", ""),
        ("91440300MA", "", "none", "no", ""),
        ("无此公司", "", "none", "no", ""),
    ]
    assert "FIN:禁止参加政府采购" in rows[0]["measures"]
    assert rows[4]["candidates"] == "E3; E4"
    assert "not a valid USCC" in rows[5]["note"]
    as_json = CliRunner().invoke(
        main,
        [
            "credit",
            "check",
            str(inputs),
            "--as-of",
            "2026-11-01",
            "--format",
            "json",
        ],
        env={"CREDGRAPH_GRAPH_URI": graph_uri},
    )
    assert [r["match"] for r in json.loads(as_json.output)] == [r["match"] for r in rows]
    # before the listing date there is no hit
    early = CliRunner().invoke(
        main,
        [
            "credit",
            "check",
            str(inputs),
            "--as-of",
            "2026-04-30",
            "--format",
            "csv",
        ],
        env={"CREDGRAPH_GRAPH_URI": graph_uri},
    )
    assert next(r["hit"] for r in csv.DictReader(io.StringIO(early.output))) == "no"


def test_check_index_is_built_once_per_graph_version_and_after_a_load(
    acceptance: tuple[str, Truth, Path], graph_server: ServerInfo, tmp_path: Path
) -> None:
    # Its own copy of the graph: this test loads another run into it.
    uri = graph_server.uri.rsplit("/", 1)[0] + "/credit_check_cache"
    src = open_store(acceptance[0])
    store = open_store(uri)
    assert isinstance(src, FalkorStore) and isinstance(store, FalkorStore)
    try:
        src.command("GRAPH.COPY", src.uri.database, store.uri.database)
        version = marker.read_version(store)
        assert version is not None  # load_run marked the graph
        known = {
            canonical_enterprise_name(r["n"])[0]
            for r in store.read("MATCH (e:Enterprise) RETURN e.name AS n")
            if r["n"]
        }
        run = tmp_path / "run"
        run_link(SAMPLE / "batch", run)
        text = (run / "golden.jsonl").read_text("utf-8")
        golden = [json.loads(line) for line in text.splitlines() if line.strip()]
        names: dict[str, list[str]] = {}
        for g in golden:
            name = g["attributes"].get("name")
            if g["type"] == "Enterprise" and isinstance(name, str):
                names.setdefault(canonical_enterprise_name(name)[0], []).append(name)
        new = next(v[0] for k, v in sorted(names.items()) if len(v) == 1 and k not in known)
        builds = CHECK_INDEXES.builds
        assert credit_check(store, [new], AS_OF)[0].match == "none"
        assert credit_check(store, [new, "无此公司"], AS_OF)[0].match == "none"
        assert CHECK_INDEXES.builds == builds + 1  # one index for two checks
        load_run(store, run)
        assert marker.read_version(store) not in (None, version)
        found = credit_check(store, [new], AS_OF)[0]
        assert (found.match, found.name) == ("exact", new)
        assert CHECK_INDEXES.builds == builds + 2  # rebuilt after the load
        again = marker.read_version(store)
        load_run(store, run)  # the same run again changes nothing, not even the version
        assert marker.read_version(store) == again
        assert credit_check(store, [new], AS_OF)[0].match == "exact"
        assert CHECK_INDEXES.builds == builds + 2
    finally:
        store.run("MATCH (n) DETACH DELETE n")
        src.close()
        store.close()


def test_check_matches_the_former_names_a_loaded_run_writes(graph_uri: str, tmp_path: Path) -> None:
    """A loaded run gives an enterprise its former names as a list (``former_names``): the
    check finds the enterprise by each of them, and not by a name it never had."""
    s = open_store(graph_uri)
    s.run(
        "CREATE (:Enterprise {uid: 'E9', name: '杭州市新禾电子有限公司', "
        "former_names: ['杭州市旧禾电子厂', '杭州市禾苗电器有限公司']})"
    )
    s.close()
    inputs = tmp_path / "names.txt"
    inputs.write_text("杭州市旧禾电子厂\n杭州市禾苗电器有限公司\n杭州市别家电器有限公司\n", "utf-8")
    res = CliRunner().invoke(
        main,
        ["credit", "check", str(inputs), "--as-of", "2026-11-01", "--format", "csv"],
        env={"CREDGRAPH_GRAPH_URI": graph_uri},
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert [(r["entity_id"], r["match"]) for r in rows] == [
        ("E9", "probable"),
        ("E9", "probable"),
        ("", "none"),
    ]
