"""Who owns an agent or a task, asked of PostgreSQL for the current principal.

Row-level security already hides other users' rows; these checks exist for what PostgreSQL
does not guard: Redis (the memory cache, agent inboxes, live events), Neo4j, and answers that
must say "not yours" before any work is done. Each check runs on the caller's own pool under
its own principal, so it cannot see more than the caller could.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from jarvis.domain.base import Base, as_uuid
from jarvis.errors import Forbidden, InvalidInput, NotFound

#: The agent as the principal sees it (shared or its own), and who owns it.
AGENT_OWNER = "SELECT owner_user_id FROM agents WHERE id = %s"
#: Of the given agents and tasks, those the user owns (agents) or requested (tasks).
OWNED = """
SELECT id::text AS id FROM agents WHERE id = ANY(%(agents)s::uuid[]) AND owner_user_id = %(user)s
UNION ALL
SELECT id::text AS id FROM tasks WHERE id = ANY(%(tasks)s::uuid[]) AND requested_by = %(user)s
"""
#: Of the given agent, task and user ids, those the caller can see (row-level security decides).
VISIBLE = """
SELECT id::text AS id FROM agents WHERE id = ANY(%(agents)s::uuid[])
UNION ALL SELECT id::text FROM tasks WHERE id = ANY(%(tasks)s::uuid[])
UNION ALL SELECT id FROM users WHERE id = ANY(%(users)s)
"""


class OwnershipMixin(Base):
    def _require_own_agent(self, agent_id: Any, *, field: str = "agent_id") -> str:
        """*agent_id* as text, if the caller may use it as its own: every agent for a caller that
        acts for every user; for a user-bound caller only an agent its user owns.

        Raises:
            InvalidInput: not a UUID.
            NotFound: no such agent, or (for a bound caller) not one its user owns — the same
                answer, so a caller cannot probe for other users' agents.
        """
        agent = str(as_uuid(agent_id, field))
        who = self._who()
        if who.bound:
            row = self._one(AGENT_OWNER, (agent,))
            if row is None or row["owner_user_id"] != who.user_id:
                raise NotFound(f"agent {agent} does not exist or belongs to another user")
        return agent

    def _require_visible_agent(self, agent_id: Any, *, field: str = "agent_id") -> str:
        """*agent_id* as text if the caller can see the agent (a shared one or its own)."""
        agent = str(as_uuid(agent_id, field))
        if self._who().bound and self._one(AGENT_OWNER, (agent,)) is None:
            raise NotFound(f"agent {agent} does not exist")
        return agent

    def _require_seen(self, **references: Any) -> None:
        """For a user-bound caller, every agent and task a write names (fields ending in
        ``agent_id`` — ``coordinator_agent_id``, a batch's ``items[3].agent_id`` — name agents; the
        others, ``task_id`` and ``parent_task_id``, tasks) must be one it
        can see — its own or a shared one. PostgreSQL's foreign keys and the edge trigger check
        existence as the tables' owner, past row-level security, so without this a key bound to
        Bob could tie his task, turn, fact or event to Ada's private agent (an edge in Neo4j, an
        entry in her agent's history) and learn which of her ids exist.

        Raises:
            InvalidInput: naming the first field whose agent or task the caller cannot see —
                the same answer as for one that does not exist.
        """
        named = {field: str(value) for field, value in references.items() if value is not None}
        if not named or not self._who().bound:
            return
        agents = [value for field, value in named.items() if field.endswith("agent_id")]
        tasks = [value for field, value in named.items() if not field.endswith("agent_id")]
        seen = self._visible_ids({"agents": agents, "tasks": tasks})
        for field, value in named.items():
            if value not in seen:
                kind = "an agent" if field.endswith("agent_id") else "a task"
                raise InvalidInput(field, f"refers to {kind} that does not exist")

    def _refuse_bound(self, field: str, what: str) -> None:
        """Forbidden for a user-bound caller: *what* is for service keys only."""
        if self._who().bound:
            raise Forbidden(field, f"{what} needs a service key (this key acts for one user)")

    def owned(self, *, agent_ids: list[str], task_ids: list[str]) -> set[str]:
        """Of *agent_ids* and *task_ids*, those that belong to the current principal's user
        (every one of them for a caller that acts for every user). Ids that are not UUIDs
        belong to nobody."""
        agents, tasks = _uuids(agent_ids), _uuids(task_ids)
        who = self._who()
        if not who.bound:
            return set(agents) | set(tasks)
        if not agents and not tasks:
            return set()
        rows = self._all(OWNED, {"agents": agents, "tasks": tasks, "user": who.user_id})
        return {row["id"] for row in rows}

    def _visible_ids(self, asked: dict[str, list[str]]) -> set[str]:
        """Of ``asked["agents"]``, ``["tasks"]`` and ``["users"]``, the ids the caller can see
        (shared or its own): for what Neo4j returns, which knows no owners."""
        agents, tasks = _uuids(asked.get("agents", [])), _uuids(asked.get("tasks", []))
        return {
            r["id"]
            for r in self._all(VISIBLE, {"agents": agents, "tasks": tasks, "users": list(asked.get("users", []))})
        }


def _uuids(values: list[str]) -> list[str]:
    found = []
    for value in values:
        try:
            found.append(str(UUID(str(value))))
        except ValueError:
            continue
    return found
