"""What happens between users and agents: conversations, collaborations, events, metrics,
improvements, and messages between agents."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from jarvis.domain.base import ENSURE_USER, Written, as_uuid, jsonable
from jarvis.domain.ownership import AGENT_OWNER, OwnershipMixin
from jarvis.domain.turns import TurnsMixin, turn_context
from jarvis.errors import Forbidden, InvalidInput, NotFound, StoreError
from jarvis.json_bounds import check_json
from jarvis.outbox import Event
from jarvis.schemas import CollaborationIn, EventIn, ImprovementIn, MessageIn, MetricIn, takes
from jarvis.vocabulary import PUBLISHED_SEVERITIES, Channel, RelationshipType
from jarvis.stores.base import StoreName

INSERT_MESSAGE = """
INSERT INTO conversations (session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id,
                           metadata, context, embedding, created_at)
VALUES (%(session_id)s, %(user_id)s, %(message_type)s, %(role)s, %(content)s, %(audio_file_path)s, %(agent_id)s,
        %(task_id)s, %(metadata)s, %(context)s, %(embedding)s, coalesce(%(created_at)s, CURRENT_TIMESTAMP))
RETURNING id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id, metadata, created_at
"""
HISTORY = """
SELECT id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, task_id, metadata, created_at
FROM conversations WHERE session_id = %(session_id)s
  AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
ORDER BY created_at, id LIMIT %(limit)s OFFSET %(offset)s
"""
LIST_EVENTS = """
SELECT * FROM system_events
WHERE (%(severity)s::text IS NULL OR severity = %(severity)s)
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s)
  AND (%(source)s::text IS NULL OR source = %(source)s)
ORDER BY created_at DESC, id LIMIT %(limit)s OFFSET %(offset)s
"""
#: The GIN index finds the candidates; ts_filter keeps the words of the message itself
#: (weight A), not those of its context (the neighbouring turns, weight D).
TEXT_SEARCH = """
SELECT id, session_id, user_id, role, content, created_at,
       ts_rank(ts_filter(search_tsv, '{a}'), query) AS rank
FROM conversations, websearch_to_tsquery('english', %(query)s) AS query
WHERE search_tsv @@ query AND ts_filter(search_tsv, '{a}') @@ query
  AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
ORDER BY rank DESC, created_at DESC LIMIT %(limit)s
"""
INSERT_COLLABORATION = """
INSERT INTO agent_collaborations (task_id, coordinator_agent_id, participant_agent_ids, collaboration_type, workflow)
VALUES (%(task_id)s, %(coordinator_agent_id)s, %(participant_agent_ids)s, %(collaboration_type)s, %(workflow)s)
RETURNING *
"""
COUNT_AGENTS = "SELECT count(*) AS n FROM agents WHERE id = ANY(%s)"
INSERT_EVENT = """
INSERT INTO system_events (event_type, severity, source, agent_id, task_id, message, details)
VALUES (%(event_type)s, %(severity)s, %(source)s, %(agent_id)s, %(task_id)s, %(message)s, %(details)s) RETURNING *
"""
INSERT_METRIC = """
INSERT INTO performance_metrics (metric_type, source, agent_id, value, unit, metadata)
VALUES (%(metric_type)s, %(source)s, %(agent_id)s, %(value)s, %(unit)s, %(metadata)s) RETURNING *
"""
INSERT_IMPROVEMENT = """
INSERT INTO improvement_logs (improvement_type, target, description, before_state, after_state, performance_gain, agent_id)
VALUES (%(improvement_type)s, %(target)s, %(description)s, %(before_state)s, %(after_state)s, %(performance_gain)s,
        %(agent_id)s) RETURNING *
"""
APPROVE_IMPROVEMENT = "UPDATE improvement_logs SET approved = TRUE WHERE id = %s RETURNING *"
APPLY_IMPROVEMENT = """
UPDATE improvement_logs SET applied = TRUE, applied_at = CURRENT_TIMESTAMP WHERE id = %s AND approved RETURNING *
"""


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit", "must be between 1 and 1000")
    if offset < 0:
        raise InvalidInput("offset", "must not be negative")


def _json(value: dict | None) -> Jsonb | None:
    return Jsonb(value) if value is not None else None


class ActivityMixin(TurnsMixin, OwnershipMixin):
    # -- conversations ---------------------------------------------------------------------
    @takes(MessageIn)
    def append_message(self, spec: MessageIn, /) -> Written:
        """Store a message (embedded, for semantic search in Chroma ``conversations``), refresh
        the session in Redis, and record that the user INTERACTED_WITH the agent. A user-bound
        caller writes only as its user, and only into a session holding no other user's turn
        (PostgreSQL refuses it, migration 027: Forbidden naming ``session_id``)."""
        spec = spec.model_copy(update={"user_id": self._own_user(spec.user_id, field="user_id")})
        self._require_seen(agent_id=spec.agent_id, task_id=spec.task_id)
        self._require_own_recording(spec, field="audio_file_path")
        previous = self.previous_turns([spec.session_id]).get(spec.session_id)
        context = turn_context(previous=previous and previous["content"], said_at=spec.created_at)
        vector = self._embed(spec.content, field="content")

        def work(conn):
            self.add_next_turn(conn, previous, spec.content)
            events = []
            if spec.user_id and conn.execute(ENSURE_USER, (spec.user_id,)).fetchone():
                events.append(Event("user", spec.user_id))
            row = conn.execute(
                INSERT_MESSAGE,
                {**spec.model_dump(), "metadata": Jsonb(spec.metadata), "context": context, "embedding": vector},
            ).fetchone()
            events.append(Event("conversation", str(row["id"])))
            if spec.user_id and spec.agent_id:
                events.append(
                    self._edge(conn, RelationshipType.INTERACTED_WITH, "User", spec.user_id, "Agent", spec.agent_id)
                )
            return jsonable(row), events

        written = self._write(work)
        try:
            self.stores.redis.touch_session(
                spec.session_id, user_id=spec.user_id, agent_id=str(spec.agent_id) if spec.agent_id else None
            )
        except StoreError:
            written["lagging"] = sorted({*written["lagging"], "redis"})
        return written

    def conversation_history(
        self, session_id: str, *, user_id: str | None = None, limit: int = 200, offset: int = 0
    ) -> list[dict]:
        """A session's messages, oldest first, one page at a time (a user-bound caller's own only)."""
        _check_page(limit, offset)
        user_id = self._own_user(user_id, field="user_id")
        rows = self._all(HISTORY, {"session_id": session_id, "user_id": user_id, "limit": limit, "offset": offset})
        return [jsonable(r) for r in rows]

    def search_conversations_text(self, query: str, *, user_id: str | None = None, limit: int = 20) -> list[dict]:
        """Full-text search (English) over message content, through the seed's GIN index."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query", "must not be empty")
        user_id = self._own_user(user_id, field="user_id")
        return [jsonable(r) for r in self._all(TEXT_SEARCH, {"query": query, "user_id": user_id, "limit": limit})]

    def get_session(self, session_id: str) -> dict | None:
        """``session:{id}`` from Redis; None if it has expired, or if it is another user's and
        the caller acts for one user (Redis has no row-level security: the check is here)."""
        session = self.stores.redis.get_session(session_id)
        who = self._who()
        if session is not None and who.bound and session.get("user_id") != who.user_id:
            return None
        return session

    # -- collaborations ---------------------------------------------------------------------
    @takes(CollaborationIn)
    def start_collaboration(self, spec: CollaborationIn, /) -> Written:
        """A collaboration row; the coordinator COLLABORATES_WITH each participant (counted)."""
        participants = sorted(set(spec.participant_agent_ids) - {spec.coordinator_agent_id})
        if not participants:
            raise InvalidInput("participant_agent_ids", "must name an agent other than the coordinator")
        self._require_seen(coordinator_agent_id=spec.coordinator_agent_id, task_id=spec.task_id)

        def work(conn):
            if conn.execute(COUNT_AGENTS, (participants,)).fetchone()["n"] != len(participants):
                raise InvalidInput("participant_agent_ids", "names an agent that does not exist")
            row = conn.execute(
                INSERT_COLLABORATION,
                {**spec.model_dump(), "participant_agent_ids": participants, "workflow": Jsonb(spec.workflow)},
            ).fetchone()
            events = [
                self._edge(
                    conn,
                    RelationshipType.COLLABORATES_WITH,
                    "Agent",
                    spec.coordinator_agent_id,
                    "Agent",
                    other,
                    bump=True,
                )
                for other in participants
            ]
            return jsonable(row), events

        return self._write(work)

    def collaboration_history(self, agent_id: Any) -> list[dict]:
        """Whom *agent_id* worked with and how often — only partners the caller can see: Neo4j
        knows no owners, so the agent and its partners are asked of PostgreSQL."""
        agent = self._require_visible_agent(agent_id)
        partners = self.stores.get(StoreName.NEO4J).run_named("collaboration_history", agent_id=agent)
        if not self._who().bound or not partners:
            return partners
        shown = self._visible_ids({"agents": [str(p["id"]) for p in partners]})
        return [p for p in partners if str(p["id"]) in shown]

    # -- events, metrics, improvements ---------------------------------------------------------
    @takes(EventIn)
    def log_event(self, spec: EventIn, /) -> dict:
        """A system event (published live when its severity is high). A user-bound caller may
        name only its own agents and tasks it can see (migration 025 makes PostgreSQL refuse the
        rest: an event about another user's agent would show in that user's history)."""
        self._require_seen(agent_id=spec.agent_id, task_id=spec.task_id)
        if self._who().bound and spec.agent_id is not None and spec.task_id is None:
            found = self._one(AGENT_OWNER, (str(spec.agent_id),))
            if found is not None and found["owner_user_id"] is None:
                raise InvalidInput(
                    "task_id", "an event about a shared agent must name a task of yours: no user could read it back"
                )
        row = jsonable(self._one(INSERT_EVENT, {**spec.model_dump(), "details": Jsonb(spec.details)}))
        if spec.severity in PUBLISHED_SEVERITIES:
            try:
                self.stores.redis.publish(Channel.system_monitoring, row)
            except StoreError:
                pass
        return row

    def list_events(
        self,
        *,
        severity: str | None = None,
        event_type: str | None = None,
        source: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict]:
        """System events, newest first, filtered and paginated."""
        _check_page(limit, offset)
        return [
            jsonable(r)
            for r in self._all(
                LIST_EVENTS,
                {"severity": severity, "event_type": event_type, "source": source, "limit": limit, "offset": offset},
            )
        ]

    @takes(MetricIn)
    def record_metric(self, spec: MetricIn, /) -> dict:
        """A metric row in Postgres plus ``metrics:realtime:{type}:{source}`` (300 s) in Redis."""
        self._require_seen(agent_id=spec.agent_id)
        row = jsonable(self._one(INSERT_METRIC, {**spec.model_dump(), "metadata": Jsonb(spec.metadata)}))
        try:
            self.stores.redis.set_realtime_metric(spec.metric_type, spec.source, spec.value)
        except StoreError:
            pass
        return row

    def realtime_metric(self, metric_type: str, source: str) -> dict | None:
        return self.stores.redis.get_realtime_metric(metric_type, source)

    @takes(ImprovementIn)
    def log_improvement(self, spec: ImprovementIn, /) -> dict:
        self._require_seen(agent_id=spec.agent_id)
        return jsonable(
            self._one(
                INSERT_IMPROVEMENT,
                {**spec.model_dump(), "before_state": _json(spec.before_state), "after_state": _json(spec.after_state)},
            )
        )

    def approve_improvement(self, improvement_id: Any) -> dict:
        key = as_uuid(improvement_id, "improvement_id")
        return jsonable(self._one(APPROVE_IMPROVEMENT, (key,), missing=f"improvement {key} does not exist"))

    def apply_improvement(self, improvement_id: Any) -> dict:
        """Mark an approved improvement applied; an unapproved one is refused."""
        key = as_uuid(improvement_id, "improvement_id")
        row = self._one(APPLY_IMPROVEMENT, (key,))
        if row is None:
            raise NotFound(f"improvement {key} does not exist or is not approved")
        return jsonable(row)

    # -- messages between agents ----------------------------------------------------------------
    def send_message(self, from_agent: Any, to_agent: Any, message: dict) -> None:
        """``agent:comm:{from}:{to}`` (300 s), also published on ``inter_agent_communication``.
        A user-bound caller sends only from an agent its user owns, to an agent it can see."""
        if not isinstance(message, dict):
            raise InvalidInput("message", "must be an object")
        check_json(message, field="message")
        sender, recipient = str(as_uuid(from_agent, "from_agent")), str(as_uuid(to_agent, "to_agent"))
        if self._who().bound:
            try:
                self._require_own_agent(sender, field="from_agent")
            except NotFound:
                raise Forbidden("from_agent", "is not an agent of this key's user") from None
            self._require_visible_agent(recipient, field="to_agent")
        self.stores.redis.send_message(sender, recipient, message)

    def receive_messages(self, from_agent: Any, to_agent: Any, *, limit: int = 100) -> list[dict]:
        """Take *to_agent*'s messages from *from_agent*. The inbox is the recipient's: a
        user-bound caller reads only the inbox of an agent its user owns (NotFound otherwise)."""
        sender = str(as_uuid(from_agent, "from_agent"))
        recipient = self._require_own_agent(to_agent, field="to_agent")
        return self.stores.redis.receive_messages(sender, recipient, limit=limit)

    def subscribe(self, *channels: str, timeout: float = 1.0):
        """Yield live messages from the pub/sub channels (all four by default); None when idle."""
        return self.stores.redis.subscribe(*channels, timeout=timeout)

    # -- voice:buffer:{session} (60 s) -------------------------------------------------------
    def buffer_voice(self, session_id: str, chunk: bytes) -> int:
        """Append audio to the session's buffer; returns its size in bytes."""
        if not isinstance(chunk, (bytes, bytearray)) or not chunk:
            raise InvalidInput("chunk", "must be non-empty bytes")
        return self.stores.redis.append_voice(session_id, bytes(chunk))

    def take_voice(self, session_id: str) -> bytes:
        """The buffered audio, removed from the buffer."""
        return self.stores.redis.take_voice(session_id)

    def publish(self, channel: str, payload: dict) -> int:
        try:
            return self.stores.redis.publish(channel, payload)
        except ValueError as exc:
            raise InvalidInput("channel", str(exc)) from None
