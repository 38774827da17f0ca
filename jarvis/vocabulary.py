"""Every closed vocabulary of the platform, once: the words a status, a type or a scope may be.

The request schemas (:mod:`jarvis.schemas`), the response shapes (:mod:`jarvis.shapes`), the
routes, the MCP tools, the client and the Cypher builders all take their words from here, and
the SQL constants pass them as parameters where a query names one. PostgreSQL's CHECK
constraints (``migrations/001_initial_schema.sql``, ``012``) hold the same lists; a unit test
(``tests/test_vocabulary.py``) fails if the two ever differ. Store names have their own enum,
``StoreName``, beside the stores (:mod:`jarvis.stores.base`).

Each is a :class:`~enum.StrEnum`, so a member *is* its word: it compares equal to the string,
travels to PostgreSQL, Redis and JSON as the string, and the validated input models keep plain
strings (``use_enum_values``), so nothing downstream sees an enum object it did not expect.
"""

from __future__ import annotations

from enum import StrEnum


class AgentStatus(StrEnum):
    """``agents.status``. ``terminated`` is reached only through ``DELETE /agents/{id}``."""

    active = "active"
    inactive = "inactive"
    error = "error"
    updating = "updating"
    terminated = "terminated"


#: The statuses an agent may report itself (register, heartbeat): not ``terminated``.
REPORTED_AGENT_STATUSES = tuple(s for s in AgentStatus if s is not AgentStatus.terminated)


class MemoryType(StrEnum):
    """An agent's memory, as in Letta: core (always relevant), recall, archival, working (scratch)."""

    core = "core"
    recall = "recall"
    archival = "archival"
    working = "working"


class SearchScope(StrEnum):
    """What ``search`` looks through; each maps to one table and (but memory) one projection."""

    knowledge = "knowledge"
    conversations = "conversations"
    code = "code"
    capabilities = "capabilities"
    task_patterns = "task_patterns"
    preferences = "preferences"
    memory = "memory"


#: The scopes a search looks through when it names none.
DEFAULT_SCOPES = (SearchScope.knowledge, SearchScope.conversations, SearchScope.code)


class SearchMode(StrEnum):
    """How a text scope ranks: both rankings fused, by meaning only, or by words only (BM25)."""

    hybrid = "hybrid"
    vector = "vector"
    keyword = "keyword"


class RelationshipType(StrEnum):
    """The graph's relationship types (``graph_edges.rel_type``, Neo4j relationship types).

    Cypher cannot take a relationship type as a parameter, so the builders format it into the
    query text: only a member of this enum ever gets there."""

    ASSIGNED_TO = "ASSIGNED_TO"
    REQUESTED_BY = "REQUESTED_BY"
    DEPENDS_ON = "DEPENDS_ON"
    PRODUCES = "PRODUCES"
    HAS_CAPABILITY = "HAS_CAPABILITY"
    USES_MODEL = "USES_MODEL"
    COLLABORATES_WITH = "COLLABORATES_WITH"
    LEARNED_FROM = "LEARNED_FROM"
    PREFERS = "PREFERS"
    INTERACTED_WITH = "INTERACTED_WITH"
    RELATED_TO = "RELATED_TO"
    GENERATED_BY = "GENERATED_BY"
    USED_IN = "USED_IN"
    SUPERSEDES = "SUPERSEDES"


class TaskStatus(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class TaskType(StrEnum):
    voice = "voice"
    chat = "chat"
    autonomous = "autonomous"
    scheduled = "scheduled"


class MessageRole(StrEnum):
    user = "user"
    assistant = "assistant"
    system = "system"


class MessageType(StrEnum):
    voice = "voice"
    text = "text"
    system = "system"


class Severity(StrEnum):
    """``system_events.severity``; warning and above are published on ``system_monitoring``."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


#: The severities published live (``system_monitoring``).
PUBLISHED_SEVERITIES = (Severity.warning, Severity.error, Severity.critical)


class ModelType(StrEnum):
    llm = "llm"
    embedding = "embedding"
    whisper = "whisper"
    tts = "tts"


class ModelStatus(StrEnum):
    available = "available"
    downloading = "downloading"
    error = "error"


class PreferenceType(StrEnum):
    agent = "agent"
    task = "task"
    interface = "interface"


class CollaborationType(StrEnum):
    sequential = "sequential"
    parallel = "parallel"
    hierarchical = "hierarchical"


class CollaborationStatus(StrEnum):
    active = "active"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class MetricType(StrEnum):
    latency = "latency"
    throughput = "throughput"
    accuracy = "accuracy"
    resource = "resource"


class ImprovementType(StrEnum):
    code_generation = "code_generation"
    optimization = "optimization"
    bug_fix = "bug_fix"


class ErasureSubject(StrEnum):
    """What an erasure receipt is about (``erasure_receipts.subject_type``)."""

    user = "user"
    agent = "agent"
    session = "session"
    preference = "preference"


class Channel(StrEnum):
    """The live pub/sub channels (Redis), streamed by ``/api/v1/live`` and fed to MCP change notices."""

    task_assignment = "task_assignment"
    status_update = "status_update"
    system_monitoring = "system_monitoring"
    inter_agent_communication = "inter_agent_communication"
