"""A damaged sealed ID value (truncated, garbled, a byte changed) is refused with an error
that names the record and says the value is damaged — not a traceback, and not a message
blaming the key that opened every other value."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from resolver.state.sealing import SEALED_PREFIX, Sealer, StateKeyError
from resolver.state.store import State

DAMAGE: list[tuple[str, Callable[[str], str]]] = [
    ("truncated", lambda t: t[:20]),
    ("prefix only", lambda t: SEALED_PREFIX),
    ("not base64", lambda t: SEALED_PREFIX + "!!!!"),
    ("a character changed", lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1]),
    ("not ASCII", lambda t: SEALED_PREFIX + "é" + t[8:]),
    ("a garbled Fernet token", lambda t: "fernet:xyz"),
]


@pytest.mark.parametrize(("name", "damage"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_value_is_refused_naming_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, damage: Callable[[str], str]
) -> None:
    monkeypatch.setenv("CREDGRAPH_STATE_KEY", Fernet.generate_key().decode())
    with State(tmp_path) as st:
        token = st.sealer.encrypt("110105194912310021")
        assert st.sealer.decrypt(token, "x") == "110105194912310021"
        st.db.execute(
            "INSERT INTO records (dept, record_id, kind, file, line, batch_id, as_of, hash, "
            "raw, std, entity_id, withdrawn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                "AMR",
                "R1",
                "person",
                "f.csv",
                2,
                "b1",
                "2026-11-01",
                "h",
                json.dumps({"name": "张三"}),
                json.dumps({"id18": damage(token)}),
                "P1",
            ),
        )
    with State(tmp_path) as st, pytest.raises(StateKeyError) as err:
        list(st.all_records(("person",)))
    assert str(err.value) == (
        "record AMR/person/R1, record field id18: the state key does not open this value "
        "(it is damaged, or was sealed with another key)"
    )
    assert "110105" not in str(err.value)


def test_unseal_without_a_record_name_keeps_its_message() -> None:
    sealer = Sealer(Fernet.generate_key())
    with pytest.raises(StateKeyError, match=r"^record field id_number: the state key does not"):
        sealer.unseal(json.dumps({"id_number": SEALED_PREFIX + "AAAA"}))
