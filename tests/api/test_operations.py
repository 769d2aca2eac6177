"""Probes against a real graph server that is stopped and started; the audit log."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest

from api.persisted import public_queries
from graph import server
from graph.load import load_run
from graph.store import open_store
from tests.api.conftest import Api, World, make_api, settings_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readyz_follows_the_graph_server_down_and_up(world: World, tmp_path: Path) -> None:
    data = tmp_path / "graph"
    info = server.start(data, _free_port())
    try:
        store = open_store(info.uri)
        try:
            load_run(store, world.runs[0])
        finally:
            store.close()
        moved = World(info.uri, world.state, world.runs, world.survivor, world.absorbed, world.root)
        q = "{ enterprises(first: 3) { totalCount } }"
        for a in make_api(settings_for(moved, tmp_path / "api")):
            assert a.client.get("/healthz").json() == {"status": "ok"}
            assert a.client.get("/readyz").status_code == 200
            assert a.data("regulator", q)["enterprises"]["totalCount"] > 0
            server.stop(data)
            r = a.client.get("/readyz")
            assert r.status_code == 503 and r.json()["graph"] == "unreachable"
            g = a.post("regulator", q)
            assert g.status_code == 503
            assert g.json()["errors"][0]["extensions"]["code"] == "GRAPH_UNAVAILABLE"
            assert g.json()["errors"][0]["message"] == "the graph is unavailable; retry shortly"
            assert a.client.get("/healthz").status_code == 200  # the process itself is alive
            info = server.start(data, info.port)  # same port, same data: no app restart
            statuses = [a.client.get("/readyz").status_code for _ in range(5)]
            assert statuses[-1] == 200, statuses
            assert a.data("regulator", q)["enterprises"]["totalCount"] > 0
    finally:
        server.stop(data)


def test_audit_log_records_requests_without_personal_identifiers(
    world: World, tmp_path: Path
) -> None:
    for a in make_api(settings_for(world, tmp_path / "audit")):
        secret_text = "440105199001011234"  # an ID number as a variable: never stored in clear
        a.post(
            "regulator",
            "query Find($t: String!) { search(text: $t) { totalCount } }",
            {"t": secret_text},
        )
        found = a.data(
            "public", public_queries()["PublicSearch"], {"text": "测接口五金", "first": 5}
        )["search"]["edges"]
        assert world.survivor in {e["node"]["uid"] for e in found}
        a.post("regulator", "{ auditLog(first: 1) { seq } }")  # refused: admins only
        log = a.data(
            "admin",
            "{ auditLog(first: 10) { seq at requestId keyId role operation variablesHash entityIds resultSize status } }",
        )["auditLog"]
        by_op = {e["operation"]: e for e in log}
        find = by_op["Find"]
        assert find["role"] == "regulator" and find["keyId"] and find["status"] == 200
        assert find["variablesHash"] and secret_text not in find["variablesHash"]
        public = by_op["PublicSearch"]
        assert public["keyId"] is None and public["role"] == "public"
        assert public["entityIds"] == sorted({world.survivor, *public["entityIds"]})
        assert world.survivor in public["entityIds"] and public["resultSize"] > 50
        assert any(e["status"] == 403 and e["role"] == "regulator" for e in log)
        db_path = a.settings.audit_db
    raw = db_path.read_bytes()
    assert secret_text.encode() not in raw
    assert oct(db_path.stat().st_mode & 0o777) == "0o600"
    db = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit SET role = 'admin'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit")
    finally:
        db.close()


def test_json_logs_carry_the_request_id(world: World, tmp_path: Path) -> None:
    from api import logs

    log_file = tmp_path / "api.log"
    logs.configure(log_file)
    try:
        for a in make_api(settings_for(world, tmp_path / "logs")):
            r = a.post("regulator", "{ enterprises(first: 2) { totalCount } }")
            rid = r.headers["X-Request-ID"]
    finally:
        logs.configure(None)
    lines = [json.loads(x) for x in log_file.read_text("utf-8").splitlines()]
    mine = [x for x in lines if x.get("request_id") == rid]
    assert len(mine) == 1 and mine[0]["status"] == 200 and mine[0]["graph_queries"] == 2
    assert mine[0]["role"] == "regulator"


def test_graphiql_only_for_signed_in_roles(api: Api) -> None:
    r = api.client.get("/graphql")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    import base64

    basic = base64.b64encode(f"me:{api.tokens['regulator']}".encode()).decode()
    page = api.client.get("/graphql", headers={"Authorization": f"Basic {basic}"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    # the browser then sends the same credentials with its queries
    q = api.client.post(
        "/graphql",
        json={"query": "{ enterprises(first: 1) { totalCount } }"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert q.status_code == 200
