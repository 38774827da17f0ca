"""Erasure everywhere, with a receipt: a user, an agent, a conversation session, a preference.

An erasure is an ordinary write: one PostgreSQL transaction runs the steps of
:mod:`jarvis.domain.erasure_steps` (rows deleted, graph edges first so each gets its outbox
event; a delete event per projected item) and records the receipt, and the outbox removes
the items from Neo4j, Chroma and Qdrant. Right after the commit the Redis keys go (exact keys,
every key matching the subject's patterns — ``agent:comm:*``, caches, locks, status, metrics,
the sessions that name the user — and the queue entries of the tasks it cancelled), the
recordings that no remaining row of any user names are unlinked (:mod:`jarvis.audio_files`),
and a forgotten user's API keys are revoked (with their rate-limit counters). The receipt lists, per store, what was removed and a final check that queries each
store directly for what remains; a store that was down is listed as lagging, the projector
completes it when it returns, and fetching the receipt again (:meth:`ErasureMixin.erasure_receipt`)
finishes what Redis or the key revocation missed (for a caller that may write) and checks again.
Retention erases through the same steps (:mod:`jarvis.jobs.retention`).

A receipt belongs to the user whose data it erased (``owner_user_id``: the user forgotten, the
owner of the agent, the user of the session or the preference; none for a shared agent, which
makes it a service key's alone). Row-level security keeps it from every other user's key
(``migrations/018_erasure_receipt_owners.sql``): to them it does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from jarvis import apikeys
from jarvis.audio_files import remove_recordings, still_named
from jarvis.domain import erasure_steps as steps
from jarvis.domain.base import Written, as_uuid, jsonable
from jarvis.domain.erasure_steps import REDIS_PATTERNS, Erased, Erasure
from jarvis.domain.ownership import OwnershipMixin
from jarvis.errors import InvalidInput, NotFound, StoreError
from jarvis.stores import redis_keys as keys
from jarvis.stores.base import PROJECTION_STORES

logger = logging.getLogger("jarvis.erasure")

INSERT_RECEIPT = """
INSERT INTO erasure_receipts (subject_type, subject_id, removed, erased, owner_user_id) VALUES (%s, %s, %s, %s, %s)
RETURNING id::text, requested_at
"""
#: The receipt as the caller's principal may see it (row-level security hides other users').
SELECT_RECEIPT = """
SELECT id::text, subject_type, subject_id, removed, erased, requested_at, owner_user_id
FROM erasure_receipts WHERE id = %s
"""

#: The final check in PostgreSQL, per kind of subject: how many of its rows remain.
LEFT_IN_POSTGRES = {
    "user": "SELECT (SELECT count(*) FROM conversations WHERE user_id = %(s)s) "
    "+ (SELECT count(*) FROM user_preferences WHERE user_id = %(s)s) "
    "+ (SELECT count(*) FROM users WHERE id = %(s)s) "
    "+ (SELECT count(*) FROM langgraph_items WHERE owner = %(s)s) "
    "+ (SELECT count(*) FROM agents WHERE owner_user_id = %(s)s) "
    "+ (SELECT count(*) FROM tasks WHERE requested_by = %(s)s) "
    "+ (SELECT count(*) FROM graph_edges WHERE (src_label = 'User' AND src_id = %(s)s) "
    "OR (dst_label = 'User' AND dst_id = %(s)s)) AS n",
    "session": "SELECT count(*) AS n FROM conversations WHERE session_id = %(s)s",
    "preference": "SELECT count(*) AS n FROM user_preferences WHERE id::text = %(s)s",
    "agent": "SELECT (SELECT count(*) FROM agents WHERE id::text = %(s)s) "
    "+ (SELECT count(*) FROM agent_capabilities WHERE agent_id::text = %(s)s) "
    "+ (SELECT count(*) FROM agent_memory WHERE agent_id::text = %(s)s) "
    "+ (SELECT count(*) FROM graph_edges WHERE (src_label = 'Agent' AND src_id = %(s)s) "
    "OR (dst_label = 'Agent' AND dst_id = %(s)s)) "
    "+ (SELECT count(*) FROM task_patterns WHERE optimal_agents ?| ARRAY[%(s)s, upper(%(s)s)]) AS n",
}


class ErasureMixin(OwnershipMixin):
    def forget_user(self, user_id: str) -> dict:
        """Erase a user everywhere: conversations (and recordings), preferences, sessions, store
        items, the User node and its relationships, their vectors in Chroma and Qdrant, the agents
        they own, their unfinished tasks, their Redis keys; revoke their API keys. Returns the
        receipt (``revoked_keys`` lists the keys it revoked)."""
        if not isinstance(user_id, str) or not user_id.strip():
            raise InvalidInput("user_id", "must be a non-empty string")
        self._own_user(user_id, field="user_id")  # a key bound to one user forgets only that user

        def step(conn: psycopg.Connection) -> Erasure:
            done = steps.user(conn, user_id)
            if not done.removed and not apikeys.keys_of_user(self.stores.postgres, user_id, before=_far_future()):
                raise NotFound(f"user {user_id} does not exist")
            return done

        return self._erase("user", user_id, step)

    def forget_users(self, user_ids: list[str]) -> list[dict]:
        """:meth:`forget_user` for each user that exists (an evaluation's own users); the receipts."""
        if not isinstance(user_ids, list) or not all(isinstance(u, str) and u for u in user_ids):
            raise InvalidInput("user_ids", "must be a list of user ids")
        receipts = []
        for user_id in user_ids:
            try:
                receipts.append(self.forget_user(user_id))
            except NotFound:
                continue
        return receipts

    def delete_session(self, session_id: str) -> dict:
        """Erase one conversation session: its messages (their Chroma documents, recordings) and
        its Redis keys."""
        if not isinstance(session_id, str) or not session_id.strip():
            raise InvalidInput("session_id", "must be a non-empty string")
        return self._erase(
            "session",
            session_id,
            _or_missing(lambda conn: steps.session(conn, session_id), f"session {session_id} has no messages"),
        )

    def delete_preference(self, preference_id: Any, *, user_id: str | None = None) -> dict:
        """Erase one user preference (and its Qdrant point); with *user_id*, only if it is theirs."""
        key = str(as_uuid(preference_id, "preference_id"))
        return self._erase(
            "preference",
            key,
            _or_missing(lambda conn: steps.preference(conn, key, user_id=user_id), f"preference {key} does not exist"),
        )

    def delete_agent(self, agent_id: Any) -> dict:
        """Erase an agent: its capabilities (Qdrant points), memory (and its cache), graph node and
        edges, status cache, lock, messages to and from it. Rows that outlive it (knowledge,
        tasks, messages — every user's, also those the caller cannot see) lose the link, in
        PostgreSQL and in the projections (``migrations/019_erasure_foreign_keys.sql``), and
        every task pattern's ``optimal_agents`` loses its id (``migrations/024_...``)."""
        agent = self._require_own_agent(agent_id)  # a key bound to one user erases only its own agents
        return self._erase(
            "agent", agent, _or_missing(lambda conn: steps.agent(conn, agent), f"agent {agent} does not exist")
        )

    def erasure_receipt(self, receipt_id: Any, *, finish: bool = True) -> dict:
        """The receipt of an earlier erasure, checked again now (a lagging store may have caught
        up). With *finish*, what Redis or the key revocation missed is finished first; without,
        it is only counted (a caller that may only read changes nothing).

        Raises:
            InvalidInput: not a UUID.
            NotFound: no such receipt, or one of another user's (the same answer: PostgreSQL's
                row-level security hides it from a user-bound caller; in-process, where the
                owner is not confined, the facade checks the owner too).
        """
        key = as_uuid(receipt_id, "receipt_id")
        missing = f"erasure receipt {key} does not exist"
        row = self._one(SELECT_RECEIPT, (key,), missing=missing)
        who = self._who()
        if who.bound and row["owner_user_id"] != who.user_id:
            raise NotFound(missing)
        return self._checked(row, finish=finish)

    # -- internals ----------------------------------------------------------------------------
    def _erase(self, subject_type: str, subject_id: str, step: Callable[[psycopg.Connection], Erasure]) -> dict:
        done: list[Erasure] = []

        def work(conn):
            erasure = step(conn)
            done.append(erasure)
            erased = {
                **erasure.erased,
                **({"postgres": {"api_keys_of": erasure.revoke_keys_of}} if erasure.revoke_keys_of else {}),
            }
            row = conn.execute(
                INSERT_RECEIPT, (subject_type, subject_id, Jsonb(erasure.removed), Jsonb(erased), erasure.owner)
            ).fetchone()
            return {
                "id": row["id"],
                "subject_type": subject_type,
                "subject_id": subject_id,
                "removed": erasure.removed,
                "erased": erased,
                "requested_at": row["requested_at"],
            }, erasure.events

        written: Written = self._write(work)
        if done[0].adopted:
            written["lagging"] = sorted({*written["lagging"], *self._project_adopted(done[0].adopted)})
        if done[0].recordings:
            remove_recordings(
                self.settings.audio_dir or self.settings.data_dir / "audio",
                done[0].recordings,
                lambda names: still_named(self._postgres, names),  # another row (of anyone) keeps its file
            )
        return self._checked(written, lagging=written["lagging"])

    def _project_adopted(self, event_ids: list[int]) -> list[str]:
        """Project the events PostgreSQL queued for the rows the erasure detached (committed with
        it); return the stores lagging. Never raises: after the commit the outbox keeps what
        could not be applied, and the background loop retries it."""
        try:
            return sorted(self.projector.apply(event_ids).lagging)
        except Exception:  # noqa: BLE001 - committed: PostgreSQL failed while projecting; the outbox keeps it
            logger.warning("projecting the rows an erasure detached failed", exc_info=True)
            return [str(store) for store in PROJECTION_STORES]  # which of them is unknown: say all

    def _checked(self, receipt: dict, *, lagging: list[str] | None = None, finish: bool = True) -> dict:
        """The receipt with its final check: per store, how many erased items are still there,
        asked of the store itself (None: the store is down, not checked now). With *finish*, the
        keys still live are revoked and Redis' leftovers removed before they are counted."""
        erased: Erased = receipt["erased"]
        key_users = erased.get("postgres", {}).get("api_keys_of", [])
        revoked, live_keys, key_ids = self._finish_keys(key_users, before=receipt["requested_at"], revoke=finish)
        try:
            left_in_postgres: int | None = self._left_in_postgres(receipt)
        except StoreError:  # right after the commit too: never raise, say it is unchecked
            left_in_postgres = None
        remaining: dict[str, int | None] = {
            "postgres": None if left_in_postgres is None or live_keys is None else left_in_postgres + live_keys
        }
        redis_groups = dict(erased.get("redis", {}))
        if key_ids:
            redis_groups[REDIS_PATTERNS] = [
                *redis_groups.get(REDIS_PATTERNS, []),
                *(p for k in key_ids for p in keys.keys_of_api_key(k)),
            ]
        remaining.update(steps.left_in(self.stores, {**erased, "redis": redis_groups}, finish=finish))
        behind = sorted({*(lagging or []), *(store for store, left in remaining.items() if left != 0)})
        result = {key: receipt[key] for key in ("id", "subject_type", "subject_id", "removed", "requested_at")}
        if key_users:
            result["revoked_keys"] = revoked
        result.update(remaining=remaining, lagging=behind, complete=not behind)
        return jsonable(result)

    def _finish_keys(
        self, users: list[str], *, before: datetime, revoke: bool = True
    ) -> tuple[list[str], int | None, list[str]]:
        """Revoke (with *revoke*) what is still live of *users*' keys made up to *before*: (the
        revoked key ids, how many stay live — None if PostgreSQL could not be asked —, every such
        key's id)."""
        if not users:
            return [], 0, []
        try:
            for user in users if revoke else ():
                apikeys.revoke_user_keys(self.stores.postgres, user, before=before)
            found = {
                k: live
                for user in users
                for k, live in apikeys.keys_of_user(self.stores.postgres, user, before=before).items()
            }
        except (PoolTimeout, psycopg.OperationalError):
            logger.warning("could not revoke the API keys of an erased user yet; the receipt says so")
            return [], None, []
        return sorted(k for k, live in found.items() if not live), sum(found.values()), sorted(found)

    def _left_in_postgres(self, receipt: dict) -> int:
        return int(self._one(LEFT_IN_POSTGRES[receipt["subject_type"]], {"s": receipt["subject_id"]})["n"])


def _or_missing(step: Callable[[psycopg.Connection], Erasure], message: str) -> Callable[[psycopg.Connection], Erasure]:
    def checked(conn: psycopg.Connection) -> Erasure:
        done = step(conn)
        if not done.removed:
            raise NotFound(message)
        return done

    return checked


def _far_future() -> datetime:
    return datetime(9999, 1, 1, tzinfo=timezone.utc)
