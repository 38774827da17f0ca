"""One error tree for the whole platform, grouped by cause.

Lower-layer exceptions (psycopg, redis-py, the neo4j driver, chromadb, qdrant) are
translated into these at the store boundary, so callers never catch a driver's class.
"""

from __future__ import annotations


class JarvisError(Exception):
    """Root of every error JARVIS Memory raises on purpose."""


class ConfigurationError(JarvisError):
    """The settings are missing or contradictory."""


class StoreError(JarvisError):
    """Something went wrong talking to one of the five stores."""

    def __init__(self, store: str, message: str) -> None:
        self.store = store
        super().__init__(f"{store}: {message}")


class StoreUnavailable(StoreError):
    """The store does not answer (not started, stopped, or unreachable)."""


class StoreRefused(StoreError):
    """The store answered and refused the request (data it cannot take): retrying it unchanged
    will not help, unlike :class:`StoreUnavailable`."""


class StoreTimeout(StoreError):
    """The store did not answer in time."""


class StoreStartError(StoreError):
    """The local stack could not start a store; the message carries its log's tail."""


class MemoryLocked(ConfigurationError):
    """An encrypted memory value cannot be opened: no key is set, another key is, or it was altered."""


class MigrationError(JarvisError):
    """A schema migration could not be applied or was refused."""


class NotFound(JarvisError):
    """The requested entity does not exist."""


class InvalidInput(JarvisError):
    """Input failed validation; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.reason = field, message
        super().__init__(f"{field}: {message}")


class Forbidden(JarvisError):
    """The caller acts for one user and the request touches another user's data; ``field``
    names the input that points there."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class Conflict(JarvisError):
    """The write contradicts existing data (a duplicate name or port, a finished task)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class LeaseLost(JarvisError):
    """The worker's lease on a task expired and the task may be with another worker now."""


class ApiError(JarvisError):
    """An error answered by the memory API (see :mod:`jarvis.client`)."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, retry_after: float | None = None
    ) -> None:
        self.status, self.code, self.field, self.retry_after = status, code, field, retry_after
        super().__init__(f"{status} {code}: {message}")


class Unauthorized(ApiError):
    """No valid API key (401) or a key without the needed scope (403)."""


class RateLimited(ApiError):
    """Too many requests (429); ``retry_after`` says when to try again."""
