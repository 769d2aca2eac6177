"""Tax coordination: the rule catalog, planted truth, findings in the graph, the workflow."""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from credgraph.cli import main
from fixtures import tax_truth
from fixtures.generate import Summary
from graph.load import load_run
from graph.store import open_store
from resolver.linkage.link import run_link
from tax import queries, service
from tax.catalog import CATALOG_DIR, CatalogError, load_catalog
from tax.periods import parse_period
from tests.conftest import SAMPLE
from tests.taxeval import read_truth, score, truth_quarters


def quarters_of(truth: Path) -> list[object]:
    return [q for p in truth_quarters(truth) for q in parse_period(p)]


def has_registration_status(store: object) -> bool:
    rows = store.read(  # type: ignore[attr-defined]
        "MATCH (e:Enterprise) WHERE e.registration_status IS NOT NULL RETURN count(e) AS n"
    )
    return bool(rows[0]["n"])


# -- catalog -----------------------------------------------------------------------------------
def test_catalog_has_twelve_rules_or_more() -> None:
    cat = load_catalog()
    assert len(cat.rules) >= 12
    assert {"T01", "T07", "T09", "T10", "T11"} <= set(cat.rules)
    assert cat.lookup("sales_per_kwh", "制造业") == 12.0
    assert cat.industry_from_name("达海机械设备（南京）有限公司") == "C"


def test_generator_benchmarks_follow_the_catalog() -> None:
    cat = load_catalog()
    for letter, (kwh, m3) in tax_truth.SECTOR_BENCHMARKS.items():
        assert cat.tables["sales_per_kwh"][letter] == kwh
        assert cat.tables["sales_per_m3"][letter] == m3


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(scope="monthly"), "T07.yaml:4: scope: 'monthly' is not one of"),
        (lambda d: d["values"].update(kwh="avg(power.quantity)"), "values.kwh: 'avg(power"),
        (lambda d: d.update(condition="sales < kwhh"), "condition: unknown name 'kwhh'"),
        (lambda d: d["inputs"]["power"].update(node="Meter"), "inputs.power.node: 'Meter'"),
        (lambda d: d.pop("gap"), "missing required key 'gap'"),
        (lambda d: d.update(gap="kwh.__class__"), "gap: not a valid expression: Attribute is not"),
        (lambda d: d.update(gap="open(kwh)"), "gap: not a valid expression: only max, min, abs"),
    ],
)
def test_catalog_errors_name_file_line_and_key(tmp_path: Path, edit: object, message: str) -> None:
    shutil.copytree(CATALOG_DIR, tmp_path / "catalog")
    path = tmp_path / "catalog" / "rules" / "T07.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    edit(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path / "catalog")
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


# -- planted truth, on a generated batch and on the committed sample ----------------------------
@pytest.fixture(scope="module")
def generated_run(
    generated: tuple[Path, Summary], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out, _ = generated
    run = tmp_path_factory.mktemp("taxrun") / "run"
    run_link(out / "batch", run)
    return run


def check_against_truth(graph_uri: str, run: Path, truth: Path, exact: bool) -> None:
    store = open_store(graph_uri)
    load_run(store, run)
    report = service.run(store, quarters_of(truth))  # type: ignore[arg-type]
    found = service.list_findings(store)
    assert sum(report.by_rule.values()) == len(found) == report.saved.created
    scores = score(found, truth, run)
    planted_rules = {r["rule"] for r in read_truth(truth / "tax_anomalies.csv")}
    assert len(planted_rules) >= (5 if exact else 12)  # the small sample plants fewer
    if not exact:  # a mid-sized batch plants anomalies and near-misses for T13 too
        near_rules = {r["rule"] for r in read_truth(truth / "tax_near_misses.csv")}
        assert "T13" in planted_rules and "T13" in near_rules
    t10_checkable = has_registration_status(store)
    near = read_truth(truth / "tax_near_misses.csv")
    for rule, s in scores.items():
        # Near-misses must not fire: none on the sample; on a generated batch linkage noise
        # (a return resolved to no entity) may expose at most 5 % of a rule's near-misses.
        n_near = sum(1 for r in near if r["rule"] == rule)
        allowed = 0 if exact else int(0.05 * n_near) + 1
        assert len(s.near_misses_flagged) <= allowed, f"{rule} flagged {s.near_misses_flagged}"
        if rule == "T10" and not t10_checkable:
            # The graph carries no standardised registration status yet: T10 cannot tell a
            # going concern from a cancelled one, so it must stay silent rather than guess.
            assert s.found == 0
            continue
        if exact:
            missed, extra = s.unexplained()
            assert missed == [] and extra == [], f"{rule}: missed {missed} extra {extra}"
            assert len(s.by_linkage) <= 1, f"{rule}: linkage explains {s.by_linkage}"
        else:
            assert s.recall >= 0.95, f"{rule} recall {s.recall:.2f}: missed {s.missed}"
            assert s.precision >= 0.95, f"{rule} precision {s.precision:.2f}: extra {s.extra}"
    # Evidence: every planted record is in the finding, and each evidence entry is linked.
    by_id = {(f.rule, f.entity_id, f.period): f for f in found}
    from tests.taxeval import golden_of_keys

    golden = golden_of_keys(truth, run)
    # A planted record that linkage attached to no entity or another one cannot be cited by
    # the finding (the rule never saw it); every other one must be.
    linked_to: dict[str, set[str]] = {}
    with (run / "links.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            linked_to.setdefault(row["record_id"], set()).add(row["entity_id"])
    for r in read_truth(truth / "tax_anomalies.csv"):
        f = by_id.get((r["rule"], golden.get(r["entity_key"], ""), r["period"]))
        if f is None:
            continue
        ev = json.loads(r["evidence"])
        ids = {e["record_id"] for e in f.evidence}
        seen = {x for x in ev.get("facts", []) if f.entity_id in linked_to.get(x, set())}
        assert seen <= ids, (f.finding_id, ev, ids)
        assert len(seen) >= len(ev.get("facts", [])) - 1, (f.finding_id, ev, linked_to)
        if r["rule"] not in ("T07", "T08", "T09", "T11", "T10"):
            assert set(ev.get("declarations", [])) <= ids, (f.finding_id, ev, ids)
        for e in f.evidence:
            assert e["dept"] and e["record_id"] and "values" in e
    f = found[0]
    linked = store.read(queries.EVIDENCE_OF, {"uid": f.finding_id})
    assert sorted(x["uid"] for x in linked) == sorted(e["uid"] for e in f.evidence)
    store.close()


def test_generated_batch_meets_recall_and_precision(
    graph_uri: str, generated: tuple[Path, Summary], generated_run: Path
) -> None:
    check_against_truth(graph_uri, generated_run, generated[0] / "truth", exact=False)


def test_sample_batch_exactly_as_planted(graph_uri: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_link(SAMPLE / "batch", run)
    check_against_truth(graph_uri, run, SAMPLE / "truth", exact=True)


# -- idempotence, re-review and the workflow ----------------------------------------------------
@pytest.fixture()
def loaded(graph_uri: str, generated_run: Path) -> object:
    store = open_store(graph_uri)
    load_run(store, generated_run)
    yield store
    store.close()


def test_rerun_keeps_status_and_history(loaded: object, generated: tuple[Path, Summary]) -> None:
    store = loaded
    qs = quarters_of(generated[0] / "truth")
    first = service.run(store, qs)  # type: ignore[arg-type]
    fid = service.list_findings(store, rule="T07")[0].finding_id  # type: ignore[arg-type]
    service.set_status(store, fid, "assigned", by="chief", officer="wang")  # type: ignore[arg-type]
    service.set_status(store, fid, "under_review", by="wang")  # type: ignore[arg-type]
    second = service.run(store, qs)  # type: ignore[arg-type]
    assert second.saved.created == 0
    assert second.saved.unchanged == first.saved.created
    all_findings = service.list_findings(store)  # type: ignore[arg-type]
    assert len(all_findings) == first.saved.created
    assert len({f.finding_id for f in all_findings}) == len(all_findings)
    f = service.get_finding(store, fid)  # type: ignore[arg-type]
    assert f is not None and f.status == "under_review" and f.assigned_to == "wang"
    assert [(h.get("event") or h["to"], h["by"]) for h in f.history] == [
        ("created", "rule-run"),
        ("assigned", "chief"),
        ("under_review", "wang"),
    ]
    assert all(h["at"] for h in f.history)
    found = service.set_status(store, fid, "confirmed", by="wang", amount=12345.6)  # type: ignore[arg-type]
    assert found.recovered_amount == 12345.6
    rows = service.summary(store)  # type: ignore[arg-type]
    t07 = next(r for r in rows if r.dimension == "rule" and r.key == "T07")
    assert t07.recovered == 12345.6 and t07.by_status["confirmed"] == 1
    assert {r.dimension for r in rows} == {"rule", "dept", "region", "period"}
    dept_total = sum(r.findings for r in rows if r.dimension == "period")
    assert dept_total == len(all_findings)


def test_changed_evidence_flags_re_review(loaded: object, generated: tuple[Path, Summary]) -> None:
    store = loaded
    qs = quarters_of(generated[0] / "truth")
    service.run(store, qs, ["T03"])  # type: ignore[arg-type]
    f = service.list_findings(store, rule="T03")[0]  # type: ignore[arg-type]
    service.set_status(store, f.finding_id, "assigned", by="chief")  # type: ignore[arg-type]
    fact = next(e for e in f.evidence if e["label"] == "Fact")
    # A later batch delivers the registration with a higher value.
    store.run(  # type: ignore[attr-defined]
        "MATCH (x:Fact {uid: $uid}) SET x.amount = x.amount * 2", {"uid": fact["uid"]}
    )
    report = service.run(store, qs, ["T03"])  # type: ignore[arg-type]
    assert report.saved.flagged == 1
    g = service.get_finding(store, f.finding_id)  # type: ignore[arg-type]
    assert g is not None
    assert g.review_flag == "evidence_changed" and g.status == "assigned"
    assert g.estimated_gap == f.estimated_gap  # never changed silently
    assert g.pending_gap is not None and g.pending_gap > f.estimated_gap
    assert service.run(store, qs, ["T03"]).saved.flagged == 0  # flagged once, not every run  # type: ignore[arg-type]
    with pytest.raises(service.WorkflowError, match="flagged for re-review"):
        service.set_status(store, f.finding_id, "confirmed", by="wang", amount=1.0)  # type: ignore[arg-type]
    h = service.set_status(store, f.finding_id, "under_review", by="wang")  # type: ignore[arg-type]
    assert h.review_flag is None and h.estimated_gap == g.pending_gap
    assert h.history[-2]["event"] == "evidence_changed"
    assert h.history[-1]["adopted"] == "evidence_changed"
    assert h.history[-1]["previous_gap"] == f.estimated_gap


def test_nonsensical_transitions_are_refused(
    loaded: object, generated: tuple[Path, Summary]
) -> None:
    store = loaded
    service.run(store, quarters_of(generated[0] / "truth"), ["T05"])  # type: ignore[arg-type]
    fid = service.list_findings(store, rule="T05")[0].finding_id  # type: ignore[arg-type]
    cases = [
        ("confirmed", {"amount": 1.0}, "is open: cannot move to confirmed"),
        ("closed", {}, "unknown status 'closed'"),
    ]
    for status, kw, msg in cases:
        with pytest.raises(service.WorkflowError, match=msg):
            service.set_status(store, fid, status, by="wang", **kw)  # type: ignore[arg-type]
    service.set_status(store, fid, "assigned", by="chief", officer="wang")  # type: ignore[arg-type]
    service.set_status(store, fid, "under_review", by="wang")  # type: ignore[arg-type]
    with pytest.raises(service.WorkflowError, match="needs the recovered amount"):
        service.set_status(store, fid, "confirmed", by="wang")  # type: ignore[arg-type]
    with pytest.raises(service.WorkflowError, match="needs a reason"):
        service.set_status(store, fid, "dismissed", by="wang")  # type: ignore[arg-type]
    with pytest.raises(service.WorkflowError, match="≥ 0"):
        service.set_status(store, fid, "confirmed", by="wang", amount=-5.0)  # type: ignore[arg-type]
    service.set_status(store, fid, "dismissed", by="wang", reason="已在稽查案件中处理")  # type: ignore[arg-type]
    with pytest.raises(service.WorkflowError, match="is dismissed: cannot move to assigned"):
        service.set_status(store, fid, "assigned", by="wang")  # type: ignore[arg-type]
    with pytest.raises(service.WorkflowError, match="no finding 'T05:nobody:2026Q1'"):
        service.set_status(store, "T05:nobody:2026Q1", "assigned", by="wang")  # type: ignore[arg-type]
    f = service.get_finding(store, fid)  # type: ignore[arg-type]
    assert f is not None and f.dismiss_reason == "已在稽查案件中处理"
    assert [h.get("to") for h in f.history[1:]] == ["assigned", "under_review", "dismissed"]


def test_cli_run_findings_csv_and_refusals(loaded: object, graph_uri: str) -> None:
    runner = CliRunner()
    res = runner.invoke(
        main, ["tax", "run", "--period", "2026Q3", "--rule", "T14", "--uri", graph_uri]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        main, ["tax", "findings", "--rule", "T14", "--format", "csv", "--uri", graph_uri]
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows and {
        "finding_id",
        "rule",
        "entity_id",
        "uscc",
        "period",
        "estimated_gap",
        "status",
    } <= set(rows[0])
    assert {r["rule"] for r in rows} == {"T14"} and {r["period"] for r in rows} == {"2026Q3"}
    fid = rows[0]["finding_id"]
    res = runner.invoke(
        main,
        [
            "tax",
            "set-status",
            fid,
            "confirmed",
            "--by",
            "wang",
            "--amount",
            "5",
            "--uri",
            graph_uri,
        ],
    )
    assert res.exit_code == 1 and "is open: cannot move to confirmed" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["tax", "run", "--period", "2026Q5", "--uri", graph_uri])
    assert res.exit_code == 1 and "period '2026Q5'" in res.output
    res = runner.invoke(main, ["tax", "summary", "--format", "json", "--uri", graph_uri])
    summary = json.loads(res.stdout)
    assert {"dimension": "rule", "key": "T14"}.items() <= next(
        r for r in summary if r["key"] == "T14"
    ).items()


def test_async_reads_match_sync(loaded: object, graph_uri: str) -> None:
    import asyncio

    from graph.store import open_async_store

    store = loaded
    service.run(store, parse_period("2026Q3"), ["T07", "T09"])  # type: ignore[arg-type]
    sync = service.list_findings(store, rule="T09")  # type: ignore[arg-type]

    async def reads() -> tuple[list[service.Finding], object, list[object]]:
        astore = open_async_store(graph_uri)
        try:
            found = await service.list_findings_async(astore, rule="T09")
            one = await service.get_finding_async(astore, found[0].finding_id)
            return found, one, await service.summary_async(astore)
        finally:
            await astore.close()

    found, one, summary = asyncio.run(reads())
    assert [f.as_dict() for f in found] == [f.as_dict() for f in sync]
    assert one is not None and one.finding_id == sync[0].finding_id  # type: ignore[attr-defined]
    assert summary == service.summary(store)  # type: ignore[arg-type]
    page = service.list_findings(store, skip=1, limit=2)  # type: ignore[arg-type]
    assert [f.finding_id for f in page] == [f.finding_id for f in service.list_findings(store)[1:3]]  # type: ignore[arg-type]


def test_cli_on_an_empty_or_unreachable_graph(graph_uri: str) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["tax", "findings", "--format", "csv", "--uri", graph_uri + "_none"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [",".join(service.Finding.CSV_COLUMNS)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    res = runner.invoke(main, ["tax", "summary", "--uri", f"falkordb://127.0.0.1:{free}/x"])
    assert res.exit_code == 1 and res.output.startswith("Error: graph: ")
    assert "Traceback" not in res.output


def test_rules_without_records_of_their_kinds_find_nothing(graph_uri: str) -> None:
    """A graph with entities but none of a rule's facts (or none at all) runs every rule
    cleanly and finds nothing for the rules whose facts are missing."""
    store = open_store(graph_uri + "_sparse")
    store.run("MATCH (n) DETACH DELETE n")
    store.run(
        "CREATE (:Enterprise {uid: 'E1', name: '甲公司', uscc: '91440106MA5XXXXX1X', "
        "registration_status: '存续', established: '2020-01-01', industry: 'C'})"
    )
    store.run(
        "MATCH (e:Enterprise {uid: 'E1'}) CREATE (e)-[:SUBJECT_OF]->(:Fact {uid: 'POWER|1', "
        "dept: 'POWER', record_id: '1', fact_type: '电量', period: '2026Q3', "
        "period_start: '2026-07-01', period_end: '2026-09-30', quantity: 100000.0})"
    )
    report = service.run(store, parse_period("2026Q3"))
    assert report.records_read == 1
    found = service.list_findings(store)
    # No VAT return against 100,000 kWh of a manufacturer (T07), and a registered entity
    # with no return at all (T10); the due rules have no facts to check.
    assert [(f.rule, f.entity_id, f.period) for f in found] == [
        ("T07", "E1", "2026Q3"),
        ("T10", "E1", "2026Q3"),
    ]
    assert [e["record_id"] for e in found[0].evidence] == ["1"]
    store.run("MATCH (n) DETACH DELETE n")
    store.close()
