"""One search filter, rendered for whichever store answers: SQL, a Chroma ``where``, Qdrant conditions.

A search's restrictions (whose rows, which session or agent, when recorded, metadata
equality, which facts were valid at a time) are one :class:`SearchFilter`. Each scope says
which of them it has (:class:`Filterable`: its column and projection field names); the
filter renders itself into that scope's PostgreSQL clause, Chroma ``where`` or Qdrant
conditions from the same values, so a result does not depend on which store answered.
An owner restriction (a user-bound API key) is one more field of the same object: it
composes with the caller's own filters instead of replacing them.

Times are compared in the projections as float epoch seconds (Chroma's ``$gte``/``$lt`` and
Qdrant's ranges take numbers, not strings); :func:`epoch` is the one conversion both the
projections and the filters use, so a boundary falls on the same side everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any

from psycopg.types.json import Jsonb

from jarvis.errors import InvalidInput

#: Validity "until further notice" in the projections (they cannot hold a null to compare).
OPEN_END = 253402300799.0  # 9999-12-31T23:59:59Z
#: Projected metadata keys are prefixed so they never collide with the projection's own fields.
METADATA_PREFIX = "meta_"
MAX_METADATA_KEYS = 20


def epoch(value: datetime | None, *, default: float | None = None) -> float | None:
    """A time as float seconds since the epoch (naive times are UTC); *default* for None."""
    if value is None:
        return default
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


@dataclass(frozen=True, slots=True)
class Filterable:
    """What a scope can be filtered on. SQL names are columns of its table; projection names
    are fields of its Chroma metadata or Qdrant payload (None: the scope does not have it)."""

    user: str | None = None
    session: str | None = None
    agent: str | None = None
    created: bool = False  # created_at column; created_ts in the projection
    metadata: bool = False  # metadata JSONB column; meta_<key> scalars in the projection
    validity: bool = False  # valid_from/valid_to columns; valid_from_ts/valid_to_ts projected


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Restrictions on a search; every field None means "no restriction"."""

    user_id: str | None = None
    session_id: str | None = None
    agent_id: str | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    metadata: dict[str, Any] = field(default_factory=dict)
    as_of: datetime | None = None  # facts valid at this time (default: now)
    owner_id: str | None = None  # set by the API for a user-bound key, never by the caller

    def __post_init__(self) -> None:
        if len(self.metadata) > MAX_METADATA_KEYS:
            raise InvalidInput("metadata", f"may hold at most {MAX_METADATA_KEYS} keys")
        for key, value in self.metadata.items():
            if not isinstance(key, str) or not key or len(key) > 255:
                raise InvalidInput("metadata", "keys must be 1 to 255 characters")
            if value is None or not isinstance(value, (str, int, float, bool)):
                raise InvalidInput(f"metadata.{key}", "must be a string, number or boolean (equality only)")
        if self.created_after and self.created_before and epoch(self.created_after) >= epoch(self.created_before):
            raise InvalidInput("created_before", "must be later than created_after")

    def owned_by(self, user_id: str | None) -> "SearchFilter":
        """This filter, further restricted to *user_id*'s rows (None: unchanged)."""
        return self if user_id is None else replace(self, owner_id=user_id)

    def excludes(self, able: Filterable) -> bool:
        """True when this filter asks for something the scope's items do not have (a session,
        metadata): none of them can match."""
        return bool((self.session_id is not None and not able.session) or (self.metadata and not able.metadata))

    # -- PostgreSQL ---------------------------------------------------------------------------
    def sql(self, able: Filterable, *, now: datetime) -> tuple[str, dict[str, Any]]:
        """A WHERE clause built from fixed fragments (column names from *able*, never input) and
        its parameters, prefixed ``f_`` so they never collide with the query's own."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if able.user:
            for key in ("user_id", "owner_id"):
                if getattr(self, key) is not None:
                    clauses.append(f"{able.user} = %(f_{key})s")
                    params[f"f_{key}"] = getattr(self, key)
        if able.session and self.session_id is not None:
            clauses.append(f"{able.session} = %(f_session_id)s")
            params["f_session_id"] = self.session_id
        if able.agent and self.agent_id is not None:
            clauses.append(f"{able.agent} = %(f_agent_id)s::uuid")
            params["f_agent_id"] = self.agent_id
        if able.created and self.created_after is not None:
            clauses.append("created_at >= %(f_created_after)s")
            params["f_created_after"] = _aware(self.created_after)
        if able.created and self.created_before is not None:
            clauses.append("created_at < %(f_created_before)s")
            params["f_created_before"] = _aware(self.created_before)
        if able.metadata and self.metadata:
            clauses.append("metadata @> %(f_metadata)s")
            params["f_metadata"] = Jsonb(self.metadata)
        if able.validity:
            clauses.append("valid_from <= %(f_as_of)s AND (valid_to IS NULL OR valid_to > %(f_as_of)s)")
            params["f_as_of"] = _aware(self.as_of or now)
        return " AND ".join(clauses) or "TRUE", params

    # -- Chroma ---------------------------------------------------------------------------------
    def chroma_where(self, able: Filterable, *, now: datetime) -> dict | None:
        """The same restrictions as a Chroma ``where`` (None when there are none)."""
        terms: list[dict] = []
        if able.user:
            terms += [{able.user: value} for value in (self.user_id, self.owner_id) if value is not None]
        if able.session and self.session_id is not None:
            terms.append({able.session: self.session_id})
        if able.agent and self.agent_id is not None:
            terms.append({able.agent: self.agent_id})
        for bound in self._time_bounds(able):
            name, op, value = bound
            terms.append({name: {"$" + op: value}})
        if able.metadata:
            terms += [{METADATA_PREFIX + key: value} for key, value in self.metadata.items()]
        if able.validity:
            at = epoch(self.as_of or now)
            terms += [{"valid_from_ts": {"$lte": at}}, {"valid_to_ts": {"$gt": at}}]
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else {"$and": terms}

    # -- Qdrant -----------------------------------------------------------------------------------
    def qdrant_conditions(self, able: Filterable, *, now: datetime) -> list[tuple[str, str, Any]]:
        """The same restrictions as engine-neutral conditions: ``(field, "eq", value)`` or
        ``(field, "gte"|"lt"|"lte"|"gt", number)``; the Qdrant store turns them into its models."""
        conditions: list[tuple[str, str, Any]] = []
        if able.user:
            conditions += [(able.user, "eq", value) for value in (self.user_id, self.owner_id) if value is not None]
        if able.session and self.session_id is not None:
            conditions.append((able.session, "eq", self.session_id))
        if able.agent and self.agent_id is not None:
            conditions.append((able.agent, "eq", self.agent_id))
        conditions += self._time_bounds(able)
        if able.metadata:
            conditions += [(METADATA_PREFIX + key, "eq", value) for key, value in self.metadata.items()]
        if able.validity:
            at = epoch(self.as_of or now)
            conditions += [("valid_from_ts", "lte", at), ("valid_to_ts", "gt", at)]
        return conditions

    def _time_bounds(self, able: Filterable) -> list[tuple[str, str, float]]:
        if not able.created:
            return []
        bounds = []
        if self.created_after is not None:
            bounds.append(("created_ts", "gte", epoch(self.created_after)))
        if self.created_before is not None:
            bounds.append(("created_ts", "lt", epoch(self.created_before)))
        return bounds

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def metadata_fields(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """A row's metadata as projected for filtering: its scalar values under ``meta_<key>``."""
    return {
        METADATA_PREFIX + key: value
        for key, value in (metadata or {}).items()
        if isinstance(value, (str, int, float, bool)) and not isinstance(value, type(None))
    }
