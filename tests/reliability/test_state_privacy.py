"""Issue 12, item 8: privacy by construction.

The masked-ID tests attack the outputs as a reader would: for each published person, every
ID number consistent with what the same reader sees (masked form, birth date or year,
gender, and — conservatively — the true six-digit division code, which an address gives
away) is counted with the check-character arithmetic. Fewer than 10,000 candidates means
the published form narrows the number too far.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from fixtures.split import split_batch
from graph.load import load_run
from graph.store import open_store
from resolver.ingest.manifest import load_manifest
from resolver.linkage.link import _ingest, run_link
from resolver.state.incremental import run_link_stateful
from resolver.state.store import State
from tests.conftest import SAMPLE

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
MIN_CANDIDATES = 10_000


@functools.cache
def _seq_sums(visible: str, gender: str | None) -> list[int]:
    """How many sequence numbers (ID positions 15-17) give each weighted sum mod 11, given
    the visible characters of the mask and the gender (17th digit odd = male)."""
    counts = [0] * 11
    for seq in range(1000):
        digits = f"{seq:03d}"
        if any(m != "*" and m != d for m, d in zip(visible, digits, strict=True)):
            continue
        if gender in ("M", "F") and (int(digits[2]) % 2 == 1) != (gender == "M"):
            continue
        counts[sum(int(d) * w for d, w in zip(digits, WEIGHTS[14:], strict=True)) % 11] += 1
    return counts


@functools.cache
def _year(y: int) -> list[tuple[str, int]]:
    """Each date of a year as YYYYMMDD with the weighted sum of its digits (positions 7-14)."""
    out = []
    d = dt.date(y, 1, 1)
    while d.year == y:
        text = d.strftime("%Y%m%d")
        out.append((text, sum(int(c) * w for c, w in zip(text, WEIGHTS[6:14], strict=True))))
        d += dt.timedelta(days=1)
    return out


def _dates(attrs: dict[str, Any]) -> Iterator[tuple[str, int]]:
    birth = str(attrs.get("birth_date") or "").replace("-", "")[:8]
    if len(birth) == 8:
        yield from (x for x in _year(int(birth[:4])) if x[0] == birth)
        return
    years = [int(attrs["birth_year"])] if attrs.get("birth_year") else range(1900, 2027)
    for y in years:
        yield from _year(y)


def candidates(true_id: str, masked: str, attrs: dict[str, Any]) -> tuple[int, bool]:
    """(number of ID numbers consistent with what is published, whether the true one is
    among them). The attacker is given the true division code."""
    division = true_id[:6]
    if any(m != "*" and m != c for m, c in zip(masked[:6], division, strict=True)):
        return 0, False
    div_sum = sum(int(c) * w for c, w in zip(division, WEIGHTS, strict=False))
    seq = _seq_sums(masked[14:17], attrs.get("gender"))
    total = 0
    true_found = False
    for date, date_sum in _dates(attrs):
        if total >= 10 * MIN_CANDIDATES and true_found:
            break  # enough: the exact count no longer matters
        if any(m != "*" and m != c for m, c in zip(masked[6:14], date, strict=True)):
            continue
        partial = div_sum + date_sum
        for s_, n in enumerate(seq):
            if n and (masked[17] == "*" or CHECK[(partial + s_) % 11] == masked[17]):
                total += n
        if date == true_id[6:14]:
            body = true_id[:17]
            true_found = (
                CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]
                == true_id[17]
                and seq[sum(int(c) * w for c, w in zip(body[14:], WEIGHTS[14:], strict=True)) % 11]
                > 0
                and all(m in ("*", c) for m, c in zip(masked, true_id, strict=True))
            )
    return total, true_found


@pytest.fixture(scope="module")
def linked(
    generated: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[tuple[str, str], str]]:
    batch = generated[0] / "batch"
    run_dir = tmp_path_factory.mktemp("privacy") / "run"
    run_link(batch, run_dir)
    records, _rejects, _files = _ingest(load_manifest(batch), None, workers=1)
    true_ids = {
        (r.dept, r.record_id): r.std["id18"]
        for r in records.values()
        if r.kind == "person" and r.std.get("id18")
    }
    return run_dir, true_ids


def _true_id(golden: dict[str, Any], true_ids: dict[tuple[str, str], str]) -> str | None:
    """The ID number survivorship published (masked): the smallest of the members'."""
    found = sorted(
        {true_ids[k] for m in golden["members"] if (k := (m["dept"], m["record_id"])) in true_ids}
    )
    return found[0] if found else None


def _consistent(true_id: str, attrs: dict[str, Any]) -> bool:
    birth = str(attrs.get("birth_date") or attrs.get("birth_year") or "").replace("-", "")
    gender = attrs.get("gender")
    male = int(true_id[16]) % 2 == 1
    return true_id[6:14].startswith(birth) and gender in (None, "M" if male else "F")


def _persons(run_dir: Path) -> list[dict[str, Any]]:
    with (run_dir / "golden.jsonl").open(encoding="utf-8") as fh:
        return [g for line in fh if (g := json.loads(line))["type"] == "Person"]


def test_the_masked_id_in_golden_jsonl_leaves_at_least_10000_candidates(
    linked: tuple[Path, dict[tuple[str, str], str]],
) -> None:
    run_dir, true_ids = linked
    counts = []
    for g in _persons(run_dir):
        tid = _true_id(g, true_ids)
        if tid is None or "id_masked" not in g:
            continue
        n, found = candidates(tid, g["id_masked"], g["attributes"])
        # The attack is sound: the truth is a candidate whenever the published birth and
        # gender agree with the number (noisy sources sometimes make them differ).
        assert found or not _consistent(tid, g["attributes"]), (g["id"], g["id_masked"])
        counts.append(n)
        # The attack is strong enough to break the old form (first 4 + last 4 + birth date).
        legacy = tid[:4] + "*" * 10 + tid[-4:]
        old_attrs = {
            **g["attributes"],
            "birth_date": tid[6:10] + "-" + tid[10:12] + "-" + tid[12:14],
        }
        assert candidates(tid, legacy, old_attrs)[0] < 100
    assert len(counts) > 500
    assert min(counts) >= MIN_CANDIDATES, sorted(counts)[:5]


def test_person_nodes_in_the_graph_leave_at_least_10000_candidates(
    linked: tuple[Path, dict[tuple[str, str], str]], graph_uri: str
) -> None:
    run_dir, true_ids = linked
    golden = {g["id"]: g for g in _persons(run_dir)}
    store = open_store(graph_uri)
    try:
        load_run(store, run_dir)
        nodes = store.read("MATCH (p:Person) RETURN p AS p")
    finally:
        store.close()
    counts = []
    for row in nodes:
        props = dict(row["p"])
        if not props.get("id_masked"):
            continue
        tid = _true_id(golden[props["uid"]], true_ids)
        if tid is None:  # a person known only from mentions: name and masked ID only
            assert not {"birth_year", "birth_date", "gender"} & set(props)
            continue
        assert tid not in {str(v) for v in props.values()}
        n, found = candidates(tid, props["id_masked"], props)
        assert found or not _consistent(tid, props)
        counts.append(n)
    assert len(counts) > 500
    assert min(counts) >= MIN_CANDIDATES


def test_published_id_hashes_are_not_computable_from_a_public_salt(
    linked: tuple[Path, dict[tuple[str, str], str]],
) -> None:
    run_dir, true_ids = linked
    public = set()
    hashes = set()
    for g in _persons(run_dir):
        tid = _true_id(g, true_ids)
        if tid and g.get("id_hash"):
            hashes.add(g["id_hash"])
            public.add(hmac.new(b"credgraph", tid.encode(), hashlib.sha256).hexdigest()[:32])
    assert hashes and not hashes & public


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def sample_part(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return split_batch(SAMPLE / "batch", tmp_path_factory.mktemp("parts"), 4)[0]


def test_state_run_and_key_files_are_owner_only(
    sample_part: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDGRAPH_STATE_KEY")
    monkeypatch.setattr("os.umask", lambda _m: 0o022)
    state, run_dir = tmp_path / "state", tmp_path / "runs" / "r1"
    run_link_stateful(sample_part, run_dir, state)
    assert _mode(state) == 0o700 and _mode(run_dir) == 0o700
    for name in ("state.db", "state.db-wal", "state.db-shm", "state.key", "lock"):
        if (state / name).exists():
            assert _mode(state / name) == 0o600, name
    assert (state / "state.key").exists()
    files = list(run_dir.iterdir())
    assert {"links.csv", "golden.jsonl", "run.json"} <= {f.name for f in files}
    assert all(_mode(f) == 0o600 for f in files), [(f.name, oct(_mode(f))) for f in files]
    # A key file others can read is refused.
    from resolver.state.sealing import StateKeyError

    (state / "state.key").chmod(0o644)
    with pytest.raises(StateKeyError, match="readable by other users"):
        State(state)


def test_no_id_number_or_salt_in_clear_in_the_state(
    sample_part: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    run_link_stateful(sample_part, tmp_path / "r1", state)
    records, _rejects, _files = _ingest(load_manifest(sample_part), None, workers=1)
    secrets = {
        v
        for r in records.values()
        for k, v in (*r.raw.items(), *r.std.items())
        if k in ("id_number", "legal_rep_id", "holder_id_number", "id18") and v and len(v) >= 15
    }
    assert len(secrets) > 50
    with State(state) as st:
        salt = st.salt
        members = list(st.all_records(("person",)))
        assert any(rec.std.get("id18") for rec, _ in members)  # opened again with the key
        assert st.meta("salt") is None
    db = sqlite3.connect(state / "state.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = b"".join(p.read_bytes() for p in state.iterdir() if p.name.startswith("state.db"))
    leaked = [s for s in secrets if s.encode() in data]
    assert leaked == []
    assert salt.encode() not in data
    # Another key does not open the state.
    from resolver.state.sealing import StateKeyError, key_id

    sealed_with = key_id(os.environ["CREDGRAPH_STATE_KEY"].encode())
    other = Fernet.generate_key()
    monkeypatch.setenv("CREDGRAPH_STATE_KEY", other.decode())
    with pytest.raises(StateKeyError) as refused:
        State(state)
    # The message names the key used (where it came from) and the one the state needs.
    assert str(refused.value) == (
        f"{state / 'state.db'}: the state key (CREDGRAPH_STATE_KEY, key id {key_id(other)}) "
        f"is not the one this state was sealed with (key id {sealed_with}): use that key, "
        "backed up with the state"
    )


def test_a_state_written_before_sealing_is_sealed_when_opened(
    sample_part: Path, tmp_path: Path
) -> None:
    """A state from before: clear ID fields, a clear salt in meta, clear ``I|`` keys and
    unkeyed hashes. Opening it seals it in place; its records, IDs and salt are kept."""
    state = tmp_path / "state"
    run_link_stateful(sample_part, tmp_path / "r1", state)
    with State(state) as st:
        person = next(rec for rec, _ in st.all_records(("person",)) if rec.std.get("id18"))
        id18 = person.std["id18"]
        links_before = dict(
            st.db.execute("SELECT dept || ':' || record_id, entity_id FROM records")
        )
        # Write it back as an old credgraph did.
        old_salt = "0" * 64
        st.db.execute("DELETE FROM meta WHERE key IN ('key_id', 'salt_sealed')")
        st.db.execute("INSERT INTO meta VALUES ('salt', ?)", (old_salt,))
        st.db.execute(
            "UPDATE records SET raw = ?, std = ? WHERE dept = ? AND kind = ? AND record_id = ?",
            (json.dumps(person.raw), json.dumps(person.std), *person.key),
        )
        st.db.execute("DELETE FROM keys WHERE dept = ? AND kind = ? AND record_id = ?", person.key)
        st.db.execute("INSERT INTO keys VALUES (?, ?, ?, ?)", (f"I|{id18}", *person.key))
    with State(state) as st:
        assert st.salt == old_salt and st.meta("salt") is None
        raw, std = st.db.execute(
            "SELECT raw, std FROM records WHERE dept = ? AND kind = ? AND record_id = ?",
            person.key,
        ).fetchone()
        assert id18 not in raw + std
        assert st.record(person.key).std["id18"] == id18  # type: ignore[union-attr]
        assert st.records_by_key([f"I|{id18}"], 40) == {person.key}
        assert (
            dict(st.db.execute("SELECT dept || ':' || record_id, entity_id FROM records"))
            == links_before
        )
    db = sqlite3.connect(state / "state.db")
    assert db.execute("SELECT COUNT(*) FROM keys WHERE key = ?", (f"I|{id18}",)).fetchone()[0] == 0
    db.close()


def test_id_fields_sealed_with_fernet_by_an_older_credgraph_still_open(
    sample_part: Path, tmp_path: Path
) -> None:
    """ID fields are sealed with AES-GCM (``aesgcm:``); a state whose values were sealed as
    Fernet tokens (``fernet:``) opens with the same key, and a tampered value is refused."""
    from resolver.state.sealing import FERNET_PREFIX, SEALED_PREFIX, StateKeyError

    state = tmp_path / "state"
    run_link_stateful(sample_part, tmp_path / "r1", state)
    with State(state) as st:
        person = next(rec for rec, _ in st.all_records(("person",)) if rec.std.get("id18"))
        id18 = person.std["id18"]
        std_text = st.db.execute(
            "SELECT std FROM records WHERE dept = ? AND kind = ? AND record_id = ?", person.key
        ).fetchone()[0]
        assert json.loads(std_text)["id18"].startswith(SEALED_PREFIX)
        fernet = Fernet(st.key)
        old = {
            k: FERNET_PREFIX + fernet.encrypt(v.encode()).decode() if k == "id18" else v
            for k, v in person.std.items()
        }
        st.db.execute(
            "UPDATE records SET std = ? WHERE dept = ? AND kind = ? AND record_id = ?",
            (json.dumps(old), *person.key),
        )
    with State(state) as st:
        assert st.record(person.key).std["id18"] == id18  # type: ignore[union-attr]
        token = json.loads(std_text)["id18"]
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        with pytest.raises(StateKeyError, match="record field id18: the state key does not"):
            st.sealer.unseal(json.dumps({"id18": tampered}))
