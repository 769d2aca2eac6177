"""The API test world: the sample batch linked into a state in two batches (the second
merges two enterprises, so an old ID redirects), loaded into a graph on the session's real
server, and the real HTTP app with one API key per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.keys import KeyStore
from api.settings import ApiSettings, Limits
from graph.load import load_run
from graph.server import ServerInfo
from graph.store import open_store
from resolver.linkage.link import LinkConfig
from resolver.standardize import identifiers as ids
from resolver.state.incremental import run_link_stateful
from resolver.state.store import State
from tests.batch_plus import batch_plus
from tests.conftest import SAMPLE

MERGE_USCC = ids.make_uscc("9", "1", "440605", "6A2B4C1D")
ROLES = ("public", "regulator", "tax_officer", "admin")
#: Wide review band so the queue has pairs to show.
CFG = LinkConfig(match_threshold=0.9, review_threshold=0.05)


def _batch_with(batch: Path, dest: Path, rows: list[list[str]], batch_id: str) -> Path:
    return batch_plus(batch, dest, rows, batch_id=batch_id, dept="APITEST", file="api_ent.csv")


@dataclass
class World:
    uri: str
    state: Path
    runs: list[Path]
    survivor: str
    absorbed: str
    root: Path


@pytest.fixture(scope="session")
def world(graph_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("api_world")
    state = root / "state"
    first = [
        [
            "A1",
            MERGE_USCC,
            "佛山市南海区测接口五金有限公司",
            "广东省佛山市南海区桂城街道南海大道北8号",
            "0757-81112222",
        ],
        ["A2", "", "测接口五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444"],
    ]
    second = [
        *first,
        ["A3", MERGE_USCC, "测接口五金", "广东省广州市天河区石牌街道天河路99号", "020-83334444"],
    ]
    b1 = _batch_with(SAMPLE / "batch", root / "b1", first, "api-1")
    b2 = _batch_with(SAMPLE / "batch", root / "b2", second, "api-2")
    uri = graph_server.uri.rsplit("/", 1)[0] + "/api_world"
    store = open_store(uri)
    runs = []
    try:
        for k, b in enumerate((b1, b2)):
            run = root / f"run{k}"
            run_link_stateful(b, run, state, CFG)
            load_run(store, run)
            runs.append(run)
    finally:
        store.close()
    with State(state) as st:
        rows = st.db.execute(
            "SELECT id, redirect_to FROM entities WHERE status = 'merged' AND id LIKE 'E%'"
        ).fetchall()
    absorbed, survivor = next((a, s) for a, s in rows if s)
    return World(uri, state, runs, survivor, absorbed, root)


def settings_for(world: World, data_dir: Path, **changes: Any) -> ApiSettings:
    limits = Limits(rate_signed_in="100000/second", rate_public="100000/second")
    s = ApiSettings(
        graph_uri=world.uri,
        data_dir=data_dir,
        state_dir=world.state,
        inbox_dir=world.root / "inbox",
        limits=limits,
    )
    return replace(s, **changes)


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    settings: ApiSettings

    def post(self, role: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role != "public" else {}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.client.post("/graphql", json=body, headers=headers)

    def data(self, role: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        r = self.post(role, query, variables)
        body = r.json()
        assert r.status_code == 200 and "errors" not in body, (r.status_code, body)
        return body["data"]

    @property
    def graph_queries(self) -> int:
        return int(self.client.app.state.api.graph.queries)  # type: ignore[attr-defined]


def make_api(settings: ApiSettings) -> Iterator[Api]:
    settings.prepare()
    keys = KeyStore(settings.keys_db)
    tokens = {r: keys.create(r, f"test {r}")[1] for r in ROLES[1:]}
    tokens["public"] = ""
    with TestClient(create_app(settings)) as client:
        yield Api(client, tokens, settings)


@pytest.fixture(scope="session")
def api(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app as deployed (persisted queries only for the public)."""
    yield from make_api(settings_for(world, tmp_path_factory.mktemp("api_data")))


@pytest.fixture(scope="session")
def open_api(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app with the public allowlist off: the field rules underneath are tested."""
    yield from make_api(
        settings_for(world, tmp_path_factory.mktemp("api_open"), public_persisted_only=False)
    )
