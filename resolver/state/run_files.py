"""A run directory written atomically, with a completion marker.

Every file of a run is first written into a private staging directory inside the run
directory, then renamed into place; ``run.json`` (the marker: batch, content digest, and
per-file size, row count and SHA-256) is written last, by rename too. A directory without
a marker, or whose files do not match it, is an incomplete run: `credgraph load` refuses
it. Directories are created owner-only (0700), files 0600: a run holds personal data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

MARKER = "run.json"
STAGING_PREFIX = ".staging-"
DIR_MODE = 0o700
FILE_MODE = 0o600


class IncompleteRunError(RuntimeError):
    """A run directory without a valid completion marker."""


def private_dir(path: Path, own: Iterable[str] = (MARKER,)) -> Path:
    """Create ``path`` (and missing parents) owner-only. An existing directory we own is
    tightened only when it is empty or already holds one of the ``own`` files (written by an
    older version): a directory with other things in it (``--out .``, a home directory) keeps
    its mode; the files written into it are owner-only anyway."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_uid == os.getuid() and (
        not any(path.iterdir()) or any((path / name).exists() for name in own)
    ):
        path.chmod(DIR_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary name, fsync, rename), mode 0600."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_ENCODER = msgspec.json.Encoder()
_LINES_PER_CHUNK = 20_000


class JsonLinesWriter:
    """One compact JSON document per line (UTF-8), encoded by msgspec (several times faster
    than ``json.dumps``) in chunks as items arrive, so that a run need not hold a file's
    payloads as objects until the end. ``counts`` tallies the values of ``count_key``
    (of the lines written by this writer; ``append`` adds to an existing file)."""

    def __init__(self, path: Path, count_key: str | None = None, append: bool = False) -> None:
        self._fh = path.open("ab" if append else "wb")
        self._chunk: list[Any] = []
        self._count_key = count_key
        self.lines = 0
        self.counts: Counter[str] = Counter()

    def add(self, item: Any) -> None:
        self._chunk.append(item)
        if self._count_key is not None:
            self.counts[item[self._count_key]] += 1
        if len(self._chunk) >= _LINES_PER_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._chunk:
            self._fh.write(_ENCODER.encode_lines(self._chunk))
            self.lines += len(self._chunk)
            self._chunk.clear()

    def close(self) -> None:
        self._flush()
        self._fh.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def indented_json(obj: Any) -> str:
    """``json.dumps(obj, ensure_ascii=False, indent=2)``, the indenting done by msgspec (the
    json module indents in pure Python: a 3.5 MB model took 0.1 s): json's compact text
    (its spelling of numbers and strings) re-indented, which gives the same text."""
    compact = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return msgspec.json.format(compact, indent=2)
    except (msgspec.DecodeError, UnicodeEncodeError):  # NaN, Infinity, a lone surrogate
        return json.dumps(obj, ensure_ascii=False, indent=2)


def write_json_lines(path: Path, items: Iterable[Any]) -> int:
    """Write ``items`` as JSON lines (:class:`JsonLinesWriter`); the number of lines."""
    with JsonLinesWriter(path) as out:
        for item in items:
            out.add(item)
    return out.lines


@dataclass(frozen=True, slots=True)
class FileEntry:
    name: str
    bytes: int
    rows: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "rows": self.rows, "sha256": self.sha256}


def describe(path: Path) -> FileEntry:
    """Size, rows (data lines: a CSV's header is not a row) and SHA-256 of a run file."""
    digest = hashlib.sha256()
    size = lines = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
    rows = lines - 1 if path.suffix == ".csv" and lines else lines
    return FileEntry(path.name, size, rows, digest.hexdigest())


class RunDirBusyError(RuntimeError):
    """Another running process is writing a run into the same directory."""


def _process_tag(pid: int) -> str | None:
    """``pid`` and its start time (Linux: a PID used again later is another process), or
    None when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc: the PID alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return str(pid)
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else f"{pid}-{fields[19]}"


def begin(out_dir: Path) -> Path:
    """Start (re)writing a run: drop the old marker first, so that a directory being
    rewritten never looks complete, and return a fresh private staging directory. Staging
    left by a process that died on the way is removed; one of a process still writing
    there is refused (RunDirBusyError): two runs would put their files over each other's."""
    private_dir(out_dir)
    staging = out_dir / f"{STAGING_PREFIX}{_process_tag(os.getpid()) or os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)  # this process's own, from a failed attempt
    staging.mkdir(mode=DIR_MODE)
    for other in out_dir.glob(STAGING_PREFIX + "*"):
        if other == staging:
            continue
        tag = other.name[len(STAGING_PREFIX) :]
        pid = tag.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _process_tag(int(pid)) in (tag, pid):
            shutil.rmtree(staging, ignore_errors=True)
            raise RunDirBusyError(
                f"{out_dir}: another process (pid {pid}) is writing a run there; wait for it "
                "to finish, or write to another directory"
            )
        shutil.rmtree(other, ignore_errors=True)
    (out_dir / MARKER).unlink(missing_ok=True)
    return staging


def owned_temp_dir(parent: Path, prefix: str) -> Path:
    """A new private directory ``parent/<prefix><pid>-<start>-<random>`` for this process's
    scratch files. Directories of the same prefix left there by processes that died without
    cleaning up (``kill -9``, power loss) are removed; those of processes still running
    (another run writing next to this one) are left alone."""
    parent.mkdir(parents=True, exist_ok=True)
    me = _process_tag(os.getpid()) or str(os.getpid())
    for other in parent.glob(prefix + "*"):
        owner = other.name[len(prefix) :].rpartition("-")[0]
        pid = owner.split("-", 1)[0]
        if not pid.isdigit() or not other.is_dir():
            continue  # not one of ours (or from before owners were named)
        if _process_tag(int(pid)) not in (owner, pid):
            shutil.rmtree(other, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{me}-", dir=parent))


def seal(staging: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Fsync and describe every staged file; the marker's content (not yet written). Files
    are done in threads (fsync and hashing release the GIL: a million-record run's files
    are over a GiB)."""
    paths = sorted(p for p in staging.iterdir() if p.is_file())
    with ThreadPoolExecutor(max_workers=min(4, len(paths) or 1)) as pool:
        entries = list(pool.map(_sealed, paths))
    files = {e.name: e.as_dict() for e in entries}
    return {**info, "complete": True, "files": files}


def _sealed(path: Path) -> FileEntry:
    path.chmod(FILE_MODE)
    with path.open("rb") as fh:
        os.fsync(fh.fileno())
    return describe(path)


def publish(staging: Path, out_dir: Path, marker: dict[str, Any]) -> None:
    """Rename the staged files into the run directory, then write the marker (last)."""
    for name in marker["files"]:
        os.replace(staging / name, out_dir / name)
    shutil.rmtree(staging, ignore_errors=True)
    _fsync_dir(out_dir)
    write_private(out_dir / MARKER, (json.dumps(marker, indent=2) + "\n").encode())
    _fsync_dir(out_dir)


def write_run(out_dir: Path, files: Iterable[tuple[str, bytes]], info: dict[str, Any]) -> None:
    """Write a whole run from file contents (e.g. kept in the state) atomically."""
    staging = begin(out_dir)
    for name, data in files:
        fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    publish(staging, out_dir, seal(staging, info))


def verify(run_dir: Path) -> dict[str, Any]:
    """The marker of a complete run; IncompleteRunError naming what is missing or changed."""
    marker_path = run_dir / MARKER
    if not marker_path.exists():
        raise IncompleteRunError(
            f"{run_dir} is not a complete run (no {MARKER}: the run was interrupted or is "
            "still being written); run `credgraph link` again to write it"
        )
    try:
        marker = json.loads(marker_path.read_text("utf-8"))
        files = marker["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IncompleteRunError(f"{marker_path}: unreadable completion marker ({exc})") from exc
    for name, want in files.items():
        path = run_dir / name
        if not path.is_file():
            raise IncompleteRunError(f"{run_dir}: {name} listed in {MARKER} is missing")
        got = describe(path)
        if got.sha256 != want["sha256"] or got.rows != want["rows"]:
            raise IncompleteRunError(
                f"{run_dir}: {name} does not match {MARKER} ({got.rows:,} rows, "
                f"{MARKER} says {want['rows']:,}; checksum "
                f"{'differs' if got.sha256 != want['sha256'] else 'matches'})"
            )
    return dict(marker)


def batch_digest(manifest_path: Path, source_paths: Iterable[Path]) -> str:
    """SHA-256 over the manifest and every file it names (in manifest order): a batch's
    identity is its id *and* this digest."""
    digest = hashlib.sha256()
    for path in (manifest_path, *source_paths):
        digest.update(f"{path.name}\x1f".encode())
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\x1e")
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
