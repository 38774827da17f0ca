"""Time, for the code whose behaviour depends on it: one home, injected, never read ad hoc.

Where a store keeps time (PostgreSQL's ``CURRENT_TIMESTAMP``, Redis' ``TIME`` inside the queue's
Lua scripts, Redis TTLs), the store's own clock decides, so workers' clocks do not matter. Where
the decision is ours (a cached memory's expiry, the key caches, the live socket's ownership
cache), it asks a :class:`Clock`. Both honour :attr:`Clock.ahead`: how far this clock runs
ahead of real time, added to the servers' time where they decide. It is 0 for the system clock;
:class:`ManualClock` moves it, so a test makes a lease, a retry delay or an expiry pass without
sleeping, and the code under test runs exactly as it does in production.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "ManualClock", "SYSTEM_CLOCK"]


class Clock:
    """The system's clock: aware UTC wall time and a monotonic count, both in seconds."""

    ahead: float = 0.0

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.ahead)

    def monotonic(self) -> float:
        return time.monotonic() + self.ahead

    def ahead_ms(self) -> int:
        """:attr:`ahead` in whole milliseconds, for Redis scripts that add it to ``TIME``."""
        return int(self.ahead * 1000)


class ManualClock(Clock):
    """A clock a test moves forward: ``clock.advance(0.7)`` where it would have slept 0.7 s."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.ahead += seconds

    def reset(self) -> None:
        """Back to real time (what has expired meanwhile stays expired)."""
        self.ahead = 0.0


SYSTEM_CLOCK = Clock()
