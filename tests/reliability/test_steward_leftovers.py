"""Issue 11 item 6, what a newcomer still found in the steward's workflow: each tried with
the real command in its own process, real files and the session's graph server."""

from __future__ import annotations

import csv
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from graph.server import ServerInfo
from tests.reliability.batchkit import (
    ROLE_COLUMNS,
    ROLE_HEADER,
    Source,
    csv_text,
    good_row,
    write_batch,
)


def cg(*args: str) -> subprocess.CompletedProcess[str]:
    """``credgraph`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "credgraph.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc.stdout


def _target(graph_uri: str, server: ServerInfo) -> list[str]:
    name = graph_uri.rsplit("/", 1)[1]
    return [
        "--uri",
        f"falkordb://127.0.0.1:{server.port}/{name}",
        "--data-dir",
        str(server.data_dir),
    ]


def _links(run: Path) -> dict[str, str]:
    with (run / "links.csv").open(encoding="utf-8", newline="") as fh:
        return {
            r["record_id"]: r["entity_id"] for r in csv.DictReader(fh) if r["kind"] == "enterprise"
        }


def test_withdrawn_record_leaves_show_and_history_names_it(
    tmp_path: Path, graph_uri: str, graph_server: ServerInfo
) -> None:
    """Twelve firms share a name fragment; one record is withdrawn by a batch that only
    withdraws (accepted by check and link). Afterwards `show` no longer resolves it, the
    entity's history has a withdraw line, and the name list says how many it left out."""
    target = _target(graph_uri, graph_server)
    state = str(tmp_path / "st")
    b1 = write_batch(
        tmp_path / "b1", [Source("amr.csv", csv_text([good_row(i) for i in range(1, 13)]).encode())]
    )
    _ok(cg("link", str(b1), "--out", str(tmp_path / "r1"), "--state", state))
    _ok(cg("load", str(tmp_path / "r1"), *target))
    eid = _links(tmp_path / "r1")["R000003"]
    assert eid in _ok(cg("show", "AMR:R000003", *target))
    listing = _ok(cg("show", "华瑞", *target))
    assert "'华瑞' matches 12 entities (10 of 12 shown; a longer fragment narrows it)" in listing
    assert len([ln for ln in listing.splitlines() if re.match(r"^ *\d+\. ", ln)]) == 10

    only = tmp_path / "b2"
    only.mkdir()
    manifest = {
        "batch_id": "withdraw-1",
        "as_of": "2026-11-02",
        "withdrawn": [{"dept": "AMR", "record_id": "R000003"}],
    }
    (only / "manifest.yaml").write_text(yaml.safe_dump(manifest), "utf-8")
    checked = _ok(cg("check", str(only), "--out", str(tmp_path / "c2")))
    assert "batch withdraw-1 delivers no files: it only withdraws 1 records" in checked
    one_shot = _ok(cg("link", str(only), "--out", str(tmp_path / "r0"), "--no-state"))
    assert "1 withdrawals not applied: a run without a state" in one_shot
    linked = _ok(cg("link", str(only), "--out", str(tmp_path / "r2"), "--state", state))
    assert "1 withdrawn" in linked
    _ok(cg("load", str(tmp_path / "r2"), *target))

    gone = cg("show", "AMR:R000003", *target)
    assert gone.returncode == 1
    assert "no record AMR:R000003 resolved in the graph" in gone.stderr
    assert "AMR:R000004" not in gone.stderr
    resolved = cg("resolve-id", "AMR:R000003", "--state", state)
    assert resolved.returncode == 1 and "(it was withdrawn)" in resolved.stderr
    history = _ok(cg("history", eid, "--state", state))
    [line] = [ln for ln in history.splitlines() if " withdraw " in ln]
    assert "withdraw-1" in line and "record AMR:R000003" in line
    assert any(" retire " in ln for ln in history.splitlines())


def test_a_merge_a_judgement_caused_names_the_judgement(tmp_path: Path) -> None:
    state = str(tmp_path / "st")
    rows = [good_row(1), ["R000002", "", "成都市金牛区星河贸易商行", "四川省成都市金牛区一环路5号"]]
    b1 = write_batch(tmp_path / "b1", [Source("amr.csv", csv_text(rows).encode())])
    _ok(cg("link", str(b1), "--out", str(tmp_path / "r1"), "--state", state))
    ids = _links(tmp_path / "r1")
    assert ids["R000001"] != ids["R000002"]
    _ok(
        cg(
            "review",
            "decide",
            "AMR:R000001",
            "AMR:R000002",
            "--match",
            "--by",
            "李四",
            "--state",
            state,
        )
    )
    b2 = write_batch(
        tmp_path / "b2",
        [Source("amr.csv", csv_text([good_row(7)]).encode())],
        batch_id="after-judgement",
    )
    linked = _ok(cg("link", str(b2), "--out", str(tmp_path / "r2"), "--state", state))
    survivor = min(ids["R000001"], ids["R000002"])
    # The summary names the merged ID, where the redirects are and how to see why.
    gone = max(ids["R000001"], ids["R000002"])
    assert (
        f"  merged IDs: {gone} -> {survivor} (all in {tmp_path / 'r2' / 'redirects.jsonl'}); "
        f"why: credgraph history {gone} --state {state}"
    ) in linked.splitlines()
    history = _ok(cg("history", survivor, "--state", state))
    [merge] = [ln for ln in history.splitlines() if " merge " in ln]
    assert "after-judgement" in merge
    assert "AMR:R000001 = AMR:R000002 (by 李四 at " in merge


def test_manifest_mistakes_of_every_source_are_listed_in_one_run(tmp_path: Path) -> None:
    """Source 1 has a misspelt kind and a column its file lacks; source 2 a column its file
    lacks: all three in one run (header checks no longer skip a source with other faults)."""
    data = csv_text([good_row(1)]).encode()
    batch = write_batch(
        tmp_path / "b",
        [
            Source(
                "amr.csv", data, kind="enterprsie", columns={"企业名称": "name", "电话": "phone"}
            ),
            Source(
                "tax.csv", data, dept="TAX", columns={"企业名称": "name", "纳税人识别号": "tax_id"}
            ),
        ],
    )
    proc = cg("check", str(batch), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    err = proc.stderr
    assert "unknown kind 'enterprsie' (did you mean 'enterprise'?)" in err
    assert "AMR amr.csv: mapped column '电话' is not in the file's header" in err
    assert "TAX tax.csv: mapped column '纳税人识别号' is not in the file's header" in err


def test_check_features_says_where_the_features_went(tmp_path: Path) -> None:
    batch = write_batch(
        tmp_path / "b", [Source("amr.csv", csv_text([good_row(1), good_row(2)]).encode())]
    )
    out = _ok(cg("check", str(batch), "--out", str(tmp_path / "out"), "--features"))
    assert "features: computed and checked for 2 accepted rows" in out
    assert "they are not written by check" in out
    plain = _ok(cg("check", str(batch), "--out", str(tmp_path / "out2")))
    assert "features:" not in plain


def test_graph_start_on_a_running_server_says_the_port_is_not_applied(
    graph_server: ServerInfo,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        other = s.getsockname()[1]
    proc = cg("graph", "start", "--data-dir", str(graph_server.data_dir), "--port", str(other))
    assert proc.returncode == 0, proc.stderr
    assert (
        f"a graph server already runs for this data directory: pid {graph_server.pid}, "
        f"127.0.0.1:{graph_server.port}; --port not applied (port {other} asked, it keeps "
        f"{graph_server.port}): `credgraph graph stop` first"
    ) in proc.stderr
    assert f"127.0.0.1:{graph_server.port}" in proc.stdout
    same = cg("graph", "start", "--data-dir", str(graph_server.data_dir))
    assert "already runs" in same.stdout and "not applied" not in same.stdout + same.stderr


def test_generate_follow_up_batch_has_new_ids_and_some_changed_records(tmp_path: Path) -> None:
    size = ["--enterprises", "60", "--persons", "80", "--departments", "6", "--seed", "5"]
    _ok(cg("generate", "--out", str(tmp_path / "g1"), *size))
    _ok(
        cg("generate", "--out", str(tmp_path / "g2"), *size, "--follow-up-of", str(tmp_path / "g1"))
    )

    def truth(d: str) -> dict[tuple[str, str, str], str]:
        with (tmp_path / d / "truth" / "entities.csv").open(encoding="utf-8", newline="") as fh:
            return {
                (r["dept"], r["kind"], r["record_id"]): r["entity_key"] for r in csv.DictReader(fh)
            }

    first, second = truth("g1"), truth("g2")
    shared = set(first) & set(second)
    assert 0 < len(shared) < 0.3 * len(second)
    assert all(first[k] == second[k] for k in shared)  # a record ID keeps its entity
    m2 = yaml.safe_load((tmp_path / "g2" / "batch" / "manifest.yaml").read_text("utf-8"))
    m1 = yaml.safe_load((tmp_path / "g1" / "batch" / "manifest.yaml").read_text("utf-8"))
    assert m2["batch_id"] == m1["batch_id"] + "-b2"
    state = str(tmp_path / "st")
    _ok(cg("link", str(tmp_path / "g1" / "batch"), "--out", str(tmp_path / "r1"), "--state", state))
    _ok(cg("link", str(tmp_path / "g2" / "batch"), "--out", str(tmp_path / "r2"), "--state", state))
    summary = json.loads((tmp_path / "r2" / "report.json").read_text("utf-8"))["state"]
    assert summary["changed"] > 0 and summary["new"] > summary["changed"]
    bad = cg("generate", "--out", str(tmp_path / "g3"), *size, "--follow-up-of", str(tmp_path))
    assert bad.returncode == 2 and "holds no truth/entities.csv" in bad.stderr


def _with_roles(root: Path, registered: int, roles: list[list[str]]) -> Path:
    """A batch of ``registered`` clean AMR enterprise rows and a role file of ``roles``."""
    return write_batch(
        root,
        [
            Source("amr.csv", csv_text([good_row(i) for i in range(1, registered + 1)]).encode()),
            Source(
                "roles.csv",
                csv_text(roles, header=ROLE_HEADER).encode(),
                "role",
                record_id="序号",
                columns=dict(ROLE_COLUMNS),
            ),
        ],
    )


def test_link_summary_counts_mention_only_persons(tmp_path: Path) -> None:
    roles = [[f"T{i:06d}", f"成都市华瑞{i}机械设备有限公司", f"赵{i}", "监事"] for i in range(1, 4)]
    batch = _with_roles(tmp_path / "b", 3, roles)
    out = _ok(cg("link", str(batch), "--out", str(tmp_path / "run"), "--no-state"))
    golden = [
        json.loads(x) for x in (tmp_path / "run" / "golden.jsonl").read_text("utf-8").splitlines()
    ]
    n = sum(1 for g in golden if g["type"] == "Person" and not g["members"])
    assert n == 3
    assert f"persons known only from role and shareholding rows: {n} new golden persons" in out


def test_link_summary_counts_mention_only_enterprises(tmp_path: Path) -> None:
    """Role rows naming enterprises no record carries: golden enterprises known only from
    mentions, counted in report.json and the summary as golden.jsonl holds them."""
    roles = [[f"T{i:06d}", f"重庆市未登记{i}贸易有限公司", f"钱{i}", "监事"] for i in range(1, 3)]
    roles.append(["T000003", "成都市华瑞1机械设备有限公司", "孙三", "监事"])  # a registered one
    batch = _with_roles(tmp_path / "b", 2, roles)
    for how in ("--no-state", "--state"):
        run = tmp_path / f"run{how}"
        args = [how] if how == "--no-state" else [how, str(tmp_path / "state")]
        out = _ok(cg("link", str(batch), "--out", str(run), *args))
        golden = [json.loads(x) for x in (run / "golden.jsonl").read_text("utf-8").splitlines()]
        n = sum(1 for g in golden if g["type"] == "Enterprise" and g.get("known_from"))
        assert n == 2
        assert json.loads((run / "report.json").read_text("utf-8"))["mention_only_enterprises"] == n
        assert (
            f"enterprises known only from role, shareholding and branch rows: {n} golden "
            "enterprises (no enterprise record)" in out
        ), out


def test_serve_takes_the_graph_options_of_the_other_graph_commands(tmp_path: Path) -> None:
    """`serve --graph-data-dir D` (the embedded server's address and password) and `serve
    --uri URI --password-file F`, as `show`, `load` and `graph query` take them."""
    from graph import server

    data = tmp_path / "graph"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        gport = s.getsockname()[1]
    info = server.start(data, gport)
    try:
        batch = write_batch(tmp_path / "b", [Source("amr.csv", csv_text([good_row(1)]).encode())])
        _ok(cg("link", str(batch), "--out", str(tmp_path / "run"), "--no-state"))
        _ok(cg("load", str(tmp_path / "run"), "--data-dir", str(data)))
        secret = tmp_path / "graph.password"
        secret.write_text(info.password, "utf-8")
        secret.chmod(0o600)
        uri = f"falkordb://127.0.0.1:{gport}/credgraph"
        for extra in (
            ["--graph-data-dir", str(data)],
            ["--uri", uri, "--password-file", str(secret)],
        ):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "credgraph.cli",
                    "serve",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(tmp_path / "api"),
                    *extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                ready = None
                for _ in range(150):
                    try:
                        url = f"http://127.0.0.1:{port}/readyz"
                        with urllib.request.urlopen(url, timeout=2) as r:
                            ready = json.loads(r.read())
                        break
                    except OSError:
                        time.sleep(0.1)
                assert ready == {"status": "ready", "graph": "reachable"}, extra
            finally:
                proc.send_signal(signal.SIGINT)
                proc.communicate(timeout=30)
    finally:
        server.stop(data)
    help_text = _ok(cg("serve", "--help"))
    assert "--graph-data-dir" in help_text and "--password-file" in help_text


def test_a_one_shot_run_into_a_graph_of_a_state_is_a_warning(
    tmp_path: Path, graph_uri: str, graph_server: ServerInfo
) -> None:
    """A one-shot run's IDs are content-derived: loaded beside a state's runs, every entity
    the two share stands in the graph twice. The load says so (and still loads)."""
    target = _target(graph_uri, graph_server)
    b1 = write_batch(tmp_path / "b1", [Source("amr.csv", csv_text([good_row(i) for i in range(1, 4)]).encode())])  # fmt: skip
    _ok(cg("link", str(b1), "--out", str(tmp_path / "r1"), "--state", str(tmp_path / "st")))
    _ok(cg("link", str(b1), "--out", str(tmp_path / "r0"), "--no-state"))
    # Into a graph of its own (empty): no warning.
    alone = [target[0], target[1] + "_alone", *target[2:]]
    loaded = cg("load", str(tmp_path / "r0"), *alone)
    assert loaded.returncode == 0 and "warning" not in loaded.stderr, loaded.stderr
    bulk = _ok(cg("load", str(tmp_path / "r1"), *target))
    # The same run again takes the MERGE path: the same nodes line (no bookkeeping node in it).
    merge = _ok(cg("load", str(tmp_path / "r1"), *target))
    assert "by the MERGE path" in merge and "LoadedState" not in merge
    assert [ln for ln in merge.splitlines() if ln.startswith("nodes: ")] == [
        ln for ln in bulk.splitlines() if ln.startswith("nodes: ")
    ]
    batch = yaml.safe_load((b1 / "manifest.yaml").read_text("utf-8"))["batch_id"]
    beside = cg("load", str(tmp_path / "r0"), *target)
    assert beside.returncode == 0, beside.stderr
    assert (
        f"warning: {tmp_path / 'r0'} is a one-shot run (--no-state: content-derived IDs) and "
        f"the graph holds the runs of a resolution state (up to batch {batch}): each entity the "
        "two share stands in it twice, under both IDs; link the batch with that --state, or "
        "load the run into a graph of its own"
    ) in " ".join(beside.stderr.split())
    # What it warns of: the firm under its state ID and under its one-shot ID.
    query = "MATCH (e:Enterprise) WHERE e.name = $n RETURN e.uid AS uid ORDER BY uid"
    found = _ok(cg("graph", "query", query, "--param", "n=成都市华瑞1机械设备有限公司", "--jsonl", *target))  # fmt: skip
    uids = [json.loads(line)["uid"] for line in found.splitlines() if line.startswith("{")]
    assert len(uids) == 2 and sum(bool(re.fullmatch(r"E\d{9}", u)) for u in uids) == 1, uids


def test_serve_names_its_own_graph_data_dir_option_when_no_server_runs(tmp_path: Path) -> None:
    """`serve`'s --data-dir is the API's own directory: with no graph server in the graph
    data directory, the error points at --graph-data-dir (it said --data-dir)."""
    nothing = tmp_path / "no-graph"
    proc = cg("serve", "--port", "1", "--data-dir", str(tmp_path / "api"), "--graph-data-dir", str(nothing))  # fmt: skip
    assert proc.returncode == 1
    error = " ".join(proc.stderr.split())
    assert error.startswith(
        f"Error: the graph server of {nothing} is not running: start it with "
        f"`credgraph graph start --data-dir {nothing}`, or pass --graph-data-dir or --uri"
    ), error
    assert "Traceback" not in proc.stderr
