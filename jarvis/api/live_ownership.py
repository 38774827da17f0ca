"""Which live events a key may receive: all of them for a service key; for a key bound to a
user, only the events about an agent its user owns or a task its user requested.

Redis pub/sub carries every user's events on the same four channels and knows no owners, so
the socket asks PostgreSQL (as the key's user, under row-level security) whom the agents and
tasks an event names belong to. An event that names neither belongs to no user and is not
delivered to a user-bound key (fail closed). Answers are remembered for a short while per
socket, so a busy channel costs one query per new id, not one per event.
"""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool

from jarvis.clock import SYSTEM_CLOCK, Clock
from jarvis.errors import StoreError
from jarvis.principal import acting_as

#: Event fields that name an agent (status_update, task_assignment, system_monitoring,
#: inter_agent_communication) or a task.
AGENT_FIELDS = ("agent_id", "from", "to")
TASK_FIELDS = ("task_id",)
REMEMBER_SECONDS = 5.0


class EventOwnership:
    """Decides, for one socket, whether an event belongs to its key's user."""

    def __init__(
        self,
        jarvis: Any,
        user_id: str | None,
        *,
        remember: float = REMEMBER_SECONDS,
        size: int = 10_000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.jarvis, self.user_id, self.clock = jarvis, user_id, clock
        self.remember, self.size = remember, size
        self._known: dict[str, tuple[float, bool]] = {}

    async def allows(self, data: Any) -> bool:
        """True if the event *data* may be sent to this socket's key."""
        if self.user_id is None:
            return True
        if not isinstance(data, dict):
            return False
        agents = [str(data[f]) for f in AGENT_FIELDS if data.get(f)]
        tasks = [str(data[f]) for f in TASK_FIELDS if data.get(f)]
        now = self.clock.monotonic()
        unknown = [i for i in agents + tasks if (hit := self._known.get(i)) is None or hit[0] < now]
        if unknown:
            try:
                owned = await run_in_threadpool(
                    self._owned, [i for i in agents if i in unknown], [i for i in tasks if i in unknown]
                )
            except StoreError:
                return False  # PostgreSQL cannot say whose it is: not delivered
            if len(self._known) + len(unknown) > self.size:
                self._known.clear()
            for ident in unknown:
                self._known[ident] = (now + self.remember, ident in owned)
        return any(self._known[i][1] for i in agents + tasks)

    def _owned(self, agents: list[str], tasks: list[str]) -> set[str]:
        with acting_as(self.user_id):
            return self.jarvis.owned(agent_ids=agents, task_ids=tasks)
