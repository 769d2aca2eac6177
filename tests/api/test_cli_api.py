"""`credgraph apikey …` and `credgraph serve` as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
from click.testing import CliRunner
from rich.cells import cell_len

from credgraph.cli import main
from tests.api.conftest import World


def test_apikey_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "api"
    r = runner.invoke(
        main,
        ["apikey", "create", "--role", "regulator", "--name", "市监局", "--data-dir", str(data)],
    )
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("cg_")
    key_id = token.split("_")[1]
    runner.invoke(
        main, ["apikey", "create", "--role", "admin", "--name", "ops-bot", "--data-dir", str(data)]
    )
    listed = runner.invoke(main, ["apikey", "list", "--data-dir", str(data)])
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "role", "name", "created", "state"] and len(lines) == 3
    mine = next(line for line in lines if line.startswith(key_id))
    assert mine.split()[1:3] == ["regulator", "市监局"] and mine.endswith("active")
    # columns line up on the terminal: 市监局 takes six cells, as wide as "ops-bo"
    starts = {cell_len(line[: re.search(r"\d{4}-\d\d-\d\dT", line).start()]) for line in lines[1:]}  # type: ignore[union-attr]
    assert len(starts) == 1 and cell_len(lines[0][: lines[0].index("created")]) in starts
    raw = (data / "keys.db").read_bytes()
    assert token.split("_", 2)[2].encode() not in raw  # only the hash is kept
    assert oct((data / "keys.db").stat().st_mode & 0o777) == "0o600"
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    bad = runner.invoke(
        main, ["apikey", "create", "--role", "public", "--name", "x", "--data-dir", str(data)]
    )
    assert bad.exit_code == 2 and "Invalid value for '--role'" in bad.output
    rev = runner.invoke(main, ["apikey", "revoke", key_id, "--data-dir", str(data)])
    assert rev.exit_code == 0 and f"key {key_id} (regulator, 市监局) revoked" in rev.stdout
    assert "revoked" in runner.invoke(main, ["apikey", "list", "--data-dir", str(data)]).stdout
    missing = runner.invoke(main, ["apikey", "revoke", "nope", "--data-dir", str(data)])
    assert missing.exit_code == 1 and "no API key with id 'nope'" in missing.output


def test_serve_answers_on_the_given_port(world: World, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CREDGRAPH_GRAPH_URI": world.uri}
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
            "--state",
            str(world.state),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx2.get(base + "/healthz").status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.1)
        assert httpx2.get(base + "/readyz").json() == {"status": "ready", "graph": "reachable"}
        r = httpx2.post(base + "/graphql", json={"query": "{ enterprises { totalCount } }"})
        assert r.status_code == 403  # the public may only run published queries
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert f"credgraph API on http://127.0.0.1:{port}/graphql" in err.decode()
    assert f"public page on http://127.0.0.1:{port}/ (Ctrl-C stops it)" in err.decode()
    assert proc.returncode == 0


def test_api_data_files_are_owner_only_in_a_shared_directory(tmp_path: Path) -> None:
    """A data directory that already holds other things keeps its mode, so every file the API
    writes there (SQLite's -wal and -shm included) and its jobs directory are owner-only
    themselves, also under umask 022."""
    from api.audit import AuditLog
    from api.jobs.manager import JobManager
    from api.keys import KeyStore
    from api.settings import ApiSettings

    data = tmp_path / "shared"
    data.mkdir(mode=0o755)
    (data / "notes.txt").write_text("someone else's file", "utf-8")
    old = os.umask(0o022)
    try:
        settings = ApiSettings(graph_uri="falkordb://127.0.0.1:1/credgraph", data_dir=data)
        settings.prepare()
        keys = KeyStore(settings.keys_db)
        keys.create("regulator", "市监局")
        audit = AuditLog(settings.audit_db)
        audit.append(
            request_id="r1", key_id=None, role="public", operation="PublicSearch",
            variables={"text": "茶叶"}, entity_ids={"E000000001"}, result_size=1, status=200,
        )  # fmt: skip
        JobManager(settings.jobs_dir, None, tmp_path / "state", settings.graph_uri)
        modes = {
            p.name: oct(p.stat().st_mode & 0o777)
            for p in (*data.iterdir(), *settings.jobs_dir.iterdir())
            if p.name != "notes.txt"
        }
        audit.close()
        keys.close()
    finally:
        os.umask(old)
    assert {"keys.db", "audit.db", "audit.db-wal", "audit.db-shm", "jobs.db", "jobs"} <= set(modes)
    assert modes == {name: "0o700" if name == "jobs" else "0o600" for name in modes}
    assert oct(data.stat().st_mode & 0o777) == "0o755"  # the shared directory keeps its mode
