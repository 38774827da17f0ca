"""The files of a backup: a private directory, files created 0600, and names confined to it.

A restore must read only what ``jarvis backup`` wrote: every file name is a plain name inside
the backup directory, opened without following symbolic links, so nothing outside the
directory is ever read. Files are created 0600 inside a 0700 directory: a backup holds every
conversation. Used by the manifest (:mod:`jarvis.jobs.manifest`) and by each store's own
export (``jarvis/stores/*_backup.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import IO, Any

from jarvis.errors import JarvisError

#: The manifest's file name (see :mod:`jarvis.jobs.manifest`).
NAME = "manifest.json"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class BackupError(JarvisError):
    """A backup could not be written or a restore was refused."""


def make_private_dir(path: Path) -> None:
    """Create *path* (mode 0700, whatever the umask); refuses an existing one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise BackupError(f"cannot create {path}: {exc.strerror}") from None


def create_private(path: Path, mode: str = "w") -> IO[Any]:
    """A new file, 0600 from its first byte (not chmod-ed after the fact), never through a link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {}))


def plain_name(directory: Path, name: object) -> Path:
    """*name* as a path inside *directory*, if it is a plain file name.

    Raises:
        BackupError: an absolute path, a ``..``, a separator, or any other character.
    """
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name) or ".." in name:
        raise BackupError(
            f"refusing to restore: file name {str(name)[:80]!r} in {NAME} is not a plain name "
            "inside the backup directory"
        )
    return directory / name


def open_inside(directory: Path, name: str, mode: str = "r") -> IO[Any]:
    """Open a regular file of the backup for reading, never through a symbolic link."""
    path = plain_name(directory, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise BackupError(f"refusing to restore: {name} is missing") from None
    except OSError as exc:
        raise BackupError(f"refusing to restore: cannot open {name} ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BackupError(f"refusing to restore: {name} is not a regular file")
    return os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {}))


def file_facts(directory: Path, name: str) -> dict[str, Any]:
    """Size and sha256 of one file of the backup."""
    digest, size = hashlib.sha256(), 0
    with open_inside(directory, name, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}
