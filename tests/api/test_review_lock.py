"""A judgement sent through the API while a run holds the state's writer lock is refused,
in a message that names no server path, and nothing is stored (a link marks every judgement
applied when it commits: one stored while it ran would count as applied without having
been applied)."""

from __future__ import annotations

from resolver.state.store import State
from tests.api.conftest import Api, World


def _judgements(world: World) -> list[tuple[object, ...]]:
    with State(world.state) as st:
        return st.db.execute("SELECT * FROM judgements ORDER BY 1, 2, 3, 4, 5").fetchall()


def test_decide_review_respects_the_writer_lock(api: Api, world: World) -> None:
    before = _judgements(world)
    with State(world.state) as st:
        rows = st.db.execute(
            "SELECT dept, record_id FROM records WHERE kind = 'enterprise' "
            "ORDER BY dept, record_id LIMIT 2"
        ).fetchall()
    (da, ra), (db, rb) = rows
    query = (
        f'mutation {{ decideReview(recordA: "{da}:{ra}", recordB: "{db}:{rb}", match: false)'
        " { decision by } }"
    )
    with State(world.state) as holder, holder.lock(what="link test-batch"):
        r = api.post("tax_officer", query)
    body = r.json()
    assert body.get("data") in (None, {"decideReview": None}), body
    messages = [e["message"] for e in body["errors"]]
    assert len(messages) == 1, messages
    assert messages[0] == (
        "another run holds the resolution state (a linkage run or another judgement); "
        "try again when it has finished"
    )
    assert str(world.state) not in messages[0]  # (no server path for an API client)
    assert _judgements(world) == before
