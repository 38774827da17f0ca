"""What every store module shares: the health report and a timer for round trips."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from jarvis.errors import StoreUnavailable


@dataclass(frozen=True, slots=True)
class Health:
    """One store's answer to "are you there?": a real query's outcome and round trip."""

    store: str
    up: bool
    version: str | None = None
    latency_ms: float | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(store: str, query: Callable[[], str | None]) -> Health:
    """Run *query* (which returns the server version) and time it; any error means down.

    Errors are reported by class and message only: driver messages never carry passwords,
    but connection strings might, so nothing else is included.
    """
    started = time.perf_counter()
    try:
        version = query()
    except Exception as exc:  # noqa: BLE001 - a health probe reports every failure as "down"
        return Health(store=store, up=False, detail=f"{type(exc).__name__}: {first_line(exc)}")
    return Health(
        store=store, up=True, version=version, latency_ms=round((time.perf_counter() - started) * 1000, 2)
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


@contextmanager
def map_unavailable(store: str, *errors: type[BaseException]) -> Iterator[None]:
    """Turn a driver's "cannot reach the server" errors into :class:`StoreUnavailable`."""
    try:
        yield
    except errors as exc:
        raise StoreUnavailable(store, f"not reachable: {type(exc).__name__}: {first_line(exc)}") from None
