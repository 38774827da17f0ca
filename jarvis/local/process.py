"""Processes the local stack starts: pid files, logs, start, wait, stop.

A store counts as started by ``jarvis up`` exactly when its pid file under
``<data dir>/run/`` names a live process; ``jarvis down`` stops only those.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from jarvis.errors import StoreStartError

logger = logging.getLogger("jarvis.local")


def run_dir(data_dir: Path) -> Path:
    path = data_dir / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_path(data_dir: Path, store: str) -> Path:
    path = data_dir / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path / f"{store}.log"


def pid_file(data_dir: Path, store: str) -> Path:
    return run_dir(data_dir) / f"{store}.pid"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def read_pid(data_dir: Path, store: str) -> int | None:
    """The pid ``up`` recorded for *store*, if that process is still alive."""
    try:
        pid = int(pid_file(data_dir, store).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def write_pid(data_dir: Path, store: str, pid: int) -> None:
    pid_file(data_dir, store).write_text(f"{pid}\n")


def clear_pid(data_dir: Path, store: str) -> None:
    pid_file(data_dir, store).unlink(missing_ok=True)


def spawn(
    argv: Sequence[str],
    *,
    data_dir: Path,
    store: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start *argv* detached from our session, output appended to the store's log."""
    log = log_path(data_dir, store)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # The stores need none of our settings, and some of them are secrets.
            env={**{k: v for k, v in os.environ.items() if not k.startswith("JARVIS_")}, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    write_pid(data_dir, store, proc.pid)
    return proc


def log_tail(data_dir: Path, store: str, lines: int = 25) -> str:
    try:
        text = log_path(data_dir, store).read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until_ready(
    *,
    store: str,
    data_dir: Path,
    ready: Callable[[], bool],
    alive: Callable[[], bool],
    timeout: float,
    interval: float = 0.25,
) -> None:
    """Poll *ready* until it holds; fail fast if the process died, with its log tail.

    Raises:
        StoreStartError: the process exited, or *timeout* seconds passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if not alive():
            raise StoreStartError(
                store, f"the process exited during start-up; last log lines:\n{log_tail(data_dir, store)}"
            )
        if time.monotonic() > deadline:
            raise StoreStartError(
                store, f"not ready after {timeout:.0f}s; last log lines:\n{log_tail(data_dir, store)}"
            )
        time.sleep(interval)


def terminate(pid: int, *, timeout: float = 60.0) -> None:
    """SIGTERM the process group, wait, and SIGKILL only if it will not stop."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not pid_alive(pid):
                return
            time.sleep(0.1)
        logger.warning("process %r did not stop after %s", pid, sig.name)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def start_process(
    *,
    store: str,
    data_dir: Path,
    argv: Sequence[str],
    ready: Callable[[], bool],
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> str:
    """Start a store's server unless it already answers; return what happened."""
    if ready():
        return "already up"
    pid = read_pid(data_dir, store)
    if pid is not None:
        # Started earlier and still coming up (or wedged): wait for it rather than start twice.
        wait_until_ready(store=store, data_dir=data_dir, ready=ready, alive=lambda: pid_alive(pid), timeout=timeout)
        return "already up"
    proc = spawn(argv, data_dir=data_dir, store=store, env=env)
    wait_until_ready(store=store, data_dir=data_dir, ready=ready, alive=lambda: proc.poll() is None, timeout=timeout)
    return "started"


def stop_process(*, store: str, data_dir: Path, timeout: float = 60.0) -> str:
    """Stop the process ``up`` recorded for *store*; anything else is left alone."""
    pid = read_pid(data_dir, store)
    if pid is None:
        clear_pid(data_dir, store)
        return "not running"
    terminate(pid, timeout=timeout)
    clear_pid(data_dir, store)
    return "stopped"
