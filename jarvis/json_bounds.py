"""Depth and size limits for every JSON value a caller may store.

PostgreSQL's ``jsonb`` takes JSON nested thousands of levels deep, but the API's serialiser
does not (pydantic-core stops at its recursion limit): a value accepted without a limit is
committed and then answered with a 500 on every read. So every JSON field is checked here,
before the write, and refused with :class:`InvalidInput` naming the field. The walk is
iterative, so no input can exhaust Python's stack while being measured.
"""

from __future__ import annotations

import json
from typing import Any

from jarvis.errors import InvalidInput

#: Levels of objects and arrays one JSON field may nest (the value itself is level 1).
MAX_JSON_DEPTH = 32
#: Bytes one JSON field may take, serialised.
MAX_JSON_BYTES = 64 * 1024


def json_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int = MAX_JSON_BYTES) -> str | None:
    """Why *value* may not be stored as JSON, or None when it may."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > max_depth:
            return f"nests deeper than {max_depth} levels"
        stack.extend((child, depth + 1) for child in children)
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        return f"is not plain JSON ({exc})"
    if size > max_bytes:
        return f"takes {size} bytes as JSON; the limit is {max_bytes}"
    return None


def check_json(value: Any, *, field: str) -> Any:
    """*value* unchanged if it may be stored; InvalidInput naming *field* otherwise."""
    problem = json_problem(value)
    if problem:
        raise InvalidInput(field, problem)
    return value


def bounded(value: Any) -> Any:
    """A pydantic after-validator: the same check, reported on the field being validated."""
    problem = json_problem(value)
    if problem:
        raise ValueError(problem)
    return value
