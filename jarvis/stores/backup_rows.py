"""What every store's backup export shares: JSON-lines files, and checked reading of them.

Reading a backup back trusts nothing in it: every row is checked for its shape before any
store sees it, and a bad row is refused naming its file and line. Each store's own export and
row checks live beside it (``jarvis/stores/<store>_backup.py``).
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jarvis.backup_files import BackupError, create_private, open_inside
from jarvis.stores.chroma import DIMENSION

BATCH = 1000


def write_lines(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with create_private(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
            count += 1
    return count


def read_lines(directory: Path, name: str, check: Callable[[Any], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rows of one file of the backup, each passed through *check*.

    Raises:
        BackupError: naming the file and line of the first row that is not JSON or fails *check*.
    """
    with open_inside(directory, name, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                row = check(json.loads(line.decode("utf-8")))
            except (ValueError, TypeError, KeyError, binascii.Error, RecursionError) as exc:
                reason = str(exc) if isinstance(exc, BadRow) else f"not a valid row ({type(exc).__name__})"
                raise BackupError(f"refusing to restore: {name} line {number}: {reason}") from None
            yield row


class BadRow(ValueError):
    """One row of a backup file breaks its schema; the message says how."""


def batches(rows: Iterator[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def require(condition: bool, message: str) -> None:
    if not condition:
        raise BadRow(message)


def vector(value: Any, field: str) -> list[float]:
    require(isinstance(value, list) and len(value) == DIMENSION, f"{field} must be {DIMENSION} numbers")
    require(all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value), f"{field} must be numbers")
    return [float(x) for x in value]


def plain_dict(value: Any, field: str) -> dict[str, Any]:
    require(isinstance(value, dict) and all(isinstance(k, str) for k in value), f"{field} must be an object")
    return dict(value)
