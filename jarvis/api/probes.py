"""The stores' health as /health and /metrics serve it: probed at most once per interval.

``/health`` needs no key, so without this anyone could make every store answer a query per
request. Callers within ``JARVIS_API_HEALTH_CACHE_SECONDS`` (1 s) of the last probe share its
answer; callers arriving while a probe runs wait for it rather than start another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from jarvis.stores.base import Health


class CachedHealth:
    """One probe of every store per *interval* seconds, shared by every caller. ``get`` blocks
    (call it from a worker thread); *clock* is injectable for tests."""

    def __init__(
        self, probe: Callable[[], list[Health]], *, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.probe, self.interval, self.clock = probe, interval, clock
        self.probes = 0  # how many times the stores were actually probed
        self._lock = threading.Lock()
        self._report: list[Health] | None = None
        self._at = 0.0

    def get(self) -> list[Health]:
        with self._lock:
            if self._report is None or self.clock() - self._at >= self.interval:
                self._report = self.probe()
                self._at = self.clock()
                self.probes += 1
            return self._report
