"""`credgraph link --engine spark` (pyspark in local mode) against the local engine on the
fixture batch: the same clusters (pairwise F1 between the two runs), the same Contract 2
files, and a Spark run that feeds a resolution state."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from credgraph.cli import main
from resolver.linkage.link import run_link
from resolver.spark.link import SparkEngine
from resolver.spark.session import spark_session
from resolver.state.incremental import run_link_stateful
from tests.conftest import SAMPLE

BATCH = SAMPLE / "batch"
CONTRACT_2 = (
    "links.csv",
    "golden.jsonl",
    "edges.jsonl",
    "events.jsonl",
    "rejects.csv",
    "conflicts.csv",
    "review.csv",
    "model.json",
    "report.json",
)


def _pairs(run: Path) -> dict[str, set[tuple[tuple[str, str], tuple[str, str]]]]:
    """Per entity kind, the record pairs that links.csv puts into one entity."""
    members: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    with (run / "links.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] in ("enterprise", "person"):
                members[row["kind"]][row["entity_id"]].append((row["dept"], row["record_id"]))
    return {
        kind: {
            (a, b) if a < b else (b, a)
            for recs in entities.values()
            for a, b in combinations(recs, 2)
        }
        for kind, entities in members.items()
    }


def _f1(x: set[Any], y: set[Any]) -> float:
    return 1.0 if not x and not y else 2 * len(x & y) / (len(x) + len(y))


def _records(run: Path) -> set[tuple[str, str, str]]:
    with (run / "links.csv").open(encoding="utf-8") as fh:
        return {(r["dept"], r["record_id"], r["kind"]) for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The local engine and the Spark engine on the fixture batch, one-shot and stateful."""
    base = tmp_path_factory.mktemp("spark_link")
    run_link(BATCH, base / "local")
    run_link_stateful(BATCH, base / "local_state", base / "state_local")
    # one-shot through the command line, as a user runs it
    res = CliRunner().invoke(
        main,
        [
            "link",
            str(BATCH),
            "--out",
            str(base / "spark"),
            "--no-state",
            "--engine",
            "spark",
            "--master",
            "local[2]",
            "--shuffle-partitions",
            "2",
            "--spark-costs",
            str(base / "spark-costs.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "golden entities" in res.output
    spark = spark_session("local[2]", shuffle_partitions=2)
    try:
        run_link_stateful(
            BATCH, base / "spark_state", base / "state_spark", engine=SparkEngine(spark)
        )
    finally:
        spark.stop()
    yield {
        "local": base / "local",
        "spark": base / "spark",
        "local_state": base / "local_state",
        "spark_state": base / "spark_state",
    }


@pytest.mark.parametrize(("local", "spark"), [("local", "spark"), ("local_state", "spark_state")])
def test_spark_clusters_agree_with_the_local_engine(
    runs: dict[str, Path], local: str, spark: str
) -> None:
    assert _records(runs[local]) == _records(runs[spark])
    ours, theirs = _pairs(runs[local]), _pairs(runs[spark])
    assert set(ours) == set(theirs) == {"enterprise", "person"}
    for kind in ours:
        assert ours[kind], f"the fixture batch has no {kind} links"
        assert _f1(ours[kind], theirs[kind]) >= 0.999, kind


def test_spark_writes_the_same_contract_2_files(runs: dict[str, Path]) -> None:
    local, spark = runs["local"], runs["spark"]
    assert sorted(p.name for p in local.iterdir()) == sorted(p.name for p in spark.iterdir())
    assert set(CONTRACT_2) <= {p.name for p in spark.iterdir()}
    for name in CONTRACT_2:
        a = (local / name).read_text("utf-8").splitlines()
        b = (spark / name).read_text("utf-8").splitlines()
        if name.endswith(".csv"):
            assert a[0] == b[0], name  # same header
            assert len(a) == len(b), name
        elif name.endswith(".jsonl"):
            assert len(a) == len(b), name
            if a:
                assert json.loads(a[0]).keys() == json.loads(b[0]).keys(), name
    rep_local = json.loads((local / "report.json").read_text("utf-8"))
    rep_spark = json.loads((spark / "report.json").read_text("utf-8"))
    assert rep_local.keys() == rep_spark.keys()
    assert rep_local["ingest"] == rep_spark["ingest"]
    for kind in ("enterprise", "person"):
        ours, theirs = rep_local["entities"][kind], rep_spark["entities"][kind]
        assert theirs["candidate_pairs"] == ours["candidate_pairs"] > 0
        assert theirs["clusters"] == ours["clusters"]
    model_local = json.loads((local / "model.json").read_text("utf-8"))
    model_spark = json.loads((spark / "model.json").read_text("utf-8"))
    assert model_local.keys() == model_spark.keys() == {"enterprise", "person"}


def test_a_spark_run_feeds_the_state_with_stable_ids(runs: dict[str, Path]) -> None:
    report = json.loads((runs["spark_state"] / "report.json").read_text("utf-8"))
    assert "state" in report
    with (runs["spark_state"] / "links.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] in ("enterprise", "person")]
    golden_ids = {r["entity_id"] for r in rows}
    new_ids = sum(v["new_ids"] for v in report["state"]["entities"].values())
    assert new_ids == len(golden_ids)
    assert all(g[0] in "EP" and g[1:].isdigit() for g in golden_ids)


def test_spark_options_need_the_spark_engine(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main, ["link", str(BATCH), "--out", str(tmp_path / "run"), "--master", "local[4]"]
    )
    assert res.exit_code == 2
    assert "--master, --shuffle-partitions and --spark-costs need --engine spark" in res.output
    assert not (tmp_path / "run").exists()
    res = CliRunner().invoke(
        main,
        ["link", str(BATCH), "--out", str(tmp_path / "run"), "--spark-costs", str(tmp_path / "c")],
    )
    assert res.exit_code == 2 and "need --engine spark" in res.output
    assert not (tmp_path / "c").exists()


def test_spark_costs_per_step_and_partition(runs: dict[str, Path]) -> None:
    """--spark-costs: credgraph's work per step and partition adds up to the run's own counts,
    and Spark's task metrics (from the driver's REST API) are attributed to the steps."""
    costs = json.loads((runs["spark"].parent / "spark-costs.json").read_text("utf-8"))
    report = json.loads((runs["spark"] / "report.json").read_text("utf-8"))
    py, tasks = costs["python_work"], costs["spark_tasks"]
    assert costs["shuffle_partitions"] == 2 and costs["master"] == "local[2]"
    assert py["ingest"]["records_in"] == report["ingest"]["read"]
    for kind in ("enterprise", "person"):
        ent = report["entities"][kind]
        blocking, scoring = py[f"{kind}:blocking"], py[f"{kind}:scoring"]
        assert blocking["records_in"] == ent["records"] > 0
        assert sum(p["records_in"] for p in blocking["per_partition"]) == ent["records"]
        assert blocking["partitions"] == len(blocking["per_partition"]) >= 1
        assert scoring["records_in"] == scoring["rows_out"] == ent["candidate_pairs"] > 0
        for step in ("records", "blocking", "scoring", "components", "clustering", "review"):
            assert costs["step_wall_seconds"][f"{kind}:{step}"] > 0
        spark_blocking = tasks[f"{kind}:blocking"]
        assert spark_blocking["tasks"] >= spark_blocking["stages"] >= 1
        assert spark_blocking["shuffle_write_bytes"] > 0
        assert spark_blocking["shuffle_read_records"] > 0
