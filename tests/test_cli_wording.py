"""What the commands print reads as English: one file, one department (not "1 files from 1
departments"), the bulk load says how it loaded (not "0 steps, 0 already done"), and the
grade refresh grades what its help says. A one-department batch cut from the sample, linked,
loaded into a real graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from credgraph.cli import main
from tests.conftest import SAMPLE


@pytest.fixture()
def one_department(tmp_path: Path) -> Path:
    """The sample's first source alone: one file of one department."""
    manifest = yaml.safe_load((SAMPLE / "batch" / "manifest.yaml").read_text("utf-8"))
    first = manifest["sources"][0]
    manifest.update(sources=[first], batch_id="one-department")
    manifest.pop("withdrawn", None)
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / first["file"]).write_bytes((SAMPLE / "batch" / first["file"]).read_bytes())
    (batch / "manifest.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), "utf-8")
    return batch


def test_one_file_one_department_bulk_load_and_grades(
    one_department: Path, tmp_path: Path, graph_uri: str
) -> None:
    runner = CliRunner()
    checked = runner.invoke(main, ["check", str(one_department), "--out", str(tmp_path / "c")])
    assert checked.exit_code == 0, checked.output
    assert " read in 1 file from 1 department in " in checked.stdout
    run = tmp_path / "run"
    linked = runner.invoke(main, ["link", str(one_department), "--out", str(run), "--no-state"])
    assert linked.exit_code == 0, linked.output
    golden = [json.loads(line) for line in (run / "golden.jsonl").read_text("utf-8").splitlines()]
    firms = sum(1 for g in golden if g["type"] == "Enterprise" and g["lifecycle"] == "active")
    assert firms > 100
    assert "person: 0 records -> 0 golden entities (0 probabilistic merges, 0 pairs" in (
        linked.stdout
    )
    env = {"CREDGRAPH_GRAPH_URI": graph_uri}
    loaded = runner.invoke(main, ["load", str(run)], env=env)
    assert loaded.exit_code == 0, loaded.output
    first = loaded.stdout.splitlines()[0]
    assert first.endswith("by the bulk path (GRAPH.BULK into the empty graph)"), first
    assert "steps" not in first and "already done" not in first
    again = runner.invoke(main, ["load", str(run)], env=env)
    assert again.exit_code == 0, again.output
    assert "by the MERGE path; " in again.stdout and " steps, 0 already done" in again.stdout
    # the help says every enterprise is graded: those without events at the base grade
    assert "Recompute every current enterprise's grade" in " ".join(
        runner.invoke(main, ["credit", "grade", "--help"]).stdout.split()
    )
    graded = runner.invoke(main, ["credit", "grade", "--refresh"], env=env)
    assert graded.exit_code == 0, graded.output
    assert graded.stdout.startswith(f"graded {firms:,} enterprises; "), graded.stdout


def test_link_warns_of_files_it_linked_nothing_from(one_department: Path, tmp_path: Path) -> None:
    """`check` warned of an empty or header-only file; `link` said nothing of it."""
    manifest = yaml.safe_load((one_department / "manifest.yaml").read_text("utf-8"))
    first = manifest["sources"][0]
    header = (one_department / first["file"]).read_bytes().splitlines(keepends=True)[0]
    (one_department / "header_only.csv").write_bytes(header)
    manifest["sources"].append({**first, "dept": "FIN", "file": "header_only.csv"})
    (one_department / "manifest.yaml").write_text(
        yaml.safe_dump(manifest, allow_unicode=True), "utf-8"
    )
    res = CliRunner().invoke(
        main, ["link", str(one_department), "--out", str(tmp_path / "run"), "--no-state"]
    )
    assert res.exit_code == 0, res.output
    assert "  warning: FIN header_only.csv: no rows (an empty or header-only file)\n" in res.stdout
    assert f"AMR {first['file']}" not in res.stdout  # a file with rows is not warned of


def test_generate_summary_is_one_line_and_singular_where_one(tmp_path: Path) -> None:
    """Piped, the summary line broke at 80 columns ("population: 2,000 \\nenterprises") and
    said "1 branches"; a table title wrapped ("tax anomalies \\nplanted")."""
    res = CliRunner().invoke(
        main, ["generate", "--out", str(tmp_path / "g"), "--enterprises", "20", "--persons", "30"]
    )
    assert res.exit_code == 0, res.output
    first = res.stdout.splitlines()[0]
    summary = json.loads((tmp_path / "g" / "truth" / "summary.json").read_text("utf-8"))
    pop = summary["population"]
    assert first.startswith(f"{summary['rows']:,} rows in {summary['files']} files from 32 ")
    assert first.endswith(
        f"population: 20 enterprises, 30 persons, {pop['branches']} "
        + ("branch" if pop["branches"] == 1 else "branches")
        + f", {pop['renamed']} renamed"
    )
    assert "tax anomalies planted\n" in res.stdout
