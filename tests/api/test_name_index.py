"""The in-memory bigram index finds exactly what a substring scan finds, in search order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api.enterprise.name_index import NameIndex

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
