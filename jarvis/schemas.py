"""Validated inputs: what callers may send, with limits. Shared by the facade and the API.

:func:`parse` turns pydantic's errors into :class:`InvalidInput` naming the field, so bad
input is refused before anything is written anywhere.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jarvis.audio_files import check_name as check_audio_name
from jarvis.embeddings import MAX_TEXT_CHARS
from jarvis.errors import InvalidInput
from jarvis.json_bounds import bounded
from jarvis.vocabulary import (
    DEFAULT_SCOPES,
    REPORTED_AGENT_STATUSES,
    AgentStatus,
    CollaborationType,
    ImprovementType,
    MemoryType,
    MessageRole,
    MessageType,
    MetricType,
    ModelType,
    PreferenceType,
    SearchMode,
    SearchScope,
    Severity,
    TaskType,
)

M = TypeVar("M", bound=BaseModel)

#: Ids chosen by callers (users, capability names) may not hold "|", the projections' separator.
Identifier = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^|\x00]+$")]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
Unit = Annotated[float, Field(ge=0, le=1)]
#: A task's priority, 10 highest (``tasks_priority_check``); 8-10, 4-7 and 1-3 are the three queues.
Priority = Annotated[int, Field(ge=1, le=10)]
#: Any JSON object a caller stores: at most 200 keys, nested and sized within :mod:`jarvis.json_bounds`.
JsonObject = Annotated[dict[str, Any], Field(max_length=200), AfterValidator(bounded)]
#: What an agent may report itself to be (register, heartbeat): every status but ``terminated``.
ReportedStatus = Literal[tuple(status.value for status in REPORTED_AGENT_STATUSES)]  # type: ignore[valid-type]


def is_flat_scalar(value: Any) -> bool:
    """What Chroma takes as a metadata value: null, a boolean, a finite number or a short string."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value) and abs(value) < 2**63
    return isinstance(value, str) and len(value) <= 1000


class Input(BaseModel):
    # use_enum_values (defaults included): a vocabulary field holds its plain word (see jarvis.vocabulary)
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, use_enum_values=True, validate_default=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail mid-write.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate *data* as *model*; the first problem becomes InvalidInput naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or model.__name__
        raise InvalidInput(field, error["msg"]) from None


def parse_each(model: type[M], items: list[Any], *, field: str, check: Callable[[M], None] | None = None) -> list[M]:
    """Every item of a batch validated as *model* (and by *check*) before anything is written;
    the first bad one becomes InvalidInput naming its index, e.g. ``items[3].content``."""
    specs = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"{field}[{index}]", "must be an object")
        try:
            spec = parse(model, item)
            if check is not None:
                check(spec)
        except InvalidInput as exc:
            raise InvalidInput(f"{field}[{index}].{exc.field}", exc.reason) from None
        specs.append(spec)
    return specs


R = TypeVar("R")


def takes(model: type[M]) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """A domain method whose input is one *model*: it is called with the parsed model (the HTTP
    layer and the MCP tools validated it already: it is not validated again) or, in process,
    with the model's fields as keyword arguments, parsed here once (InvalidInput naming the
    field). The method's other keyword-only options (``wait``) pass through either way.

        @takes(KnowledgeIn)
        def add_knowledge(self, spec: KnowledgeIn, /, *, wait: bool | None = None) -> Written: ...

        jarvis.add_knowledge(KnowledgeIn(topic="tea", content="..."), wait=False)
        jarvis.add_knowledge(topic="tea", content="...", wait=False)
    """

    def decorate(method: Callable[..., R]) -> Callable[..., R]:
        options = frozenset(
            name
            for name, parameter in inspect.signature(method).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        )

        @functools.wraps(method)
        def wrapper(self: Any, spec: M | None = None, /, **fields: Any) -> R:
            chosen = {name: fields.pop(name) for name in options & fields.keys()}
            if spec is None:
                spec = parse(model, fields)
            elif fields or not isinstance(spec, model):
                raise TypeError(f"{method.__name__}() takes a {model.__name__} or its fields as keywords, not both")
            return method(self, spec, **chosen)

        return wrapper

    return decorate


class CapabilityIn(Input):
    name: Identifier
    description: Text | None = None
    category: Name | None = None
    success_rate: Unit = 0.0
    avg_execution_time: int = Field(default=0, ge=0)


class AgentIn(Input):
    name: Name
    type: Name
    capabilities: list[CapabilityIn] = Field(default_factory=list, max_length=100)
    configuration: JsonObject = Field(default_factory=dict)
    resources: JsonObject = Field(default_factory=dict)
    port: int | None = Field(default=None, ge=1, le=65535)
    status: ReportedStatus = AgentStatus.active
    performance_score: Unit = 0.5
    owner_user_id: Identifier | None = None  # None: a shared agent (its memory is for service keys only)


class ModelIn(Input):
    name: Name
    type: ModelType
    provider: Name
    size_mb: int | None = Field(default=None, ge=0)
    parameters: JsonObject = Field(default_factory=dict)
    path: str | None = Field(default=None, max_length=4096)


class TaskIn(Input):
    name: Name
    type: TaskType
    description: Text | None = None
    priority: Priority = 5
    input_data: JsonObject | None = None
    parent_task_id: UUID | None = None
    depends_on: list[UUID] = Field(default_factory=list, max_length=100)
    requested_by: Identifier | None = None
    agent_id: UUID | None = None
    max_attempts: int = Field(default=3, ge=1, le=20)


class MessageIn(Input):
    session_id: Identifier
    role: MessageRole
    content: Text
    message_type: MessageType = MessageType.text
    user_id: Identifier | None = None
    agent_id: UUID | None = None
    task_id: UUID | None = None
    audio_file_path: str | None = Field(default=None, max_length=1024)  # a name inside JARVIS_AUDIO_DIR
    metadata: JsonObject = Field(default_factory=dict)
    created_at: datetime | None = None  # when it was said, for imports (default: now); never in the future

    @field_validator("created_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        if value > datetime.now(timezone.utc) + timedelta(minutes=5):
            raise ValueError("must not be in the future")
        return value

    @field_validator("audio_file_path")
    @classmethod
    def _audio_inside_the_audio_dir(cls, value: str | None) -> str | None:
        # Retention unlinks this file later: it may only ever name one inside the audio directory.
        return None if value is None else check_audio_name(value)

    @field_validator("metadata", mode="after")
    @classmethod
    def _projectable(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        # metadata.sentiment becomes a Chroma metadata value, which must be one flat scalar:
        # refused here, not by Chroma after the commit (where it would fail its whole batch).
        sentiment = metadata.get("sentiment")
        if not is_flat_scalar(sentiment):
            raise ValueError("sentiment must be a string, a number, a boolean or null (Chroma metadata is flat)")
        return metadata


class MemoryValue(Input):
    """What ``PUT /memory/{agent_id}/{memory_type}/{key}`` sends; the path names the rest."""

    value: Text
    importance: Unit = 0.5
    expires_at: datetime | None = None


class MemoryIn(MemoryValue):
    agent_id: UUID
    memory_type: MemoryType
    key: Name


class KnowledgeIn(Input):
    topic: Name
    content: Text
    source: Name | None = None
    category: Name | None = None
    confidence: Unit = 1.0
    agent_id: UUID | None = None
    valid_from: datetime | None = None  # when the fact starts to hold (default: now)
    valid_to: datetime | None = None  # when it stops (default: until superseded)
    supersedes: UUID | None = None  # a fact this one replaces: its validity ends at valid_from

    @model_validator(mode="after")
    def _validity(self) -> "KnowledgeIn":
        for name in ("valid_from", "valid_to"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                setattr(self, name, value.replace(tzinfo=timezone.utc))
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise InvalidInput("valid_to", "must be later than valid_from")
        return self


class CodeSnippetIn(Input):
    content: Text
    language: Annotated[str, Field(min_length=1, max_length=50)]
    purpose: Text | None = None
    agent_id: UUID | None = None
    performance_score: Unit | None = None
    tested: bool = False


class TaskPatternIn(Input):
    pattern_type: Name
    description: Text
    task_sequence: list[Name] = Field(default_factory=list, max_length=100)
    success_rate: Unit = 0.0
    optimal_agents: list[Name] = Field(default_factory=list, max_length=100)


class UserBody(Input):
    """What ``PUT /users/{user_id}`` sends; the path names the user."""

    name: Name | None = None
    preferences: JsonObject = Field(default_factory=dict)


class UserIn(UserBody):
    id: Identifier


class PreferenceBody(Input):
    """What ``POST /users/{user_id}/preferences`` sends; the path names the user."""

    preference_type: PreferenceType
    description: Text
    value: JsonObject = Field(default_factory=dict)
    confidence: Unit = 0.5


class UserPreferenceIn(PreferenceBody):
    user_id: Identifier


class CollaborationIn(Input):
    coordinator_agent_id: UUID
    participant_agent_ids: list[UUID] = Field(min_length=1, max_length=50)
    collaboration_type: CollaborationType
    workflow: JsonObject
    task_id: UUID | None = None


class EventIn(Input):
    event_type: Name
    source: Name
    message: Text
    severity: Severity = Severity.info
    agent_id: UUID | None = None
    task_id: UUID | None = None
    details: JsonObject = Field(default_factory=dict)


class MetricIn(Input):
    metric_type: MetricType
    source: Name
    value: float = Field(ge=-999_999.9999, le=999_999.9999, allow_inf_nan=False)
    unit: Annotated[str, Field(max_length=50)] | None = None
    agent_id: UUID | None = None
    metadata: JsonObject = Field(default_factory=dict)


class ImprovementIn(Input):
    improvement_type: ImprovementType
    target: Name
    description: Text | None = None
    before_state: JsonObject | None = None
    after_state: JsonObject | None = None
    performance_gain: float | None = Field(default=None, ge=-999.99, le=999.99)
    agent_id: UUID | None = None


class SearchIn(Input):
    query: Text | None = None
    vector: list[float] | None = None  # instead of query: an embedding of our model (384-d)
    scopes: list[SearchScope] = Field(default_factory=lambda: list(DEFAULT_SCOPES), min_length=1)
    limit: int = Field(default=10, ge=1, le=100)
    mode: SearchMode = SearchMode.hybrid  # text scopes: both rankings fused, or one
    agent_id: UUID | None = None  # required for the "memory" scope; restricts the scopes that have agents
    user_id: Identifier | None = None  # restricts conversations and preferences to one user
    session_id: Identifier | None = None  # conversations of one session
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    metadata: dict[str, str | int | float | bool] | None = Field(default=None, max_length=20)  # equality
    as_of: datetime | None = None  # knowledge valid at this time (default: now)

    @model_validator(mode="after")
    def _query_or_vector(self) -> "SearchIn":
        if (self.query is None) == (self.vector is None):
            raise ValueError("give either query or vector")
        return self
