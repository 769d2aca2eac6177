"""The in-memory bigram index finds exactly what a substring scan finds, in search order;
the app rebuilds it only when the graph's change marker moves."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from api.enterprise.name_index import NameIndex
from graph import marker
from graph.store import open_store
from tests.api.conftest import World, make_api, settings_for

CHARS = "广州市深圳腾讯科技有限公司原名分"
names = st.text(alphabet=CHARS, min_size=1, max_size=12)


@given(
    st.lists(st.tuples(names, st.lists(names, max_size=2)), min_size=1, max_size=40),
    st.text(alphabet=CHARS, min_size=2, max_size=4),
)
def test_index_equals_a_scan(rows: list[tuple[str, list[str]]], text: str) -> None:
    data = [(f"E{i:04d}", name, formers) for i, (name, formers) in enumerate(rows)]
    index = NameIndex(data)
    found = [index.entries[i].uid for i in index.search(text)]
    expected = sorted(
        ((len(n), u) for u, n, f in data if any(text in t for t in (n, *f))),
    )
    assert found == [u for _, u in expected]
    if found:
        first = index.entries[index.search(text)[0]]
        rest = index.search(text)[index.after(index.search(text), (len(first.name), first.uid)) :]
        assert [index.entries[i].uid for i in rest] == found[1:]


def test_the_app_rebuilds_its_index_only_after_the_graph_changed(
    world: World, tmp_path: Path
) -> None:
    limits = replace(settings_for(world, tmp_path).limits, search_index_ttl_seconds=0.0)
    q = "query($t: String!) { search(text: $t, first: 5) { totalCount } }"
    store = open_store(world.uri)
    try:
        name = store.read("MATCH (e:Enterprise) RETURN e.name AS n ORDER BY e.uid LIMIT 1")[0]["n"]
        for api in make_api(settings_for(world, tmp_path / "api", limits=limits)):
            holder = api.client.app.state.api.name_index  # type: ignore[attr-defined]
            total = api.data("regulator", q, {"t": name[:4]})["search"]["totalCount"]
            assert total >= 1 and holder.builds == 1
            for _ in range(20):  # each request past the time-to-live checks the marker
                assert api.data("regulator", q, {"t": name[:4]})["search"]["totalCount"] == total
            assert holder.builds == 1  # the graph did not change: no rebuild
            marker.mark(store, "test: a change")
            for _ in range(200):
                api.data("regulator", q, {"t": name[:4]})
                if holder.builds == 2:
                    break
                time.sleep(0.05)
            assert holder.builds == 2 and holder.version == marker.read_version(store)
    finally:
        store.close()
