"""Batched look-ups of mention subjects in the state give what one look-up per key gives."""

from __future__ import annotations

from pathlib import Path

from resolver.state.incremental import StateResolver, run_link_stateful
from resolver.state.store import State
from tests.conftest import SAMPLE


def test_batched_key_lookups_equal_single_lookups_across_chunks(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    run_link_stateful(SAMPLE / "batch", tmp_path / "run", state_dir)
    with State(state_dir) as state:
        records = list(state.records_of(k for k, _e in _entity_keys(state)))
        keys: list[str] = []
        for rec in records:
            s = rec.std
            for tag, fld in (("U", "uscc"), ("O", "org_code"), ("R", "reg_no"), ("I", "id18")):
                if s.get(fld):
                    keys.append(f"{tag}|{s[fld]}")
            if s.get("name_norm"):
                keys.append(f"n|{s['name_norm']}")
        keys += [f"U|91000000NOSUCHONE{i:02d}" for i in range(30)]  # held by no record
        keys = sorted(set(keys))
        assert len(keys) > 3 * 500  # several chunks of the batched read
        # Records the batch would deliver again count with their new content: not the state's.
        superseded = {rec.key for rec in records[::7]}

        def resolver() -> StateResolver:
            r = StateResolver(state)
            r.superseded = superseded
            return r

        single = resolver()
        expected = {k: single._by_key(k) for k in keys}
        batched = resolver()
        batched._fetch_keys(set(keys))
        assert {k: batched._key_cache[k] for k in keys} == expected
        found = [k for k, v in expected.items() if v is not None]
        assert len(found) > 500 and len(found) < len(keys)
        assert all(expected[k] is None for k in keys if "NOSUCHONE" in k)


def _entity_keys(state: State) -> list[tuple[tuple[str, str, str], str]]:
    return [
        ((d, k, r), e)
        for d, k, r, e in state.db.execute(
            "SELECT dept, kind, record_id, entity_id FROM records "
            "WHERE kind IN ('enterprise', 'person') AND entity_id IS NOT NULL"
        )
    ]
