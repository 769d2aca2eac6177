"""A manifest's department codes and batch_id are identifiers every later step names records
by (``DEPT:RECORD_ID``, ``DEPT|KIND|RECORD_ID``) and prints: a code with a control character,
a space, ``:`` or ``|``, or a YAML list where a code belongs, was accepted (``['AMR']`` became
a department), and so were a batch_id holding NUL and one written as a list. Each is a
manifest problem now, listed with the others in one run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from resolver.ingest.manifest import ManifestError, department_code_problem, load_manifest


def _batch(tmp_path: Path, manifest: dict[str, object]) -> Path:
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "a.csv").write_text("id,name\n1,甲公司\n", "utf-8")
    (batch / "manifest.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), "utf-8")
    return batch


def _source(dept: object) -> dict[str, object]:
    return {"dept": dept, "file": "a.csv", "kind": "enterprise", "record_id": "id",
            "columns": {"name": "name"}}  # fmt: skip


def test_department_codes_batch_ids_and_withdrawals_are_checked(tmp_path: Path) -> None:
    manifest = {
        "batch_id": "x\x00y",
        "as_of": "2026-11-01",
        "sources": [
            _source(code) for code in (["AMR"], "FIN\x00", "A B", "X:Y", "税务局", "AMR-2.b")
        ],
        "withdrawn": [{"dept": "T|X", "record_id": "7"}, {"record_id": "8"}],
    }
    with pytest.raises(ManifestError) as err:
        load_manifest(_batch(tmp_path, manifest))
    assert err.value.problems == [
        "batch_id 'x\\x00y' holds the control character U+0000",
        "sources[1] (['AMR'] a.csv): department code ['AMR'] is not a code (write it as text, "
        "e.g. AMR)",
        "sources[2] ('FIN\\x00' a.csv): department code 'FIN\\x00' holds the control character "
        "U+0000: a code is letters, digits and _ - .",
        "sources[3] (A B a.csv): department code 'A B' holds a space: a code is letters, digits "
        "and _ - .",
        "sources[4] (X:Y a.csv): department code 'X:Y' holds ':': a code is letters, digits "
        "and _ - .",
        "withdrawn[1] (T|X:7): department code 'T|X' holds '|': a code is letters, digits "
        "and _ - .",
        "withdrawn[2] needs dept and record_id",
    ]
    assert str(err.value).startswith(f"{tmp_path / 'batch' / 'manifest.yaml'}: 7 problems:\n")


def test_good_codes_pass_and_one_problem_is_singular(tmp_path: Path) -> None:
    for code in ("AMR", "税务局", "AMR-2.b", "HRSS_01", 101):
        assert department_code_problem(code) is None, code
    assert department_code_problem("A" * 33) == (
        f"department code {'A' * 33!r}… is longer than 32 characters"
    )
    manifest = {"batch_id": ["b"], "as_of": "2026-11-01", "sources": [_source("AMR")]}
    with pytest.raises(ManifestError) as err:
        load_manifest(_batch(tmp_path, manifest))
    assert str(err.value).endswith(
        ": 1 problem:\n  - batch_id ['b'] is not an identifier (write it as text)"
    )


def test_a_directory_named_manifest_and_columns_as_a_list(tmp_path: Path) -> None:
    batch = tmp_path / "dir"
    (batch / "manifest.yaml").mkdir(parents=True)
    with pytest.raises(ManifestError, match=r"manifest\.yaml is a directory, not the manifest"):
        load_manifest(batch)
    source = {**_source("AMR"), "columns": ["name"]}
    manifest = {"batch_id": "b", "as_of": "2026-11-01", "sources": [source]}
    with pytest.raises(ManifestError) as err:
        load_manifest(_batch(tmp_path, manifest))
    assert err.value.problems == [
        "sources[1] (AMR a.csv): columns must be a mapping (source column: canonical field), "
        "not a list"
    ]


def test_libyaml_and_pyyaml_read_a_manifest_alike() -> None:
    """The fast loader reads the committed sample's manifest (dates, lists, mappings) exactly
    as PyYAML's own does."""
    from resolver.ingest.manifest import _parse_with, _parse_yaml

    text = (Path(__file__).parent.parent / "fixtures/sample/batch/manifest.yaml").read_text()
    extra = text + "\nwithdrawn:\n  - {dept: AMR, record_id: '007'}\nas_of_note: 2026-11-01\n"
    for doc in (text, extra):
        assert _parse_yaml(doc) == _parse_with(yaml.SafeLoader, doc)


def test_a_yaml_error_shows_its_line_with_a_caret(tmp_path: Path) -> None:
    batch = tmp_path / "b"
    batch.mkdir()
    (batch / "manifest.yaml").write_text(
        'batch_id: x\nas_of: 2026-11-01\nsources:\n  - dept: "AMR\n', "utf-8"
    )
    with pytest.raises(ManifestError) as err:
        load_manifest(batch)
    text = str(err.value)
    assert "not valid YAML" in text and "line 4, column 11" in text
    assert '- dept: "AMR' in text and "^" in text
