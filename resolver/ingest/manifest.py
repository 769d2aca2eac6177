"""Contract 1: reading and validating a batch manifest before any work starts."""

from __future__ import annotations

import datetime as dt
import difflib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Canonical fields per kind (DESIGN.md, Contract 1). ``any_id`` is allowed everywhere an
#: identifier of the subject may stand.
KIND_FIELDS: dict[str, frozenset[str]] = {
    "enterprise": frozenset(
        [
            "uscc",
            "org_code",
            "reg_no",
            "tax_id",
            "name",
            "former_name",
            "legal_rep_name",
            "legal_rep_id",
            "address",
            "phone",
            "established",
            "reg_capital",
            "industry",
            "status",
            "parent_uscc",
            "parent_name",
            "any_id",
        ]
    ),
    "person": frozenset(
        [
            "id_number",
            "name",
            "gender",
            "birth_date",
            "phone",
            "address",
            "employer_name",
            "employer_uscc",
            "any_id",
        ]
    ),
    "role": frozenset(
        [
            "uscc",
            "org_code",
            "reg_no",
            "tax_id",
            "name",
            "any_id",
            "person_name",
            "id_number",
            "role",
            "start",
            "end",
        ]
    ),
    "shareholding": frozenset(
        [
            "uscc",
            "org_code",
            "reg_no",
            "tax_id",
            "name",
            "any_id",
            "holder_name",
            "holder_uscc",
            "holder_id_number",
            "holder_type",
            "ratio",
            "amount",
        ]
    ),
    "credit_event": frozenset(
        [
            "uscc",
            "org_code",
            "reg_no",
            "tax_id",
            "id_number",
            "name",
            "any_id",
            "event_type",
            "decision_no",
            "authority",
            "date",
            "severity",
            "amount",
            "publicity_until",
            "description",
        ]
    ),
    "fact": frozenset(
        [
            "uscc",
            "org_code",
            "reg_no",
            "tax_id",
            "id_number",
            "name",
            "any_id",
            "fact_type",
            "period",
            "amount",
            "quantity",
            "unit",
            "reference",
        ]
    ),
    "tax_declaration": frozenset(
        [
            "uscc",
            "org_code",
            "reg_no",
            "tax_id",
            "id_number",
            "name",
            "any_id",
            "tax_type",
            "period",
            "taxable_amount",
            "tax_paid",
        ]
    ),
}
ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030")
FORMATS = (".csv", ".xlsx", ".jsonl")
#: A manifest larger than this is refused before it is parsed.
MANIFEST_MAX_BYTES = 1024 * 1024
#: A department code is letters and digits (any script), ``_``, ``-`` and ``.``, at most 32
#: characters: ``:`` and ``|`` separate it from a record ID (``DEPT:RECORD_ID``, a
#: SourceRecord's ``DEPT|KIND|RECORD_ID``), so a code holding one could never be named again,
#: and a control character would reach every terminal that lists it.
DEPT_CODE_MAX = 32
DEPT_CODE_PUNCTUATION = "_-."
BATCH_ID_MAX = 128
TOP_KEYS = ("batch_id", "as_of", "sources", "withdrawn")
SOURCE_KEYS = ("dept", "name", "file", "encoding", "kind", "record_id", "columns")


def did_you_mean(value: str, choices: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``value``, else ``""``."""
    options = [str(c) for c in choices]
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not close and value.lower() in {o.lower() for o in options}:
        close = [o for o in options if o.lower() == value.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


#: Most nodes a manifest may expand to, counting every use of a YAML alias (``*name``) in full:
#: nested aliases expand exponentially (a "billion laughs" bomb).
MANIFEST_MAX_NODES = 100_000


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes under ``node`` with every alias counted in full (memoised: linear time)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = MANIFEST_MAX_NODES + 1  # a node that contains itself is refused too
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, memo) + _expanded_size(value, memo)
            if size > MANIFEST_MAX_NODES:
                break
    memo[id(node)] = size
    return size


def _parse_yaml(text: str) -> Any:
    """Parse a manifest with the safe loader, refusing documents that expand beyond the cap.
    libyaml's loader (when PyYAML has it) parses six times faster; a document it refuses is
    parsed again by PyYAML's own, whose error shows the offending line with a caret."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return _parse_with(fast, text)
        except yaml.YAMLError:
            pass
    return _parse_with(yaml.SafeLoader, text)


def _parse_with(loader_class: Any, text: str) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MANIFEST_MAX_NODES:
            raise ValueError(
                f"the manifest expands to over {MANIFEST_MAX_NODES:,} values through YAML "
                "aliases (*name); refused"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _char_name(c: str) -> str:
    if unicodedata.category(c) == "Cc" or 127 <= ord(c) < 160:
        return f"the control character U+{ord(c):04X}"
    return "a space" if c.isspace() else repr(c)


def department_code_problem(code: object) -> str | None:
    """Why ``code`` is not a department code, or None (the CLI checks ``--dept`` and
    ``DEPT:RECORD_ID`` with it too). The code is shown as a Python literal: control
    characters escaped."""
    if isinstance(code, bool) or not isinstance(code, (str, int)):
        return f"department code {code!r} is not a code (write it as text, e.g. AMR)"
    text = str(code)
    if not text:
        return "a department code is empty"
    if len(text) > DEPT_CODE_MAX:
        return f"department code {text[:40]!r}… is longer than {DEPT_CODE_MAX} characters"
    bad = next((c for c in text if not (c.isalnum() or c in DEPT_CODE_PUNCTUATION)), None)
    if bad is not None:
        return (
            f"department code {text!r} holds {_char_name(bad)}: a code is letters, digits "
            f"and {' '.join(DEPT_CODE_PUNCTUATION)}"
        )
    return None


def _batch_id_problem(value: object) -> str | None:
    if value is None or value == "":
        return "batch_id is missing"
    if isinstance(value, (list, dict, bool)):
        return f"batch_id {value!r} is not an identifier (write it as text)"
    text = str(value)
    if len(text) > BATCH_ID_MAX:
        return f"batch_id is longer than {BATCH_ID_MAX} characters"
    bad = next((c for c in text if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        return f"batch_id {text!r} holds {_char_name(bad)}"
    return None


def printable_text(value: object) -> str:
    """A manifest value in a message: as written, or as a literal when it holds control
    characters."""
    text = str(value)
    return text if text.isprintable() else repr(text)


class ManifestError(ValueError):
    """A manifest that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, manifest: Path, problems: list[str]) -> None:
        self.manifest = manifest
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        counted = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(f"{manifest}: {counted}:\n{lines}")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One department file named by the manifest."""

    dept: str
    name: str
    file: str
    path: Path
    encoding: str
    kind: str
    record_id: str
    columns: dict[str, str]  # source column -> canonical field

    @property
    def format(self) -> str:
        return self.path.suffix.lower()


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated batch."""

    root: Path
    batch_id: str
    as_of: dt.date
    sources: tuple[SourceSpec, ...]
    #: (dept, record_id, kind): kind "" withdraws the department's records of every kind
    #: with that record_id.
    withdrawn: tuple[tuple[str, str, str], ...] = ()


def normalise_column(name: object) -> str:
    """Column names compare after NFKC (full-width brackets in headers are common) and strip."""
    return unicodedata.normalize("NFKC", str(name)).strip()


def load_manifest(batch_dir: Path, check_headers: bool = True) -> Manifest:
    """Read ``manifest.yaml`` and check it completely; raise ManifestError listing every problem.

    With ``check_headers`` each file's header is read to make sure every mapped column and the
    record-id column exist (a file with no header row at all is reported too).
    """
    from resolver.ingest.readers import read_header  # late: readers import this module's types

    path = batch_dir / "manifest.yaml"
    if path.is_dir():
        raise ManifestError(path, [f"{path} is a directory, not the manifest file"])
    if not path.is_file():
        inner = batch_dir / "batch"
        hint = (
            f" (did you mean {inner}? `credgraph generate --out DIR` writes the batch to DIR/batch)"
            if (inner / "manifest.yaml").is_file()
            else ""
        )
        raise ManifestError(path, [f"no manifest.yaml in {batch_dir}{hint}"])
    if path.stat().st_size > MANIFEST_MAX_BYTES:
        raise ManifestError(
            path, [f"the manifest is larger than {MANIFEST_MAX_BYTES // 1024:,} KiB; refused"]
        )
    try:
        data: Any = _parse_yaml(path.read_text("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        # PyYAML raises ValueError for date-shaped values that are no dates (2026-13-01).
        raise ManifestError(path, [f"not valid YAML: {exc}"]) from exc
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ManifestError(
            path, ["the manifest must be a mapping with batch_id, as_of and sources"]
        )
    root = batch_dir.resolve()
    for key in data:
        if str(key) not in TOP_KEYS:
            problems.append(f"unknown key {str(key)!r}{did_you_mean(str(key), TOP_KEYS)}")
    batch_id = str(data.get("batch_id") or "")
    if batch_problem := _batch_id_problem(data.get("batch_id")):
        problems.append(batch_problem)
    as_of = dt.date.today()
    try:
        raw_as_of = data.get("as_of")
        as_of = (
            raw_as_of if isinstance(raw_as_of, dt.date) else dt.date.fromisoformat(str(raw_as_of))
        )
    except ValueError:
        problems.append(
            "as_of is missing: write as_of: YYYY-MM-DD (the day the data were extracted)"
            if data.get("as_of") is None
            else f"as_of {data.get('as_of')!r} is not a date (YYYY-MM-DD)"
        )
    sources_raw = data.get("sources")
    if sources_raw is None and data.get("withdrawn"):
        sources_raw = []  # a batch that only withdraws records
    elif not isinstance(sources_raw, list) or (not sources_raw and not data.get("withdrawn")):
        problems.append(
            "sources is missing or empty (a batch delivers files, withdraws records, or both)"
        )
        sources_raw = []
    specs: list[SourceSpec] = []
    seen: set[tuple[str, str]] = set()
    readable: list[SourceSpec] = []  # sources whose file can be opened: headers checked
    for i, s in enumerate(sources_raw, start=1):
        where = f"sources[{i}]"
        if not isinstance(s, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        dept, file = str(s.get("dept") or ""), str(s.get("file") or "")
        where = f"sources[{i}] ({dept if dept.isprintable() else repr(dept)} {file or '?'})"
        if not dept:
            where = f"sources[{i}] (? {file or '?'})"
        for key in s:
            if str(key) not in SOURCE_KEYS:
                problems.append(
                    f"{where}: unknown key {str(key)!r}{did_you_mean(str(key), SOURCE_KEYS)}"
                )
        kind = str(s.get("kind") or "")
        encoding = str(s.get("encoding") or "utf-8").lower().replace("_", "-")
        encoding = {"utf8": "utf-8", "utf-8sig": "utf-8-sig", "utf8-sig": "utf-8-sig"}.get(
            encoding, encoding
        )
        record_id = normalise_column(s.get("record_id") or "")
        columns_raw = s.get("columns")
        if not dept:
            problems.append(f"{where}: dept is missing")
        elif dept_problem := department_code_problem(s.get("dept")):
            problems.append(f"{where}: {dept_problem}")
        if not file:
            problems.append(f"{where}: file is missing")
        if kind not in KIND_FIELDS:
            problems.append(
                f"{where}: unknown kind {kind!r}{did_you_mean(kind, KIND_FIELDS)} "
                f"(expected one of {', '.join(KIND_FIELDS)})"
            )
        if encoding not in ENCODINGS:
            problems.append(
                f"{where}: unknown encoding {encoding!r}{did_you_mean(encoding, ENCODINGS)} "
                f"(expected one of {', '.join(ENCODINGS)})"
            )
        if not record_id:
            problems.append(
                f"{where}: record_id (the column holding the department's key) is missing"
            )
        if columns_raw and not isinstance(columns_raw, dict):
            problems.append(
                f"{where}: columns must be a mapping (source column: canonical field), "
                f"not a {type(columns_raw).__name__}"
            )
            columns_raw = {}
        elif not columns_raw:
            problems.append(f"{where}: columns (source column -> canonical field) is missing")
            columns_raw = {}
        columns = {normalise_column(k): str(v) for k, v in columns_raw.items()}
        if kind in KIND_FIELDS:
            for col, canon in columns.items():
                if canon not in KIND_FIELDS[kind]:
                    problems.append(
                        f"{where}: column {col!r} maps to {canon!r}, not a field of kind {kind}"
                        + did_you_mean(canon, sorted(KIND_FIELDS[kind]))
                    )
        targets = list(columns.values())
        for dup in sorted({t for t in targets if targets.count(t) > 1}):
            problems.append(f"{where}: several columns map to {dup!r}")
        if (dept, file) in seen:
            problems.append(f"{where}: the same dept and file are listed twice")
        seen.add((dept, file))
        try:
            fpath = (batch_dir / file).resolve()
            outside = _outside(root, file, fpath)
        except (OSError, ValueError) as exc:  # a NUL byte, a symlink loop, a name too long
            fpath, outside = batch_dir / "-", f"cannot be used as a file name ({exc})"
        file_ok = False
        if file and outside:
            rule = "" if outside.startswith("cannot") else "; files must lie in the batch directory"
            problems.append(f"{where}: file {file!r} {outside}{rule}")
        elif file and not _is_file(fpath):
            problems.append(f"{where}: file not found: {fpath}{_near_file(root, file)}")
        elif file and fpath.suffix.lower() not in FORMATS:
            problems.append(
                f"{where}: unsupported file type {fpath.suffix!r} (expected .csv, .xlsx or .jsonl)"
            )
        else:
            file_ok = bool(file)
        spec = SourceSpec(
            dept, str(s.get("name") or dept), file, fpath, encoding, kind, record_id, columns
        )
        specs.append(spec)
        if file_ok and encoding in ENCODINGS:
            # Other mistakes of this source do not stop its header being checked: every
            # mistake of a manifest is reported in one run.
            readable.append(spec)
    withdrawn: list[tuple[str, str, str]] = []
    withdrawn_raw = data.get("withdrawn") or []
    if not isinstance(withdrawn_raw, list):
        problems.append("withdrawn must be a list of {dept, record_id} (kind optional)")
        withdrawn_raw = []
    for i, w in enumerate(withdrawn_raw, start=1):
        if isinstance(w, dict) and w.get("dept") and w.get("record_id") is not None:
            where = f"withdrawn[{i}] ({printable_text(w['dept'])}:{printable_text(w['record_id'])})"
            wkind = str(w.get("kind") or "")
            if wkind and wkind not in KIND_FIELDS:
                problems.append(
                    f"{where}: unknown kind {wkind!r}{did_you_mean(wkind, KIND_FIELDS)}"
                )
            if dept_problem := department_code_problem(w["dept"]):
                problems.append(f"{where}: {dept_problem}")
            withdrawn.append((str(w["dept"]), str(w["record_id"]), wkind))
        else:
            problems.append(f"withdrawn[{i}] needs dept and record_id")
    if check_headers:
        for spec in readable:
            problems.extend(_header_problems(spec, read_header))
    if problems:
        raise ManifestError(path, problems)
    return Manifest(root, batch_id, as_of, tuple(specs), tuple(withdrawn))


def _outside(root: Path, file: str, resolved: Path) -> str:
    """Why a manifest ``file:`` leaves the batch directory, or ``""``."""
    if Path(file).is_absolute() or file.startswith(("/", "\\")) or ":" in file[:3]:
        return "is an absolute path"
    if ".." in Path(file).parts or ".." in file.replace("\\", "/").split("/"):
        return "climbs out with '..'"
    if not resolved.is_relative_to(root):
        return "resolves (through a symbolic link) outside the batch directory"
    return ""


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _near_file(root: Path, file: str) -> str:
    try:
        names = [p.name for p in root.iterdir() if p.suffix.lower() in FORMATS]
    except OSError:
        return ""
    return did_you_mean(Path(file).name, names)


def _header_problems(spec: SourceSpec, read_header: Any) -> list[str]:
    from resolver.ingest.readers import FileProblem

    try:
        header: list[str] | None = read_header(spec)
    except FileProblem as exc:
        return [f"{spec.dept} {exc}"]
    except OSError as exc:
        return [f"{spec.dept} {spec.file}: cannot be read: {exc.strerror or exc}"]
    if header is None:
        return []  # an empty file is a warning of the check, not a manifest error
    present = set(header)
    problems = []
    for col in [spec.record_id, *spec.columns]:
        if col and col not in present:
            problems.append(
                f"{spec.dept} {spec.file}: mapped column {col!r} is not in the file's header"
                f"{did_you_mean(col, header)} "
                f"(header has: {', '.join(header[:12])}{'…' if len(header) > 12 else ''})"
            )
    return problems
