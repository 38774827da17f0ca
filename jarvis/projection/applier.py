"""The applier: committed events projected on one background thread, as soon as they arrive.

A writer that does not need to wait (``wait=False``) hands its events to the :class:`Applier`,
which applies them right away, coalescing what queued up meanwhile; the write returns at
commit and the projection lag is a few milliseconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jarvis.outbox import Outboxed

if TYPE_CHECKING:
    from jarvis.projection.projector import Projector

logger = logging.getLogger("jarvis.outbox")


@dataclass
class Applied:
    """What one round of projection did: events touched, and stores still lagging (with why)."""

    events: int = 0
    lagging: dict[str, str] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)  # lagging because down, not because they refused
    dead: int = 0  # events dead-lettered in this round
    seconds: float = 0.0  # from the start of projection until every store answered
    finished: float = 0.0  # perf_counter() when every store had answered


class Ticket:
    """A write handed to the :class:`Applier`: ``wait()`` until its events were projected."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.applied = Applied()

    def settle(self, applied: Applied) -> None:
        self.applied = applied
        self._done.set()

    def wait(self, timeout: float | None = None) -> Applied:
        if not self._done.wait(timeout):
            raise TimeoutError("projection did not finish in time")
        return self.applied


class Applier:
    """Applies committed events on one background thread, as soon as they arrive.

    Whatever queued up while a round ran is applied together in the next round, so under
    load the stores see a few large writes instead of many small ones, and the writer's
    next embedding overlaps the projection of its last write.
    """

    def __init__(self, projector: "Projector", *, max_events: int = 2048) -> None:
        self.projector, self.max_events = projector, max_events
        self._queue: queue.SimpleQueue[tuple[list[Outboxed], Ticket] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._idle = threading.Condition()
        self._unsettled = 0

    def submit(self, events: list[Outboxed]) -> Ticket:
        ticket = Ticket()
        if not events:
            ticket.settle(Applied(finished=time.perf_counter()))
            return ticket
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="jarvis-applier", daemon=True)
                self._thread.start()
        with self._idle:
            self._unsettled += 1
        self._queue.put((events, ticket))
        return ticket

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far was applied (or left pending in the outbox)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unsettled == 0, timeout)

    def close(self) -> None:
        if self._thread is not None:
            self.flush(timeout=60)
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            batch = [item]
            size = len(item[0])
            while size < self.max_events:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # close() after this round
                    break
                batch.append(item)
                size += len(item[0])
            try:
                applied = self.projector.apply_events([e for events, _ in batch for e in events])
            except Exception as exc:  # noqa: BLE001 - Postgres itself failed: the events stay pending
                logger.warning("background apply failed; the outbox keeps the events", exc_info=True)
                applied = Applied(lagging={"postgres": f"{type(exc).__name__}: {exc}"}, finished=time.perf_counter())
            for _, ticket in batch:
                ticket.settle(applied)
            with self._idle:
                self._unsettled -= len(batch)
                self._idle.notify_all()
