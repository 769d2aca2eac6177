"""A state whose key file has gone missing is refused in one line that says so and names
the key's id — no new key is written in its place (a new key opens none of the sealed
records, and the old one could then no longer simply be copied back)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from credgraph.cli import main
from resolver.state.sealing import KEY_ENV, KEY_FILE, StateKeyError, key_id
from resolver.state.store import State, StateError


@pytest.fixture()
def sealed_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, bytes]:
    """A state that wrote its own key file (no key in the environment), and that key."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    state_dir = tmp_path / "state"
    with State(state_dir) as state:
        state.set_meta("probe", "1")
    return state_dir, (state_dir / KEY_FILE).read_bytes()


def test_a_missing_key_file_is_refused_and_not_replaced(sealed_state: tuple[Path, bytes]) -> None:
    state_dir, key = sealed_state
    (state_dir / KEY_FILE).unlink()
    with pytest.raises(StateKeyError) as err:
        State(state_dir)
    message = str(err.value)
    assert f"{state_dir / KEY_FILE} is missing" in message
    assert key_id(key.strip()) in message
    assert KEY_ENV in message
    assert not (state_dir / KEY_FILE).exists()
    # The old key put back opens the state as before.
    (state_dir / KEY_FILE).write_bytes(key)
    (state_dir / KEY_FILE).chmod(0o600)
    with State(state_dir) as state:
        assert state.meta("probe") == "1"


def test_the_cli_says_it_in_one_line(sealed_state: tuple[Path, bytes]) -> None:
    state_dir, _key = sealed_state
    (state_dir / KEY_FILE).unlink()
    res = CliRunner().invoke(main, ["review", "list", "--state", str(state_dir)])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith("Error: ") and "is missing" in lines[0]
    assert not (state_dir / KEY_FILE).exists()


def test_a_new_state_still_gets_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with State(tmp_path / "fresh") as state:
        assert state.meta("key_id") == key_id((tmp_path / "fresh" / KEY_FILE).read_bytes().strip())


@pytest.mark.parametrize("what", ["directory", "dangling link"])
def test_a_key_path_that_is_no_key_file_is_one_line(
    sealed_state: tuple[Path, bytes], tmp_path: Path, what: str
) -> None:
    """A directory, or a symbolic link to nothing, where the key file belongs: a one-line
    error naming it (a directory was a traceback from reading it; a dangling link on a new
    state a misleading 'cannot write the run')."""
    state_dir, _key = sealed_state
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o700)
    for d in (state_dir, fresh):
        (d / KEY_FILE).unlink(missing_ok=True)
        if what == "directory":
            (d / KEY_FILE).mkdir(mode=0o700)
        else:
            (d / KEY_FILE).symlink_to(tmp_path / "nowhere")
        with pytest.raises(StateKeyError) as err:
            State(d)
        expect = "is not a file" if what == "directory" else "which does not exist"
        assert f"{d / KEY_FILE} " in str(err.value) and expect in str(err.value)
        res = CliRunner().invoke(main, ["review", "list", "--state", str(d)])
        lines = res.output.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1, res.output
        assert lines[0].startswith("Error: ") and expect in lines[0]
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("name", ["st%41te", "what?x", "no#1"])
def test_a_missing_key_is_refused_whatever_the_directory_is_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The state's key id is read through a file: URI: '%', '?' and '#' in the directory's
    name are the characters themselves ('%41' was read as 'A': a traceback, or another
    directory's database; '?' and '#' cut the path short: no refusal, a new key written)."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    state_dir = tmp_path / name / "state"
    with State(state_dir) as state:
        state.set_meta("probe", "1")
    key = (state_dir / KEY_FILE).read_bytes()
    with State(state_dir) as state:  # (its own key: opens as before)
        assert state.meta("probe") == "1"
    (state_dir / KEY_FILE).unlink()
    with pytest.raises(StateKeyError, match="is missing") as err:
        State(state_dir)
    assert key_id(key.strip()) in str(err.value)
    assert not (state_dir / KEY_FILE).exists()


@pytest.mark.parametrize("what", ["directory", "text"])
def test_a_state_database_that_is_no_database_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """state.db a directory, or a file that is not a database: one line naming it (both were
    tracebacks), and nothing is written in its place."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    db = state_dir / "state.db"
    if what == "directory":
        db.mkdir()
        expect = "Is a directory"
    else:
        db.write_text("not a database, just text\n", "utf-8")
        db.chmod(0o600)
        expect = "file is not a database"
    with pytest.raises(StateError, match=f"cannot open the state database: {expect}"):
        State(state_dir)
    res = CliRunner().invoke(main, ["review", "list", "--state", str(state_dir)])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 1 and len(lines) == 1, res.output
    assert lines[0] == f"Error: {db}: cannot open the state database: {expect}"
    assert what == "directory" or db.read_text("utf-8") == "not a database, just text\n"
