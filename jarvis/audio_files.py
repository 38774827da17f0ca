"""Voice recordings: a caller names a file inside ``JARVIS_AUDIO_DIR``, never a path of its own.

``conversations.audio_file_path`` is written by callers and later unlinked by retention, so
whatever a caller sends there reaches the file system. It is therefore a *relative name*:
segments of letters, digits, ``.``, ``_`` and ``-`` joined by ``/``, none empty, none
starting with a dot (so no ``.``, no ``..``, no hidden files), never absolute, no backslash.
The check runs on input (:func:`check_name`, a 422 naming the field) and again, with the
file system's own answer, before retention unlinks anything (:func:`inside`): a row written
before this rule, or straight into PostgreSQL, cannot make retention delete outside the
directory either.

A name is not an owner: nothing records whose recording a file is, and rows of different users
may name the same file (a caller can write any name). So :func:`remove_recordings` — an
erasure's or retention's deleted voice messages, after their transaction committed — unlinks a
file only when no conversations row of *any* user still names it, asked of PostgreSQL through a
security-definer function (:data:`STILL_NAMED`, migration 026) because row-level security hides
the other users' rows from the erasing key. Erasing Bob's message that names Ada's recording
leaves her file; it goes with the last row naming it. If PostgreSQL cannot answer, every file is
kept (logged): a file left over is better than one deleted under another user's message.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from pathlib import Path

import psycopg
from psycopg.rows import tuple_row

logger = logging.getLogger("jarvis.audio")

MAX_NAME_CHARS = 1024
#: Which of the names some conversations row — of any user — still names (migration 026).
STILL_NAMED = "SELECT jarvis_recordings_still_named(%s::text[])"
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$")


def check_name(value: str) -> str:
    """*value* if it is a plain relative name inside the audio directory; ValueError otherwise."""
    if not value or len(value) > MAX_NAME_CHARS:
        raise ValueError(f"must be 1 to {MAX_NAME_CHARS} characters")
    if value.startswith("/") or "\\" in value or re.match(r"^[A-Za-z]:", value):
        raise ValueError("must be a name inside the audio directory, not an absolute path")
    if not all(_SEGMENT.match(segment) for segment in value.split("/")):
        raise ValueError(
            "must be a name inside the audio directory: segments of letters, digits, '.', '_' "
            "and '-' joined by '/', none empty and none starting with '.' (no '..')"
        )
    return value


def user_folder(user_id: str) -> str:
    """The folder of the audio directory whose recordings a key bound to *user_id* may name:
    the user id itself when it is a plain name segment, else ``user-`` and the first 40 hex
    digits of its SHA-256 (a user id may hold any character but ``|`` and NUL)."""
    if _SEGMENT.match(user_id) and len(user_id) <= 255:
        return user_id
    return "user-" + hashlib.sha256(user_id.encode()).hexdigest()[:40]


def check_owned_name(name: str, user_id: str) -> None:
    """ValueError unless *name* lies in *user_id*'s folder (:func:`user_folder`): a key bound to
    a user names only its own recordings — never a file another user's pipeline put there,
    which it could otherwise claim first (migration 026 gives a file to the first turn naming
    it) and then delete by erasing its own turn."""
    folder = user_folder(user_id)
    if not name.startswith(folder + "/"):
        raise ValueError(f"must be a recording in this user's folder of the audio directory, '{folder}/'")


def inside(audio_dir: Path, name: str | None) -> Path | None:
    """The file *name* names inside *audio_dir*, or None if it would be anywhere else.

    The name is checked again, then the directory that would hold the file is resolved by
    the file system (following symbolic links) and must lie within the resolved audio
    directory. The last segment itself is not followed: unlinking a symbolic link removes
    the link, never its target.
    """
    try:
        check_name(name or "")
    except ValueError:
        return None
    root = Path(os.path.realpath(audio_dir))
    candidate = root / name  # type: ignore[operator]
    parent = Path(os.path.realpath(candidate.parent))
    if parent != root and root not in parent.parents:
        return None
    return parent / candidate.name


def still_named(transaction: Callable[[], AbstractContextManager[psycopg.Connection]], names: list[str]) -> set[str]:
    """The names of *names* that some conversations row, of any user, still names, asked in a
    transaction of *transaction* (a pooled connection with the caller's principal: the function
    looks past row-level security itself, and answers nothing but these names)."""
    with transaction() as conn, conn.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(STILL_NAMED, (names,))
        row = cursor.fetchone()
    return set(row[0] if row else [])


def remove_recordings(
    audio_dir: Path, names: list[str], still_named: Callable[[list[str]], Collection[str]]
) -> list[str]:
    """Unlink each recording of *names* inside *audio_dir* (an erasure's or retention's deleted
    voice messages, once their transaction committed) that no row names any more.

    *still_named* answers which of the names some conversations row — of any user — still
    names (:func:`still_named`): those files are kept, as another row's (or another user's)
    recording. If it fails, every file is kept. Returns the names refused because they point
    anywhere else (a row from before names were checked, or written straight into SQL) — those
    are left alone too.
    """
    refused, candidates = [], {}
    for name in dict.fromkeys(names):
        path = inside(audio_dir, name)
        if path is None:
            logger.warning("not deleting the recording %r: it is not a name inside %s", name, audio_dir)
            refused.append(name)
        else:
            candidates[name] = path
    if not candidates:
        return refused
    try:
        kept = set(still_named(list(candidates)))
    except Exception:  # noqa: BLE001 - after the commit: never raise; keep the files rather than guess
        logger.warning(
            "not deleting %d recording(s): could not ask which are still named", len(candidates), exc_info=True
        )
        return refused
    for name, path in candidates.items():
        if name in kept:
            logger.debug("keeping the recording %r: a conversation still names it", name)
            continue
        try:
            path.unlink()  # a directory raises (and is logged); a symbolic link goes, never its target
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("could not delete the recording %s: %s", path, exc)
    return refused
