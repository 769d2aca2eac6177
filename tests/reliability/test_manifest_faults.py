"""Manifests written by a careless operator or an attacker: every problem listed at once,
with did-you-mean hints, files only from inside the batch directory, YAML bounded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from resolver.ingest.manifest import ManifestError, load_manifest
from tests.reliability.batchkit import Source, check, csv_text, good_row, write_batch


def _data() -> bytes:
    return csv_text([good_row(1), good_row(2)]).encode()


def _problems(batch: Path) -> list[str]:
    with pytest.raises(ManifestError) as exc:
        load_manifest(batch)
    return exc.value.problems


def test_file_outside_the_batch_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "other.csv").write_bytes(_data())
    batch = write_batch(
        tmp_path / "b",
        [
            Source("ok.csv", _data()),
            Source(str(outside / "other.csv"), dept="A1"),
            Source("../secret/other.csv", dept="A2"),
            Source("link.csv", dept="A3"),
        ],
    )
    os.symlink(outside / "other.csv", batch / "link.csv")
    problems = _problems(batch)
    assert len(problems) == 3, problems
    assert "is an absolute path" in problems[0]
    assert "climbs out with '..'" in problems[1]
    assert "link.csv' resolves (through a symbolic link) outside the batch directory" in problems[2]
    run = check(batch, tmp_path / "out")
    assert run.exit_code != 0 and "files must lie in the batch directory" in run.output
    assert not (tmp_path / "out" / "rejects.csv").exists()


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    batch = write_batch(tmp_path / "b", [Source("ok.csv", _data())])
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    manifest = (batch / "manifest.yaml").read_text("utf-8")
    bomb = "\n".join(lines) + "\nbatch_id: *a9\n" + manifest.replace("batch_id:", "x_batch_id:")
    (batch / "manifest.yaml").write_text(bomb, "utf-8")
    start = time.process_time()
    problems = _problems(batch)
    assert time.process_time() - start < 5, "refused before anything is expanded"
    assert len(problems) == 1 and "expands to over 100,000 values" in problems[0]


def test_aliases_within_the_cap_still_work(tmp_path: Path) -> None:
    batch = write_batch(
        tmp_path / "b", [Source("a.csv", _data()), Source("b.csv", _data(), dept="B")]
    )
    data = yaml.safe_load((batch / "manifest.yaml").read_text("utf-8"))
    cols = data["sources"][0]["columns"]
    data["sources"][1]["columns"] = cols  # one object twice: PyYAML writes an anchor and alias
    text = yaml.safe_dump(data, allow_unicode=True)
    assert "*id" in text
    (batch / "manifest.yaml").write_text(text, "utf-8")
    assert len(load_manifest(batch).sources) == 2


def test_several_mistakes_are_listed_together_with_hints(tmp_path: Path) -> None:
    src = Source(
        "amr.csv",
        _data(),
        kind="enterprize",
        encoding="gkb",
        columns={"企业名": "name", "住所": "adress"},
    )
    ok = Source("tax.csv", _data(), dept="TAX", columns={"企业名": "name", "住 所": "address"})
    batch = write_batch(tmp_path / "b", [src, ok], batchid="x")
    text = (batch / "manifest.yaml").read_text("utf-8").replace("record_id:", "recordid:", 1)
    (batch / "manifest.yaml").write_text(text, "utf-8")
    problems = _problems(batch)
    joined = "\n".join(problems)
    assert "unknown key 'batchid' (did you mean 'batch_id'?)" in joined
    assert "unknown key 'recordid' (did you mean 'record_id'?)" in joined
    assert "unknown kind 'enterprize' (did you mean 'enterprise'?)" in joined
    assert "unknown encoding 'gkb' (did you mean 'gbk'?)" in joined
    # The second source has no problem of its own: its header is checked in the same run.
    assert "mapped column '企业名' is not in the file's header (did you mean '企业名称'?)" in joined
    assert "mapped column '住 所' is not in the file's header (did you mean '住所'?)" in joined
    assert len(problems) >= 7
    run = check(batch, tmp_path / "out")
    assert run.exit_code != 0 and f"{len(problems)} problems:" in run.output


def test_column_mapped_to_a_misspelt_field_gets_a_hint(tmp_path: Path) -> None:
    src = Source("amr.csv", _data(), columns={"企业名称": "nmae", "住所": "address"})
    problems = _problems(write_batch(tmp_path / "b", [src]))
    assert problems == [
        "sources[1] (AMR amr.csv): column '企业名称' maps to 'nmae', not a field of kind "
        "enterprise (did you mean 'name'?)"
    ]


def test_file_name_with_a_nul_byte_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    batch = write_batch(tmp_path / "b", [Source("ok.csv", _data()), Source("a\x00b.csv", dept="B")])
    problems = _problems(batch)
    assert len(problems) == 1 and "cannot be used as a file name" in problems[0]
    run = check(batch, tmp_path / "out")
    assert run.exit_code != 0


def test_the_generate_out_directory_given_for_the_batch_points_at_its_batch(
    tmp_path: Path,
) -> None:
    write_batch(tmp_path / "g" / "batch", [Source("ok.csv", _data())])
    problems = _problems(tmp_path / "g")
    assert problems == [
        f"no manifest.yaml in {tmp_path / 'g'} (did you mean {tmp_path / 'g' / 'batch'}? "
        "`credgraph generate --out DIR` writes the batch to DIR/batch)"
    ]
    run = check(tmp_path / "g", tmp_path / "out")
    assert run.exit_code == 1 and f"did you mean {tmp_path / 'g' / 'batch'}?" in run.output
    assert _problems(tmp_path / "empty") == [f"no manifest.yaml in {tmp_path / 'empty'}"]
