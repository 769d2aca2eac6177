"""Wrong input to the commands, as a newcomer or an attacker types it: one-line errors (no
traceback), nothing written where it does not belong, no ID number echoed, no control
characters stored. Real processes, a real state and a real graph server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from graph.load import load_run
from graph.server import ServerInfo
from graph.store import open_store
from resolver.state.incremental import run_link_stateful
from tests.conftest import SAMPLE

#: An ID number in the form of the sample's, with its check digit wrong (…1710 for …171X).
BAD_ID = "440983197812241710"
VALID_ID = "44098319781224171X"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``credgraph`` in its own process, as a user would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDGRAPH_GRAPH")}
    return subprocess.run(
        [sys.executable, "-m", "credgraph.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def error_of(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The error of a failed command: its exit code, no traceback, the ``Error:`` text."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "Error: " in proc.stderr, proc.stderr
    return proc.stderr[proc.stderr.index("Error: ") :].strip()


def foreign_dir(path: Path) -> Path:
    """A directory someone else uses: a file in it, mode 0755."""
    path.mkdir()
    (path / "notes.txt").write_text("mine\n", "utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def linked(graph_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The sample batch linked with a state and loaded into the graph ``polish_sample``."""
    base = tmp_path_factory.mktemp("polish")
    run, state = base / "run", base / "state"
    run_link_stateful(SAMPLE / "batch", run, state)
    store = open_store(graph_server.uri.rsplit("/", 1)[0] + "/polish_sample")
    try:
        load_run(store, run)
    finally:
        store.close()
    return {
        "uri": f"falkordb://127.0.0.1:{graph_server.port}/polish_sample",
        "data_dir": str(graph_server.data_dir),
        "state": str(state),
    }


def test_generate_prints_the_population_in_words(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    proc = cli(
        "generate", "--out", str(out), "--enterprises", "10", "--persons", "12",
        "--departments", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "population: 10 enterprises, 12 persons" in " ".join(proc.stdout.split())
    assert "{'" not in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--enterprises", "99999999999999999999"], "is not in the range 10<=x<=10000000"),
        (["--persons", "10000001"], "is not in the range 10<=x<=10000000"),
        (["--noise", "nan"], "nan is not a number"),
    ],
)
def test_generate_refuses_huge_populations_and_nan(
    tmp_path: Path, args: list[str], message: str
) -> None:
    err = error_of(cli("generate", "--out", str(tmp_path / "g"), *args), code=2)
    assert message in err
    assert not (tmp_path / "g").exists()


def test_link_refuses_nan_thresholds(tmp_path: Path) -> None:
    for opt in ("--match-threshold", "--review-threshold", "--lock-wait"):
        proc = cli("link", str(SAMPLE / "batch"), "--out", str(tmp_path / "r"), opt, "nan")
        assert "nan is not a number" in error_of(proc, code=2)


def test_a_state_is_never_made_among_other_files(tmp_path: Path) -> None:
    """`link --state DIR` on a directory holding other files (`--state .`, `/etc`) used to
    write state.db there and chmod the directory 0700."""
    target = foreign_dir(tmp_path / "project")
    proc = cli(
        "link", str(SAMPLE / "batch"), "--out", str(tmp_path / "run"), "--state", str(target)
    )
    err = error_of(proc)
    assert f"{target} is not a resolution state and holds other files (notes.txt)" in err
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_a_run_or_api_directory_among_other_files_keeps_its_mode(tmp_path: Path) -> None:
    run = foreign_dir(tmp_path / "project")
    proc = cli("link", str(SAMPLE / "batch"), "--out", str(run), "--no-state")
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(run.stat().st_mode) == 0o755
    assert stat.S_IMODE((run / "links.csv").stat().st_mode) == 0o600
    api = foreign_dir(tmp_path / "home")
    proc = cli("apikey", "list", "--data-dir", str(api))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(api.stat().st_mode) == 0o755
    assert stat.S_IMODE((api / "keys.db").stat().st_mode) == 0o600
    fresh = tmp_path / "fresh-api"
    assert cli("apikey", "list", "--data-dir", str(fresh)).returncode == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700


def test_output_file_in_a_missing_directory_is_a_usage_error(
    tmp_path: Path, linked: dict[str, str]
) -> None:
    missing = tmp_path / "no" / "such" / "x.csv"
    supplier = tmp_path / "suppliers.txt"
    supplier.write_text("某某公司\n", "utf-8")
    for args in (
        ["links", "--state", linked["state"], "--out", str(missing)],
        ["review", "export", "--state", linked["state"], "--out", str(missing)],
        ["credit", "check", str(supplier), "--format", "csv", "--out", str(missing),
         "--data-dir", linked["data_dir"], "--uri", linked["uri"]],
    ):  # fmt: skip
        err = error_of(cli(*args), code=2)
        assert f"the directory {missing.parent} does not exist" in err, args


def test_review_import_reports_bad_files_in_one_line(
    tmp_path: Path, linked: dict[str, str]
) -> None:
    state = ["--state", linked["state"]]
    pair = _review_pair(linked["state"])
    header = "record_a,record_b,decision,by,at,reason\n"
    cases = {
        "gbk.csv": (header + f"{pair[0]},{pair[1]},match,张三,,同一\n").encode("gbk"),
        "columns.csv": b"a,b\n1,2\n",
        "at.csv": (header + f"{pair[0]},{pair[1]},match,x,yesterday,r\n").encode(),
        "control.csv": (header + f"{pair[0]},{pair[1]},match,x\x1b[2J,,r\n").encode(),
        "same.csv": (header + f"{pair[0]},{pair[0]},no_match,x,,r\n").encode(),
    }
    expected = {
        "gbk.csv": "not UTF-8 text (byte 0xD5 at offset",
        "columns.csv": "line 1: missing column(s) record_a, record_b, decision, by",
        "at.csv": "line 2: at 'yesterday' is not an ISO date and time",
        "control.csv": "line 2: by holds the control character U+001B",
        "same.csv": f"line 2: a judgement needs two different records, not {pair[0]} twice",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert expected[name] in error_of(cli("review", "import", str(path), *state)), name
    before = cli("review", "export", *state, "--out", str(tmp_path / "j.csv"))
    assert before.returncode == 0 and "0 judgements written" in before.stdout


def _review_pair(state_dir: str) -> tuple[str, str]:
    from resolver.state.store import State

    with State(Path(state_dir)) as state:
        p = state.review_pairs(None, 1)[0]
    return f"{p['a_dept']}:{p['a_record']}", f"{p['b_dept']}:{p['b_record']}"


def test_review_decide_refuses_the_same_record_empty_by_and_control_characters(
    linked: dict[str, str],
) -> None:
    a, b = _review_pair(linked["state"])
    state = ["--state", linked["state"]]
    err = error_of(cli("review", "decide", a, a, "--no-match", "--by", "x", *state))
    assert f"a judgement needs two different records, not {a} twice" in err
    err = error_of(cli("review", "decide", a, b, "--match", "--by", " ", *state))
    assert "say who decides (by)" in err
    err = error_of(cli("review", "decide", a, b, "--match", "--by", "x\x1b[2J", *state))
    assert "by holds the control character U+001B" in err
    listed = cli("review", "list", *state, "--all", "--limit", "1")
    assert listed.returncode == 0 and "0 decided" in listed.stdout


def test_apikey_name_with_control_characters_is_refused(tmp_path: Path) -> None:
    err = error_of(
        cli("apikey", "create", "--role", "regulator", "--name", "a\x1b[2Jb",
            "--data-dir", str(tmp_path / "api")),
        code=2,
    )  # fmt: skip
    assert "holds the control character U+001B" in err


def test_tax_commands_take_the_graph_options_and_check_filters(linked: dict[str, str]) -> None:
    from credgraph.tax import STATUSES as CLI_STATUSES
    from tax.findings import STATUSES

    assert CLI_STATUSES == STATUSES
    target = ["--uri", linked["uri"], "--data-dir", linked["data_dir"]]
    run = cli("tax", "run", "--period", "2026Q3", *target)
    assert run.returncode == 0, run.stderr
    summary = cli("tax", "summary", "--format", "csv", *target)
    assert summary.returncode == 0 and summary.stdout.startswith("dimension,key,findings")
    err = error_of(cli("tax", "findings", "--status", "bogus", *target), code=2)
    assert "'bogus' is not one of 'open', 'assigned'" in err
    err = error_of(cli("tax", "findings", "--period", "2026", *target), code=2)
    assert "findings are per quarter; write one like 2026Q3" in err
    err = error_of(cli("tax", "findings", "--period", "2026Q9", *target), code=2)
    assert "write a quarter like 2026Q3" in err
    err = error_of(cli("tax", "run", "--from", "0001-01-01", "--to", "9999-12-31", *target))
    assert "the last quarter must end by 9999-12-31" in err
    found = cli("tax", "findings", "--format", "csv", *target).stdout.splitlines()
    if len(found) > 1:
        fid = found[1].split(",")[0]
        err = error_of(
            cli("tax", "set-status", fid, "assigned", "--by", "x\x1b[2J", *target), code=2
        )
        assert "holds the control character U+001B" in err


def test_an_id_number_is_never_echoed_in_an_error(linked: dict[str, str]) -> None:
    target = ["--uri", linked["uri"], "--data-dir", linked["data_dir"]]
    for args in (
        ["show", BAD_ID, *target, "--state", linked["state"]],
        ["resolve-id", BAD_ID, "--state", linked["state"]],
        ["credit", "profile", VALID_ID, *target],
        ["credit", "profile", BAD_ID, *target],
    ):
        err = error_of(cli(*args))
        assert BAD_ID not in err and VALID_ID not in err, err
        assert "4409**********171" in err, err


def test_credit_profile_and_graph_query_speak_plainly(linked: dict[str, str]) -> None:
    """Registration facts read as words and amounts (was ``False`` and ``500000.0``); a write
    sent to `graph query` says writes are refused (was FalkorDB's ``graph.RO_QUERY`` text)."""
    target = ["--uri", linked["uri"], "--data-dir", linked["data_dir"]]
    listed = cli("graph", "query", "MATCH (e:Enterprise) WHERE e.reg_capital > 0 "
                 "RETURN e.uid AS uid, e.reg_capital AS c LIMIT 1", "--jsonl", *target)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    row = json.loads(listed.stdout.splitlines()[0])
    profile = cli("credit", "profile", row["uid"], *target)
    assert profile.returncode == 0, profile.stderr
    assert f"{float(row['c']):,.2f}" in profile.stdout
    assert "is_branch" in profile.stdout and ("  no" in profile.stdout or "  yes" in profile.stdout)
    assert "False" not in profile.stdout and "True" not in profile.stdout
    err = error_of(cli("graph", "query", "CREATE (n:X) RETURN n", *target))
    assert err == (
        "Error: graph query runs read-only statements: writes (CREATE, MERGE, SET, DELETE, "
        "REMOVE) are refused"
    )


def test_review_decide_says_when_the_judgement_applies(
    tmp_path: Path, linked: dict[str, str]
) -> None:
    """A judgement waits for the next new batch: the message says so (it said "from the next
    `credgraph link` run on", and re-running the batch already applied changes nothing)."""
    import shutil

    state = tmp_path / "state"
    shutil.copytree(linked["state"], state)
    a, b = _review_pair(str(state))
    proc = cli("review", "decide", a, b, "--match", "--by", "s1", "--state", str(state))
    assert proc.returncode == 0, proc.stderr
    assert (
        f"judgement stored: {a} = {b} by s1; it applies when the next new batch is linked into "
        "this state (re-running a batch already applied changes nothing)"
    ) in " ".join(proc.stdout.split())


def test_control_characters_in_department_data_never_reach_a_terminal_raw() -> None:
    """A department row whose name carries ESC/BEL sequences: standardised names drop them
    (the golden name was stored with them), and a steward's `review list` evidence shows
    raw values with the control characters escaped."""
    from credgraph.review import evidence_line
    from resolver.ingest.rows import Record
    from resolver.standardize.names import normalise_enterprise_name, normalise_person_name

    hostile = "恶意\x1b]0;pwned\x07科技有限公司"
    name = normalise_enterprise_name(hostile).normalised
    assert name == normalise_enterprise_name("恶意]0;pwned科技有限公司").normalised
    assert not any(ord(c) < 32 for c in name)
    assert normalise_person_name("李\x1b[31m四") == "李[31m四"
    rec = Record(
        dept="AMR", file="amr.csv", line=7, record_id="X1", kind="enterprise",
        raw={"name": hostile, "address": "北京市\x1b[2J海淀区"}, std={}, flags=[], extra={},
    )  # fmt: skip
    line = evidence_line(rec.key, rec)
    assert "\x1b" not in line and "\x07" not in line
    assert line == (
        "AMR amr.csv:7; name 恶意\\x1b]0;pwned\\x07科技有限公司; address 北京市\\x1b[2J海淀区"
    )


def test_history_prints_details_as_words(linked: dict[str, str]) -> None:
    """`history` printed each event's detail as JSON (``{"records": 5}``)."""
    a, _ = _review_pair(linked["state"])
    found = cli("resolve-id", a, "--state", linked["state"])
    assert found.returncode == 0, found.stderr
    entity = found.stdout.split()[1]
    proc = cli("history", entity, "--state", linked["state"])
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert f"{entity}  create" in first and "records " in first
    assert "{" not in proc.stdout and '"' not in proc.stdout


def test_a_manifest_without_as_of_says_it_is_missing(tmp_path: Path) -> None:
    """It said ``as_of None is not a date (YYYY-MM-DD)``."""
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "a.csv").write_text("id,name\n1,华兴有限公司\n", "utf-8")
    (batch / "manifest.yaml").write_text(
        "batch_id: b1\nsources:\n- dept: AMR\n  name: 市场监督管理局\n  file: a.csv\n"
        "  encoding: utf-8\n  kind: enterprise\n  record_id: id\n  columns: {name: name}\n",
        "utf-8",
    )
    err = error_of(cli("check", str(batch), "--out", str(tmp_path / "out")))
    assert "as_of is missing: write as_of: YYYY-MM-DD" in err
    assert "None" not in err
