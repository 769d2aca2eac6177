"""Append benchmark figures to bench/RESULTS.md with date, machine and command."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HISTORY = RESULTS.with_name("HISTORY.md")


def machine() -> str:
    """A one-line description of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem_gib:.0f} GiB, {cpu}, Python {platform.python_version()}"


@dataclass(frozen=True, slots=True)
class Run:
    """Wall time and peak RSS of one child process."""

    seconds: float
    peak_rss_mib: float
    stdout: str
    #: Of the peak (run_tree_measured): pages of files mapped into memory (Pss_File), e.g. a
    #: SQLite database read through mmap — page cache the kernel may drop, not allocations.
    peak_file_mib: float = 0.0


def run_measured(cmd: list[str]) -> Run:
    """Run a command as a child; wall time and its peak RSS (ru_maxrss of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kib < before:  # ru_maxrss is the max over all children so far
        peak_kib = before
    return Run(seconds, peak_kib / 1024, proc.stdout)


def run_tree_measured(cmd: list[str], interval: float = 1.0) -> Run:
    """Run a command; wall time and the peak of the summed memory of it and all its
    descendants (worker pools included), sampled every ``interval`` seconds.

    Memory is PSS (proportional set size) where the kernel reports it: pages shared by
    forked workers (libraries, copy-on-write data) are counted once, not once per process as
    a sum of RSS would. Falls back to RSS elsewhere.
    """
    import psutil

    def size(p: psutil.Process) -> tuple[int, int]:
        """(PSS, of it file-backed PSS) of one process, bytes."""
        # smaps_rollup is summed in the kernel: far cheaper than parsing smaps per sample.
        try:
            pss = file = None
            for line in Path(f"/proc/{p.pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                elif line.startswith("Pss_File:"):
                    file = int(line.split()[1]) * 1024
            if pss is not None:
                return pss, file or 0
        except OSError:
            pass
        try:
            return int(p.memory_info().rss), 0
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return 0, 0

    start = time.perf_counter()
    # The child's output goes to a file, not a pipe: a pipe read only at the end blocks a
    # child that prints more than the pipe holds (64 KiB).
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as out_file:
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=subprocess.DEVNULL, text=True)
        ps = psutil.Process(proc.pid)
        peak = peak_file = 0
        while proc.poll() is None:
            try:
                procs = [ps, *ps.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            sizes = [size(p) for p in procs]
            if (total := sum(s for s, _f in sizes)) > peak:
                peak, peak_file = total, sum(f for _s, f in sizes)
            # Waiting on the process (not sleeping) ends the wall time when the command ends,
            # not up to ``interval`` later.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=interval)
        proc.wait()
        end = time.perf_counter()
        out_file.seek(0)
        out = out_file.read()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out)
    return Run(end - start, peak / 2**20, out, peak_file / 2**20)


def _load() -> str:
    """The machine's load averages: how much else shared the cores during the run."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} cores"


GEN_1M = Path(__file__).resolve().parent / "out" / "gen1m"


def credgraph_cli() -> str:
    """The ``credgraph`` command of the interpreter running the benchmark, its packages'
    bytecode compiled first (as installing a wheel does, and ``make setup``): a command timed
    on an editable install would otherwise include compiling every module it imports."""
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *PACKAGES],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return str(Path(sys.executable).with_name("credgraph"))


#: The project's packages (pyproject.toml's ``packages.find``).
PACKAGES = ("credgraph", "resolver", "graph", "credit", "api", "fixtures", "tax")


def generate_batch(out: Path, enterprises: int, persons: int, *extra: str) -> None:
    """``credgraph generate`` (seed 7 unless ``extra`` says otherwise) into a fresh ``out``."""
    subprocess.run(
        [
            credgraph_cli(),
            "generate",
            "--out",
            str(out),
            "--enterprises",
            str(enterprises),
            "--persons",
            str(persons),
            *(extra or ("--seed", "7")),
        ],
        check=True,
        capture_output=True,
    )


def ensure_1m_batch() -> Path:
    """The one-million-record batch of bench/generate_1m.py, generated when missing."""
    if not (GEN_1M / "batch" / "manifest.yaml").exists():
        subprocess.run([sys.executable, "-m", "bench.generate_1m", "--keep"], check=True)
    return GEN_1M


def _sections(text: str) -> tuple[str, list[str]]:
    """Split a results file into its preamble and its ``## `` sections."""
    parts = re.split(r"(?m)^(?=## )", text)
    return parts[0], [s.rstrip() + "\n" for s in parts[1:]]


def record(title: str, command: str, lines: list[str]) -> None:
    """Write a benchmark's current figures to RESULTS.md and echo them.

    RESULTS.md shows each benchmark once: a section with the same title is replaced in place,
    and the replaced one is appended to HISTORY.md.
    """
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(
        [
            f"## {title}",
            "",
            f"- date: {stamp}",
            f"- machine: {machine()}",
            f"- load average when recorded (1 / 5 / 15 min): {_load()}",
            f"- command: `{command}`",
            *lines,
        ]
    )
    body += "\n"
    preamble, sections = _sections(RESULTS.read_text("utf-8")) if RESULTS.exists() else ("", [])
    if not preamble:
        preamble = "# Benchmark results\n\nThe current figures of each benchmark.\n\n"
    heading = f"## {title}\n"
    replaced = [s for s in sections if s.startswith(heading)]
    sections = [body if s.startswith(heading) else s for s in sections]
    if not replaced:
        sections.append(body)
    RESULTS.write_text(preamble + "\n".join(sections), "utf-8")
    if replaced:
        if not HISTORY.exists():
            HISTORY.write_text("# Benchmark history\n\nEarlier figures, oldest first.\n\n", "utf-8")
        with HISTORY.open("a", encoding="utf-8") as fh:
            fh.write("\n" + "\n".join(replaced))
    sys.stdout.write(body)
