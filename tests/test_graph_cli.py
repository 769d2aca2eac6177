"""The graph commands as a user runs them: real servers, real processes, no password typed."""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph import server
from graph.load import load_run
from graph.server import ServerInfo, ServerLimits
from graph.store import open_store
from resolver.state.incremental import run_link_stateful
from tests.conftest import SAMPLE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``credgraph`` in its own process, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CREDGRAPH_GRAPH")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "credgraph.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env=full_env,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The error of a failed command: non-zero exit, no traceback, one line."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def loaded(graph_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The sample batch linked with a state and loaded into graph ``cli_sample``."""
    base = tmp_path_factory.mktemp("cli")
    run, state = base / "run", base / "state"
    run_link_stateful(SAMPLE / "batch", run, state)
    store = open_store(graph_server.uri.rsplit("/", 1)[0] + "/cli_sample")
    try:
        load_run(store, run)
    finally:
        store.close()
    return {
        "uri": f"falkordb://127.0.0.1:{graph_server.port}/cli_sample",
        "data_dir": str(graph_server.data_dir),
        "run": str(run),
        "state": str(state),
    }


def _target(loaded: dict[str, str]) -> list[str]:
    return ["--uri", loaded["uri"], "--data-dir", loaded["data_dir"]]


@pytest.fixture()
def own_server(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    data, port = tmp_path / "graph", _free_port()
    yield data, port
    server.stop(data)


def test_start_status_query_stop_without_a_typed_password(own_server: tuple[Path, int]) -> None:
    data, port = own_server
    started = cli("graph", "start", "--data-dir", str(data), "--port", str(port))
    assert started.returncode == 0, started.stderr
    password = (data / "password").read_text().strip()
    assert started.stdout.splitlines()[-1] == f"falkordb://127.0.0.1:{port}/credgraph"
    assert password not in started.stdout
    status = cli("graph", "status", "--data-dir", str(data))
    assert status.returncode == 0 and status.stdout.startswith("running: pid "), status.stdout
    assert password not in status.stdout
    # The graph does not exist yet: a clear error, then `load` creates it.
    missing = one_line_error(cli("graph", "query", "RETURN 1 AS one", "--data-dir", str(data)))
    assert "no graph 'credgraph'" in missing and "credgraph load RUN_DIR" in missing
    from resolver.state.run_files import write_run

    run = data.parent / "run"
    golden = {"id": "E000000001", "type": "Enterprise", "attributes": {"name": "甲公司"}}
    line = json.dumps(golden, ensure_ascii=False) + "\n"
    write_run(run, [("golden.jsonl", line.encode())], {"batch_id": "hand-made"})  # marked complete
    loaded = cli("load", str(run), "--data-dir", str(data))
    assert loaded.returncode == 0, loaded.stderr
    query = cli(
        "graph", "query", "MATCH (e:Enterprise) RETURN e.name AS name", "--data-dir", str(data)
    )
    assert query.returncode == 0, query.stderr
    assert "甲公司" in query.stdout and query.stdout.splitlines()[-1] == "1 row"
    # An explicit --data-dir wins over a CREDGRAPH_GRAPH_URI left in the environment.
    dead = {"CREDGRAPH_GRAPH_URI": f"falkordb://127.0.0.1:{_free_port()}/credgraph"}
    again = cli("show", "E000000001", "--data-dir", str(data), env=dead)
    assert again.returncode == 0 and "甲公司" in again.stdout, again.stderr
    assert "cannot reach" in one_line_error(cli("show", "E000000001", env=dead))
    # Owner-only data directory and files, the server's own RDB and AOF included.
    assert cli("graph", "stop", "--data-dir", str(data)).stdout.strip() == "stopped"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"password", "graph.rdb", "server.log", "server.port"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o600"}
    down = cli("graph", "status", "--data-dir", str(data))
    assert down.returncode == 3 and down.stdout.startswith("not running")
    error = one_line_error(cli("graph", "query", "RETURN 1 AS one", "--data-dir", str(data)))
    assert "is not running: start it with `credgraph graph start --data-dir" in error


def test_a_stale_pid_is_never_signalled(tmp_path: Path) -> None:
    data = tmp_path / "graph"
    data.mkdir()
    (data / "server.port").write_text("16399")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (data / "server.pid").write_text(str(sleeper.pid))
        status = cli("graph", "status", "--data-dir", str(data))
        assert status.returncode == 3
        assert status.stdout.splitlines()[0] == "not running (stale pid file removed)"
        assert not (data / "server.pid").exists()
        (data / "server.pid").write_text(str(sleeper.pid))
        stop = cli("graph", "stop", "--data-dir", str(data))
        assert stop.stdout.strip() == "not running (stale pid file removed)"
        assert sleeper.poll() is None, "the unrelated process was signalled"
        assert server.status(data) is None and not server.is_our_server(sleeper.pid, data)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_password_on_the_command_line_is_refused(loaded: dict[str, str]) -> None:
    with_password = loaded["uri"].replace("falkordb://", "falkordb://:secret@")
    error = one_line_error(cli("graph", "query", "RETURN 1 AS x", "--uri", with_password), 2)
    assert "--uri must not carry a password" in error and "--password-file" in error
    assert "secret" not in error


def test_wrong_password_is_one_line(loaded: dict[str, str], tmp_path: Path) -> None:
    wrong = tmp_path / "pw"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    for proc in (
        cli(
            "graph", "query", "RETURN 1 AS x", "--uri", loaded["uri"], "--password-file", str(wrong)
        ),
        cli(
            "show",
            "E000000001",
            "--uri",
            loaded["uri"],
            env={"CREDGRAPH_GRAPH_PASSWORD": "not-the-password"},
        ),
        cli("load", loaded["run"], "--uri", loaded["uri"], "--password-file", str(wrong)),
    ):
        assert "refused the password" in one_line_error(proc)
    # No password at all for a server that needs one.
    proc = cli(
        "graph", "query", "RETURN 1 AS x", "--uri", loaded["uri"].replace("127.0.0.1", "localhost")
    )
    assert "requires a password" in one_line_error(proc)


def test_unknown_scheme_down_server_and_missing_graph(loaded: dict[str, str]) -> None:
    error = one_line_error(cli("graph", "query", "RETURN 1 AS x", "--uri", "http://127.0.0.1:1/x"))
    assert "unsupported graph URI scheme 'http'" in error
    down = f"falkordb://127.0.0.1:{_free_port()}/credgraph"
    error = one_line_error(cli("show", "E000000001", "--uri", down))
    assert "cannot reach the graph server" in error and "credgraph graph start" in error
    # The Neo4j backend, real driver, nothing listening (no Neo4j server can run here).
    neo = f"neo4j://neo4j@127.0.0.1:{_free_port()}/neo4j"
    error = one_line_error(cli("graph", "query", "RETURN 1 AS x", "--uri", neo))
    assert "cannot reach the Neo4j server" in error
    missing = loaded["uri"].rsplit("/", 1)[0] + "/no_such_graph"
    error = one_line_error(
        cli("graph", "query", "RETURN 1 AS x", "--uri", missing, "--data-dir", loaded["data_dir"])
    )
    assert "no graph 'no_such_graph'" in error and "credgraph load" in error


def test_params_are_strings_unless_json(loaded: dict[str, str]) -> None:
    with open(Path(loaded["run"]) / "links.csv", encoding="utf-8", newline="") as fh:
        numeric = next(
            r for r in csv.DictReader(fh) if r["record_id"].isdigit() and r["kind"] == "enterprise"
        )
    proc = cli(
        "graph",
        "query",
        "MATCH (s:SourceRecord) WHERE s.record_id = $r RETURN s.dept AS dept",
        "--param",
        f"r={numeric['record_id']}",
        "--jsonl",
        *_target(loaded),
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [{"dept": numeric["dept"]}]
    proc = cli(
        "graph",
        "query",
        "RETURN $n + 1 AS n, $s AS s, $xs AS xs",
        "--param-json",
        "n=41",
        "--param",
        "s=007",
        "--param-json",
        'xs=["a", 2]',
        "--jsonl",
        *_target(loaded),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"n": 42, "s": "007", "xs": ["a", 2]}
    bad = cli("graph", "query", "RETURN $n AS n", "--param-json", "n={oops", *_target(loaded))
    assert "is not JSON" in one_line_error(bad, 2)


def test_empty_result_prints_0_rows(loaded: dict[str, str]) -> None:
    proc = cli(
        "graph",
        "query",
        "MATCH (e:Enterprise) WHERE e.uid = $u RETURN e.name AS name",
        "--param",
        "u=nobody",
        *_target(loaded),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0 rows"
    jsonl = cli("graph", "query", "MATCH (n:Nothing) RETURN n", "--jsonl", *_target(loaded))
    assert jsonl.stdout == "" and jsonl.stderr.strip() == "0 rows"


def test_show_and_resolve_id(loaded: dict[str, str]) -> None:
    golden = {
        g["id"]: g
        for g in map(json.loads, (Path(loaded["run"]) / "golden.jsonl").read_text().splitlines())
    }
    edges = [
        json.loads(line)
        for line in (Path(loaded["run"]) / "edges.jsonl").read_text().splitlines()
        if line.strip()
    ]
    rep = next(e for e in edges if e["type"] == "LEGAL_REP_OF" and e.get("from"))
    company = golden[rep["to"]]["attributes"]
    proc = cli("show", company["uscc"], *_target(loaded), "--state", loaded["state"])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert company["name"] in out and rep["to"] in out
    assert f"legal representative: {golden[rep['from']]['attributes']['name']} {rep['from']}" in out
    for e in edges:
        if e["type"] == "HOLDS_SHARES" and e["to"] == rep["to"] and e.get("from"):
            assert e["from"] in out
    assert "lifecycle history:" in out and "create" in out
    # A name fragment with several hits: a numbered list, then --pick.
    listing = cli("show", "有限公司", *_target(loaded))
    assert listing.returncode == 0, listing.stderr
    numbered = [
        line.split() for line in listing.stdout.splitlines() if re.match(r"^ *\d+\. ", line)
    ]
    assert [n[0] for n in numbered] == [f"{i}." for i in range(1, 11)]
    first_uid = numbered[0][1]
    picked = cli("show", "有限公司", "--pick", "1", *_target(loaded))
    assert picked.returncode == 0 and first_uid in picked.stdout.splitlines()[0]
    # resolve-id answers USCC and DEPT:RECORD_ID from the state.
    with open(Path(loaded["run"]) / "links.csv", encoding="utf-8", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["kind"] == "enterprise")
    by_record = cli("resolve-id", f"{row['dept']}:{row['record_id']}", "--state", loaded["state"])
    assert (
        by_record.stdout.strip()
        == f"{row['dept']}:{row['record_id']}: {row['entity_id']}  (active)"
    )
    by_uscc = cli("resolve-id", company["uscc"], "--state", loaded["state"])
    assert by_uscc.stdout.strip() == f"{company['uscc']}: {rep['to']}  (active)"
    unknown = cli("show", "绝无此名的公司", *_target(loaded))
    assert "nothing in the graph matches" in one_line_error(unknown)


def test_show_of_an_unknown_id_number_names_the_state_option(loaded: dict[str, str]) -> None:
    from resolver.standardize.identifiers import id_check_char

    body = "11010119000101999"  # a valid ID number no generated person holds (born 1900)
    id18 = body + id_check_char(body)
    without = one_line_error(cli("show", id18, *_target(loaded)))
    assert without.startswith("Error: no person with ID number 1101**********999")
    hint = "give the state the loaded run was linked with (--state STATE_DIR)"
    assert without.endswith(hint), without
    assert id18 not in without
    given = one_line_error(cli("show", id18, *_target(loaded), "--state", loaded["state"]))
    assert given.startswith("Error: no person with ID number 1101**********999")
    assert "--state" not in given


def test_query_limits(own_server: tuple[Path, int]) -> None:
    data, port = own_server
    info = server.start(data, port)
    store = open_store(info.uri)
    try:
        store.run("CREATE (:Probe {uid: 'p'})")  # the graph exists
        config = {
            k: store.command("GRAPH.CONFIG", "GET", k)[1]
            for k in ("TIMEOUT_DEFAULT", "TIMEOUT_MAX", "QUERY_MEM_CAPACITY")
        }
    finally:
        store.close()
    assert config == {
        "TIMEOUT_DEFAULT": server.DEFAULT_QUERY_TIMEOUT_S * 1000,
        "TIMEOUT_MAX": server.DEFAULT_QUERY_TIMEOUT_S * 1000,
        "QUERY_MEM_CAPACITY": server.DEFAULT_QUERY_MEMORY_MB * 1024 * 1024,
    }
    server.stop(data)
    # Small limits, so that the runaway queries stay small on a shared machine.
    server.start(data, port, limits=ServerLimits(query_timeout_s=1, query_memory_mb=32))
    memory = cli(
        "graph",
        "query",
        "UNWIND range(1, 5000000) AS i RETURN count(i) AS n",
        "--data-dir",
        str(data),
    )
    assert "more memory than the graph server allows one query" in one_line_error(memory)
    slow = cli(
        "graph",
        "query",
        "UNWIND range(1, 2000) AS a UNWIND range(1, 2000) AS b UNWIND range(1, 2000) AS c "
        "RETURN count(*) AS n",
        "--data-dir",
        str(data),
    )
    assert "time limit" in one_line_error(slow)
    assert server.status(data) is not None, "the server survives both"


def test_start_tightens_an_old_data_dir_but_nothing_else(own_server: tuple[Path, int]) -> None:
    data, port = own_server
    data.mkdir(mode=0o755)
    (data / "password").write_text("old-password-0644")
    (data / "password").chmod(0o644)
    (data / "notes.txt").write_text("not the server's")
    (data / "notes.txt").chmod(0o644)
    info = server.start(data, port)
    assert info.password == "old-password-0644"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "password").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "notes.txt").stat().st_mode) == 0o644
